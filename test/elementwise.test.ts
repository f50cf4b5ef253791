import * as ns from '../lib';
import * as ref from './reference';
import { Arr } from './reference';
import { FLOAT_DTYPES, TOL, checkForward, describeErrors, disposed, expectClose, fromTensor, rand, toTensor, withThreads } from './helpers';
import { gradcheck } from './gradcheck';

type Binary = (a: ns.TensorLike, b: ns.TensorLike) => ns.Tensor;

// Each binary op with the data ranges where it is smooth and defined.
const BINARY: [string, Binary, (x: number, y: number) => number, { a?: [number, number]; b?: [number, number] }][] = [
  ['add', ns.add, (x, y) => x + y, {}],
  ['sub', ns.sub, (x, y) => x - y, {}],
  ['mul', ns.mul, (x, y) => x * y, {}],
  ['div', ns.div, (x, y) => x / y, { b: [0.5, 2] }],
  ['pow', ns.pow, (x, y) => x ** y, { a: [0.5, 2], b: [-2, 2] }],
  ['maximum', ns.maximum, Math.max, {}],
  ['minimum', ns.minimum, Math.min, {}],
];

// Shape pairs covering equal shapes, trailing and leading broadcasting on either side, and 0-D.
const SHAPES: [number[], number[]][] = [
  [[2, 3], [2, 3]],
  [[2, 3], [3]],
  [[4, 1, 3], [2, 1]],
  [[1], [2, 3]],
  [[], [2, 2]],
];

const data = (shape: number[], seed: number, range?: [number, number]): Arr =>
  rand(shape, seed, range ? { lo: range[0], hi: range[1] } : {});

describe('binary ops: forward with broadcasting', () => {
  for (const [name, op, f, ranges] of BINARY) {
    for (const dtype of FLOAT_DTYPES) {
      test.each(SHAPES)(`${name} ${dtype} %j with %j`, (sa, sb) => {
        const a = data(sa, 1, ranges.a), b = data(sb, 2, ranges.b);
        checkForward(dtype, [a, b], op, (x, y) => ref.zip(x, y, f));
      });
    }
    test(`${name} with a number on either side`, () => {
      const a = data([3, 2], 3, ranges.a);
      const n = ranges.b ? 1.5 : -0.75;
      for (const dtype of FLOAT_DTYPES) {
        checkForward(dtype, [a], (x) => op(x, n), (x) => ref.map(x, (v) => f(v, n)));
        const m = ranges.a ? 1.25 : 0.5;
        const b = data([3, 2], 4, ranges.b);
        checkForward(dtype, [b], (y) => op(m, y), (y) => ref.map(y, (v) => f(m, v)));
      }
    });
  }

  test('maximum and minimum propagate NaN', () => {
    const a = ns.tensor([NaN, 1, 2]), b = ns.tensor([0, NaN, 3]);
    expect(Array.from(ns.maximum(a, b).dataSync())).toEqual([NaN, NaN, 3]);
    expect(Array.from(ns.minimum(a, b).dataSync())).toEqual([NaN, NaN, 2]);
  });

  test('dtype promotion: int32 < float32 < float64; a number takes the tensor dtype', () => {
    const i = ns.tensor(Int32Array.from([1, 2, 3])), f = ns.tensor([0.5, 0.5, 0.5]);
    const d = ns.tensor(Float64Array.from([0.25, 0.25, 0.25]));
    expect(ns.add(i, f).dtype).toBe('float32');
    expect(Array.from(ns.add(i, f).dataSync())).toEqual([1.5, 2.5, 3.5]);
    expect(ns.mul(f, d).dtype).toBe('float64');
    expect(Array.from(ns.mul(f, d).dataSync())).toEqual([0.125, 0.125, 0.125]);
    expect(ns.add(i, 2).dtype).toBe('int32');
    expect(Array.from(ns.add(i, 2).dataSync())).toEqual([3, 4, 5]);
    expect(ns.add(i, 0.5).dtype).toBe('float32');
    expect(Array.from(ns.sub(10, i).dataSync())).toEqual([9, 8, 7]);
    expect(Array.from(ns.maximum(i, 2).dataSync())).toEqual([2, 2, 3]);
  });
});

// Past the size where the kernels split rows across threads (each thread starts mid-tensor).
describe('large broadcasting and unary ops, one and several threads', () => {
  const a = rand([64, 33, 40], 17, { lo: 0.5, hi: 2 }), b = rand([33, 1], 18, { lo: 0.5, hi: 2 }), c = rand([40], 19);
  // The references are computed once for both dtypes and thread counts.
  const memo = new Map<string, Arr>();
  const once = (key: string, f: () => Arr) => (): Arr => memo.get(key) ?? memo.set(key, f()).get(key)!;
  test.each([1, 5])('%d thread(s)', (threads) => withThreads(threads, () => {
    for (const dtype of FLOAT_DTYPES) {
      for (const [name, op, f] of BINARY) {
        checkForward(dtype, [a, b], op, once(`${name} ab`, () => ref.zip(a, b, f)));
        checkForward(dtype, [c, a], op, once(`${name} ca`, () => ref.zip(c, a, f)));
      }
      checkForward(dtype, [a, c], ns.lt, (x, y) => ref.zip(x, y, (u, v) => (u < v ? 1 : 0)));
      checkForward(dtype, [a], ns.exp, (x) => ref.map(x, Math.exp));
      checkForward(dtype, [a], (x) => ns.pow(x, 1.5), (x) => ref.map(x, (v) => v ** 1.5));
    }
  }));
});

describe('comparisons', () => {
  // Values on a coarse grid so that equal pairs occur.
  const grid = (shape: number[], seed: number): Arr => ref.map(rand(shape, seed, { lo: -2, hi: 2 }), (v) => Math.round(v));
  const CMP: [string, Binary, (x: number, y: number) => boolean][] = [
    ['eq', ns.eq, (x, y) => x === y], ['ne', ns.ne, (x, y) => x !== y], ['lt', ns.lt, (x, y) => x < y],
    ['le', ns.le, (x, y) => x <= y], ['gt', ns.gt, (x, y) => x > y], ['ge', ns.ge, (x, y) => x >= y],
  ];
  for (const [name, op, f] of CMP) {
    test(`${name} in every dtype, with broadcasting and numbers`, () => {
      const a = grid([3, 4], 5), b = grid([4], 6);
      const expected = ref.zip(a, b, (x, y) => (f(x, y) ? 1 : 0));
      expect(expected.data.some((v) => v === 1) && expected.data.some((v) => v === 0)).toBe(true);
      for (const dtype of ['float32', 'float64', 'int32'] as const) {
        const out = op(toTensor(a, dtype), toTensor(b, dtype));
        expect(out.dtype).toBe(dtype);
        expectClose(out, expected, TOL.float64);
        expectClose(op(toTensor(a, dtype), 1), ref.map(a, (x) => (f(x, 1) ? 1 : 0)), TOL.float64);
      }
    });
  }
});

// Unary ops with their reference and the range where they are smooth.
const UNARY: [string, (x: ns.Tensor) => ns.Tensor, (x: number) => number, { lo?: number; hi?: number; awayFromZero?: number }][] = [
  ['neg', ns.neg, (x) => -x, {}],
  ['exp', ns.exp, Math.exp, { lo: -3, hi: 3 }],
  ['log', ns.log, Math.log, { lo: 0.1, hi: 4 }],
  ['sqrt', ns.sqrt, Math.sqrt, { lo: 0.1, hi: 4 }],
  ['tanh', ns.tanh, Math.tanh, { lo: -3, hi: 3 }],
  ['sigmoid', ns.sigmoid, ref.sigmoid, { lo: -6, hi: 6 }],
  ['relu', ns.relu, (x) => Math.max(x, 0), { awayFromZero: 0.05 }],
  ['abs', ns.abs, Math.abs, { awayFromZero: 0.05 }],
  ['square', ns.square, (x) => x * x, {}],
  ['pow 3', (x) => ns.pow(x, 3), (x) => x ** 3, {}],
  ['pow 0.5', (x) => ns.pow(x, 0.5), Math.sqrt, { lo: 0.1, hi: 4 }],
  ['pow -1.5', (x) => ns.pow(x, -1.5), (x) => x ** -1.5, { lo: 0.2, hi: 3 }],
  ['pow -1', (x) => ns.pow(x, -1), (x) => 1 / x, { lo: 0.2, hi: 3 }],
  ['pow 2', (x) => ns.pow(x, 2), (x) => x * x, {}],
  ['pow 0', (x) => ns.pow(x, 0), () => 1, {}],
  ['clone', ns.clone, (x) => x, {}],
];

describe('unary ops: forward', () => {
  for (const [name, op, f, range] of UNARY) {
    test.each(FLOAT_DTYPES)(`${name} %s`, (dtype) => {
      checkForward(dtype, [rand([3, 5], 7, range)], op, (x) => ref.map(x, f));
    });
  }

  test('sigmoid and exp stay finite and exact at the extremes', () => {
    const x = ns.tensor(Float64Array.from([-800, -40, 0, 40, 800]));
    expectClose(ns.sigmoid(x), ref.arr([5], [0, ref.sigmoid(-40), 0.5, ref.sigmoid(40), 1]), TOL.float64);
    expectClose(ns.exp(x), ref.arr([5], [0, Math.exp(-40), 1, Math.exp(40), Infinity]), TOL.float64);
  });

  test('cast converts between dtypes (float → int32 truncates toward zero)', () => {
    const x = ns.tensor([1.75, -1.75, 3]);
    const i = ns.cast(x, 'int32');
    expect(i.dtype).toBe('int32');
    expect(Array.from(i.dataSync())).toEqual([1, -1, 3]);
    expect(ns.cast(i, 'float64').dtype).toBe('float64');
    expect(Array.from(ns.cast(x, 'float64').dataSync())).toEqual([1.75, -1.75, 3]);
    expect(ns.cast(x, 'float32')).toBe(x);
  });

  test('neg of an int32 tensor stays int32', () => {
    const out = ns.neg(ns.tensor(Int32Array.from([1, -2])));
    expect(out.dtype).toBe('int32');
    expect(Array.from(out.dataSync())).toEqual([-1, 2]);
  });

  test('clone copies: the copy does not share storage', () => {
    const x = ns.tensor([1, 2]);
    const y = ns.clone(x);
    x.dispose();
    expect(Array.from(y.dataSync())).toEqual([1, 2]);
  });
});

describe('elementwise gradients (float64 finite differences)', () => {
  for (const [name, op, , ranges] of BINARY) {
    test(`${name} with broadcasting on both sides`, () => {
      gradcheck(op, [data([2, 1, 3], 11, ranges.a), data([4, 1], 12, ranges.b)]);
      gradcheck(op, [data([3], 13, ranges.a), data([2, 3], 14, ranges.b)]);
    });
  }
  test('binary ops with a number operand', () => {
    const x = rand([2, 3], 15, { lo: 0.5, hi: 2 });
    gradcheck((t) => ns.add(t, 2), [x]);
    gradcheck((t) => ns.sub(3, t), [x]);
    gradcheck((t) => ns.mul(t, -1.5), [x]);
    gradcheck((t) => ns.div(1, t), [x]);
    gradcheck((t) => ns.pow(2, t), [x]);
    gradcheck((t) => ns.maximum(t, 1), [x]);
    gradcheck((t) => ns.minimum(1, t), [x]);
  });
  for (const [name, op, , range] of UNARY) {
    test(name, () => gradcheck(op, [rand([2, 3], 16, range)]));
  }
  test('cast between float dtypes passes the gradient through, cast back', () => {
    const x = ns.tensor([1, 2, 3], [3], { requiresGrad: true });
    const g = ns.tensor(Float64Array.from([0.5, -1, 2]));
    ns.cast(x, 'float64').backward(g);
    expect(x.grad!.dtype).toBe('float32');
    expect(Array.from(x.grad!.dataSync())).toEqual([0.5, -1, 2]);
  });
  test('maximum and minimum split the gradient evenly on ties', () => {
    const a = ns.tensor([1, 2, 3], [3], { requiresGrad: true }), b = ns.tensor([1, 5, 0], [3], { requiresGrad: true });
    ns.sum(ns.maximum(a, b)).backward();
    expect(Array.from(a.grad!.dataSync())).toEqual([0.5, 0, 1]);
    expect(Array.from(b.grad!.dataSync())).toEqual([0.5, 1, 0]);
    a.grad = null;
    b.grad = null;
    ns.sum(ns.minimum(a, b)).backward();
    expect(Array.from(a.grad!.dataSync())).toEqual([0.5, 1, 0]);
    expect(Array.from(b.grad!.dataSync())).toEqual([0.5, 0, 1]);
  });
  test('relu and abs have gradient 0 at 0', () => {
    const x = ns.tensor([0, 0], [2], { requiresGrad: true });
    ns.sum(ns.add(ns.relu(x), ns.abs(x))).backward();
    expect(Array.from(x.grad!.dataSync())).toEqual([0, 0]);
  });
});

describe('elementwise ops check their arguments', () => {
  const x = ns.ones([2, 3]);
  const i32 = ns.tensor(Int32Array.from([1, 2]));
  const binaryCases = BINARY.flatMap(([name, op]): [string, () => unknown, typeof Error, RegExp][] => [
    [`${name}: non-tensor operand`, () => op(x, 'a' as never), TypeError, new RegExp(`^${name}: expected b to be a Tensor but got string$`)],
    [`${name}: null operand`, () => op(null as never, x), TypeError, new RegExp(`^${name}: expected a to be a Tensor but got null$`)],
    [`${name}: two numbers`, () => op(1, 2), TypeError, new RegExp(`^${name}: expected at least one Tensor operand but got two numbers$`)],
    [`${name}: shapes that do not broadcast`, () => op(x, ns.ones([4])), RangeError,
      new RegExp(`^${name}: expected shapes that broadcast but got \\[2, 3\\] and \\[4\\] \\(dimension 1: 3 vs 4\\)$`)],
    [`${name}: disposed operand`, () => op(x, disposed([3])), Error, new RegExp(`^${name}: b \\(shape \\[3\\]\\) is disposed$`)],
  ]);
  describeErrors('binary', [
    ...binaryCases,
    ['div of int32 tensors', () => ns.div(i32, i32), TypeError, 'div: expected float32 or float64 operands but got int32 (cast them first)'],
    ['pow of int32 tensors', () => ns.pow(i32, i32), TypeError, 'pow: expected float32 or float64 operands but got int32 (cast them first)'],
    ['pow with a NaN exponent', () => ns.pow(x, NaN), RangeError, 'pow: expected exponent to be a finite number but got NaN'],
    ['pow with an infinite exponent', () => ns.pow(x, Infinity), RangeError, 'pow: expected exponent to be a finite number but got Infinity'],
    ['eq: non-tensor', () => ns.eq({} as never, x), TypeError, 'eq: expected a to be a Tensor but got an object (Object)'],
    ['ge: shapes', () => ns.ge(x, ns.ones([2])), RangeError, /^ge: expected shapes that broadcast but got \[2, 3\] and \[2\]/],
  ]);
  describeErrors('unary', [
    ...UNARY.flatMap(([name, op]): [string, () => unknown, typeof Error, RegExp][] => {
      const opName = name.split(' ')[0];
      return [
        [`${name}: non-tensor`, () => op([1, 2] as never), TypeError, new RegExp(`^${opName}: expected (x|a) to be a Tensor but got an array$`)],
        [`${name}: disposed`, () => op(disposed([2])), Error, new RegExp(`^${opName}: x \\(shape \\[2\\]\\) is disposed$`)],
      ];
    }),
    ...['exp', 'log', 'sqrt', 'tanh', 'sigmoid', 'relu', 'abs', 'square'].map((name): [string, () => unknown, typeof Error, string] =>
      [`${name}: int32`, () => (ns as unknown as Record<string, (t: ns.Tensor) => ns.Tensor>)[name](i32), TypeError,
        `${name}: expected x to be float32 or float64 but got int32`]),
    ['pow number exponent on int32', () => ns.pow(i32, 2), TypeError, 'pow: expected x to be float32 or float64 but got int32'],
    ['cast to an unknown dtype', () => ns.cast(x, 'int8' as never), TypeError, 'cast: expected dtype float32, float64 or int32 but got int8'],
    ['cast to an inherited property name', () => ns.cast(x, 'toString' as never), TypeError,
      'cast: expected dtype float32, float64 or int32 but got toString'],
    ['cast of a non-tensor', () => ns.cast(3 as never, 'float32'), TypeError, 'cast: expected t to be a Tensor but got the number 3'],
  ]);
});

test('elementwise results do not alias their inputs', () => {
  const a = ns.tensor([1, 2]);
  const b = ns.add(a, 0);
  a.dispose();
  expect(fromTensor(b).data).toEqual(Float64Array.from([1, 2]));
});

import * as ns from '../lib';
import * as ref from './reference';
import { FLOAT_DTYPES, TOL, checkForward, describeErrors, disposed, expectClose, rand, toTensor, withThreads } from './helpers';
import { gradcheck } from './gradcheck';

const REDUCTIONS: [ref.ReduceKind, (x: ns.Tensor, axes?: ns.Axes, keepDims?: boolean) => ns.Tensor][] = [
  ['sum', ns.sum], ['mean', ns.mean], ['max', ns.max], ['min', ns.min],
];
// All axes, one (positive and negative), several adjacent and non-adjacent, none.
const AXES: (number | number[] | undefined)[] = [undefined, 0, -1, 1, [0, 2], [1, 2], [0, 1, 2], []];

describe('reductions: forward', () => {
  const x = rand([3, 4, 5], 21, { lo: -2, hi: 2 });
  for (const [name, op] of REDUCTIONS) {
    for (const dtype of FLOAT_DTYPES) {
      test.each(AXES.flatMap((a) => [[a, false], [a, true]]))(`${name} ${dtype} axes %j keepDims %s`, (axes, keepDims) => {
        checkForward(dtype, [x], (t) => op(t, axes as ns.Axes, keepDims as boolean),
          (a) => ref.reduce(a, name, axes as number[], keepDims as boolean));
      });
    }
  }

  test('a 0-D tensor reduces to itself', () => {
    for (const [, op] of REDUCTIONS) expect(op(ns.tensor(2.5)).item()).toBe(2.5);
  });

  test('int32 sum, max and min stay int32 and exact', () => {
    const v = Int32Array.from([7, -3, 2 ** 30, 5, 2 ** 30, -8]);
    const t = ns.tensor(v, [2, 3]);
    expect(ns.sum(t, 1).dtype).toBe('int32');
    expect(Array.from(ns.sum(t, 1).dataSync())).toEqual([7 - 3 + 2 ** 30, 5 + 2 ** 30 - 8]);
    expect(Array.from(ns.max(t, 0).dataSync())).toEqual([7, 2 ** 30, 2 ** 30]);
    expect(Array.from(ns.min(t).dataSync())).toEqual([-8]);
  });

  test('sum of a long float32 row is accurate', () => {
    const n = 100003;
    const t = ns.full([n], 0.1);
    expect(Math.abs(ns.sum(t).item() - n * Math.fround(0.1))).toBeLessThan(1e-3);
  });

  test('over an empty axis, sum is 0 and mean is NaN', () => {
    expect(Array.from(ns.sum(ns.zeros([2, 0]), 1).dataSync())).toEqual([0, 0]);
    expect(Array.from(ns.mean(ns.zeros([2, 0]), 1).dataSync())).toEqual([NaN, NaN]);
    expect(ns.mean(ns.zeros([0], { dtype: 'float64' })).item()).toBeNaN();
    expect(ns.crossEntropy(ns.zeros([0, 3]), ns.tensor(new Int32Array(0))).item()).toBeNaN();
  });

  test.each([[0, false], [1, false], [-1, true], [2, true]])('argmax axis %d keepDims %s', (axis, keepDims) => {
    // Coarse values so that ties occur: the first maximum wins.
    const a = ref.map(rand([3, 4, 5], 22, { lo: 0, hi: 3 }), Math.floor);
    for (const dtype of ['float32', 'float64', 'int32'] as const) {
      const out = ns.argmax(toTensor(a, dtype), axis, keepDims);
      expect(out.dtype).toBe('int32');
      expectClose(out, ref.argmax(a, axis, keepDims), TOL.float64);
    }
  });
});

describe('shape ops: forward', () => {
  const x = rand([2, 3, 4], 23);
  test.each(FLOAT_DTYPES)('reshape, flatten, squeeze, unsqueeze keep the elements (%s)', (dtype) => {
    const t = toTensor(x, dtype);
    const same = (out: ns.Tensor, shape: number[]): void => expectClose(out, { shape, data: x.data }, TOL.float64);
    same(ns.reshape(t, [4, -1]), [4, 6]);
    same(ns.reshape(t, [24]), [24]);
    same(ns.flatten(t), [2, 12]);
    same(ns.flatten(t, 0, 1), [6, 4]);
    same(ns.unsqueeze(t, 1), [2, 1, 3, 4]);
    same(ns.unsqueeze(t, -1), [2, 3, 4, 1]);
    same(ns.squeeze(ns.reshape(t, [1, 2, 1, 12])), [2, 12]);
    same(ns.squeeze(ns.reshape(t, [1, 2, 1, 12]), 2), [1, 2, 12]);
  });

  test('reshape is a view: it shares storage and bytes', () => {
    const t = ns.tensor([1, 2, 3, 4]);
    const before = ns.memory();
    const r = ns.reshape(t, [2, 2]);
    expect(ns.memory().numTensors).toBe(before.numTensors + 1);
    expect(ns.memory().numBytes).toBe(before.numBytes);
    t.dispose();
    expect(r.toArray()).toEqual([[1, 2], [3, 4]]);
  });

  for (const dtype of FLOAT_DTYPES) {
    test.each([[[2, 0, 1]], [[0, 2, 1]], [[1, 0, 2]], [[0, 1, 2]], [[-1, 0, 1]]])(`permute ${dtype} %j`, (dims) => {
      checkForward(dtype, [x], (t) => ns.permute(t, dims), (a) => ref.permute(a, dims.map((d) => (d + 3) % 3)));
    });
    test(`transpose ${dtype}`, () => {
      checkForward(dtype, [x], (t) => ns.transpose(t), (a) => ref.permute(a, [0, 2, 1]));
      checkForward(dtype, [x], (t) => ns.transpose(t, 0, 2), (a) => ref.permute(a, [2, 1, 0]));
    });
    test.each([
      [[1, 1, 0], [1, 2, 3], [1, 1, 0], [1, 2, 3]],
      [[0, -2, 1], [-1, 2, -1], [0, 1, 1], [2, 2, 3]],
      [[1], undefined, [1, 0, 0], [1, 3, 4]],
      [[0, 3, 0], [2, 0, 4], [0, 3, 0], [2, 0, 4]],
    ])(`slice ${dtype} begin %j size %j`, (begin, sizes, refBegin, refSize) => {
      checkForward(dtype, [x], (t) => ns.slice(t, begin, sizes), (a) => ref.slice(a, refBegin, refSize));
    });
    test(`concat and stack ${dtype}`, () => {
      const parts = [rand([2, 1, 4], 24), rand([2, 3, 4], 25), rand([2, 2, 4], 26)];
      checkForward(dtype, parts, (...ts) => ns.concat(ts, 1), (...as) => ref.concat(as, 1));
      const rows = [rand([1, 3, 4], 27), x, rand([3, 3, 4], 28)];
      checkForward(dtype, rows, (...ts) => ns.concat(ts), (...as) => ref.concat(as, 0));
      const lasts = [rand([2, 3, 2], 29), x];
      checkForward(dtype, lasts, (...ts) => ns.concat(ts, -1), (...as) => ref.concat(as, 2));
      const same = [x, rand([2, 3, 4], 30), rand([2, 3, 4], 31)];
      for (const axis of [0, 1, 3, -1]) {
        checkForward(dtype, same, (...ts) => ns.stack(ts, axis), (...as) => ref.stack(as, (axis + 4) % 4));
      }
    });
    test.each([[[3, 1], [2, 3, 4]], [[1], [5]], [[4], [2, 3, 4]], [[2, 1, 4], [2, 3, 4]], [[2, 3], [2, 3]]])(
      `broadcastTo ${dtype} %j to %j`, (from, to) => {
        checkForward(dtype, [rand(from, 32)], (t) => ns.broadcastTo(t, to), (a) => ref.broadcastTo(a, to));
      });
  }

  test('shape ops work on int32', () => {
    const t = ns.tensor(Int32Array.from([1, 2, 3, 4, 5, 6]), [2, 3]);
    expect(ns.transpose(t).toArray()).toEqual([[1, 4], [2, 5], [3, 6]]);
    expect(ns.slice(t, [0, 1], [2, 1]).toArray()).toEqual([[2], [5]]);
    expect(ns.concat([t, t], 0).dtype).toBe('int32');
  });
});

// Past the size where the kernels split rows across threads (each thread starts mid-tensor).
describe('large reductions, copies and softmax, one and several threads', () => {
  const a = rand([64, 33, 40], 42, { lo: -2, hi: 2 });
  // The references are computed once for both dtypes and thread counts.
  const memo = new Map<string, ref.Arr>();
  const once = (key: string, f: () => ref.Arr) => (): ref.Arr => memo.get(key) ?? memo.set(key, f()).get(key)!;
  test.each([1, 5])('%d thread(s)', (threads) => withThreads(threads, () => {
    for (const dtype of FLOAT_DTYPES) {
      const tol = { rtol: 1e-5, atol: dtype === 'float32' ? 1e-4 : 1e-11 };
      for (const [name, op] of REDUCTIONS) {
        for (const axes of [0, 1, 2, [0, 2]]) {
          checkForward(dtype, [a], (t) => op(t, axes), once(`${name} ${axes}`, () => ref.reduce(a, name, axes)), tol);
        }
      }
      expectClose(ns.argmax(toTensor(a, dtype), 1), ref.argmax(a, 1), TOL.float64);
      checkForward(dtype, [a], (t) => ns.permute(t, [2, 0, 1]), (x) => ref.permute(x, [2, 0, 1]), TOL.float64);
      checkForward(dtype, [a], (t) => ns.slice(t, [3, 1, 2], [60, 30, 35]), (x) => ref.slice(x, [3, 1, 2], [60, 30, 35]), TOL.float64);
      checkForward(dtype, [a, a], (s, t) => ns.concat([s, t], 2), (x, y) => ref.concat([x, y], 2), TOL.float64);
      checkForward(dtype, [rand([33, 1], 43)], (t) => ns.broadcastTo(t, [64, 33, 40]), (x) => ref.broadcastTo(x, [64, 33, 40]), TOL.float64);
      checkForward(dtype, [a], (t) => ns.softmax(t, 1), (x) => ref.softmax(x, 1));
      checkForward(dtype, [a], (t) => ns.logSoftmax(t, 2), (x) => ref.softmax(x, 2, true));
    }
  }));
});

describe('reduction and shape gradients (float64 finite differences)', () => {
  const x = rand([3, 4, 5], 33, { lo: -2, hi: 2 });
  for (const [name, op] of REDUCTIONS) {
    test(name, () => {
      for (const [axes, keepDims] of [[undefined, false], [1, false], [-1, true], [[0, 2], false], [[0, 1], true]] as const) {
        gradcheck((t) => op(t, axes as ns.Axes, keepDims), [x]);
      }
    });
  }
  test('max and min share the gradient among ties', () => {
    const t = ns.tensor([[1, 3, 3], [2, 0, 0]], undefined, { requiresGrad: true });
    ns.sum(ns.max(t, 1)).backward();
    expect(t.grad!.toArray()).toEqual([[0, 0.5, 0.5], [1, 0, 0]]);
    t.grad = null;
    ns.sum(ns.min(t, 1)).backward();
    expect(t.grad!.toArray()).toEqual([[1, 0, 0], [0, 0.5, 0.5]]);
  });
  const y = rand([2, 3, 4], 34);
  test('reshape, flatten, squeeze, unsqueeze', () => {
    gradcheck((t) => ns.reshape(t, [4, -1]), [y]);
    gradcheck((t) => ns.flatten(t), [y]);
    gradcheck((t) => ns.squeeze(ns.unsqueeze(t, 1), 1), [y]);
    gradcheck((t) => ns.squeeze(t), [rand([1, 3, 1], 35)]);
  });
  test('permute and transpose', () => {
    gradcheck((t) => ns.permute(t, [2, 0, 1]), [y]);
    gradcheck((t) => ns.transpose(t, 0, 2), [y]);
  });
  test('slice', () => {
    gradcheck((t) => ns.slice(t, [1, 1, 0], [1, 2, 3]), [y]);
    gradcheck((t) => ns.slice(t, [0, -2]), [y]);
  });
  test('concat and stack (every input)', () => {
    gradcheck((a, b, c) => ns.concat([a, b, c], 1), [rand([2, 1, 4], 36), y, rand([2, 2, 4], 37)]);
    gradcheck((a, b) => ns.stack([a, b], 2), [y, rand([2, 3, 4], 38)]);
    // Only the inputs that require grad get one.
    gradcheck((a, b) => ns.concat([a, b], 0), [y, rand([1, 3, 4], 39)], { wrt: [false, true] });
  });
  test('broadcastTo', () => {
    gradcheck((t) => ns.broadcastTo(t, [2, 3, 4]), [rand([3, 1], 40)]);
    gradcheck((t) => ns.broadcastTo(t, [5, 2]), [rand([1], 41)]);
  });
});

describe('reductions and shape ops check their arguments', () => {
  const x = ns.ones([2, 3]);
  describeErrors('reductions', [
    ...REDUCTIONS.flatMap(([name, op]): [string, () => unknown, typeof Error, string][] => [
      [`${name}: axis out of range`, () => op(x, 2), RangeError, `${name}: expected an axis in [-2, 1] but got 2`],
      [`${name}: fractional axis`, () => op(x, 0.5), RangeError, `${name}: expected an axis in [-2, 1] but got 0.5`],
      [`${name}: NaN axis`, () => op(x, [NaN]), RangeError, `${name}: expected an axis in [-2, 1] but got NaN`],
      [`${name}: repeated axes`, () => op(x, [1, -1]), RangeError, `${name}: expected distinct axes but got [1, -1]`],
      [`${name}: axes of a wrong type`, () => op(x, '0' as never), TypeError,
        `${name}: expected axes to be a number or an array of numbers but got string`],
      [`${name}: keepDims not a boolean`, () => op(x, 0, 1 as never), TypeError, `${name}: expected keepDims to be a boolean but got the number 1`],
      [`${name}: non-tensor`, () => op([1, 2] as never), TypeError, `${name}: expected x to be a Tensor but got an array`],
      [`${name}: disposed`, () => op(disposed([4])), Error, `${name}: x (shape [4]) is disposed`],
    ]),
    ['mean of int32', () => ns.mean(ns.tensor(Int32Array.from([1]))), TypeError, 'mean: expected float32 or float64 but got int32'],
    ['max over an empty axis', () => ns.max(ns.zeros([0, 3]), 0), RangeError, 'max: expected a non-empty reduction but got shape [0, 3]'],
    ['min of an empty tensor', () => ns.min(ns.zeros([0])), RangeError, 'min: expected a non-empty reduction but got shape [0]'],
    ['argmax: axis out of range', () => ns.argmax(x, -3), RangeError, 'argmax: expected an axis in [-2, 1] but got -3'],
    ['argmax: fractional axis', () => ns.argmax(x, 1.5), RangeError, 'argmax: expected an axis in [-2, 1] but got 1.5'],
    ['argmax: empty axis', () => ns.argmax(ns.zeros([2, 0]), 1), RangeError, 'argmax: expected a non-empty axis but got shape [2, 0]'],
    ['argmax: keepDims not a boolean', () => ns.argmax(x, 1, 'yes' as never), TypeError, 'argmax: expected keepDims to be a boolean but got string'],
    ['argmax: non-tensor', () => ns.argmax(undefined as never), TypeError, 'argmax: expected x to be a Tensor but got undefined'],
    ['argmax: disposed', () => ns.argmax(disposed([3])), Error, 'argmax: x (shape [3]) is disposed'],
  ]);
  describeErrors('shape ops', [
    ['reshape: wrong element count', () => ns.reshape(x, [4, 2]), RangeError,
      'reshape: expected a shape with 6 elements (input [2, 3]) but got [4, 2]'],
    ['reshape: two −1', () => ns.reshape(x, [-1, -1]), RangeError, 'reshape: expected at most one −1 in shape but got [-1, -1]'],
    ['reshape: −1 that cannot be inferred', () => ns.reshape(x, [4, -1]), RangeError, 'reshape: cannot infer −1 in [4, -1] for 6 elements'],
    ['reshape: negative size', () => ns.reshape(x, [-2, -3]), RangeError, 'reshape: expected shape[0] to be an integer ≥ 0 but got -2'],
    ['reshape: fractional size', () => ns.reshape(x, [1.5, 4]), RangeError, 'reshape: expected shape[0] to be an integer ≥ 0 but got 1.5'],
    ['reshape: shape not an array', () => ns.reshape(x, 6 as never), TypeError, 'reshape: expected shape to be an array of integers but got number'],
    ['reshape: disposed', () => ns.reshape(disposed([6]), [6]), Error, 'reshape: x (shape [6]) is disposed'],
    ['flatten: start after end', () => ns.flatten(ns.ones([2, 3, 4]), 2, 1), RangeError, 'flatten: expected startAxis ≤ endAxis but got 2 and 1'],
    ['flatten: axis out of range', () => ns.flatten(x, 5), RangeError, 'flatten: expected an axis in [-2, 1] but got 5'],
    ['squeeze: dimension not 1', () => ns.squeeze(x, 0), RangeError, 'squeeze: expected dimension 0 to have size 1 but got 2'],
    ['unsqueeze: axis out of range', () => ns.unsqueeze(x, 3), RangeError, 'unsqueeze: expected an axis in [-3, 2] but got 3'],
    ['permute: wrong number of dims', () => ns.permute(x, [0]), RangeError, 'permute: expected 2 dimensions for shape [2, 3] but got [0]'],
    ['permute: not a permutation', () => ns.permute(x, [1, 1]), RangeError, 'permute: expected a permutation but got [1, 1]'],
    ['permute: fractional dim', () => ns.permute(x, [0, 0.5]), RangeError, 'permute: expected an axis in [-2, 1] but got 0.5'],
    ['permute: dims not an array', () => ns.permute(x, 'ab' as never), RangeError, 'permute: expected 2 dimensions for shape [2, 3] but got string'],
    ['transpose: axis out of range', () => ns.transpose(ns.ones([3])), RangeError, 'transpose: expected an axis in [-1, 0] but got -2'],
    ['slice: begin out of range', () => ns.slice(x, [3, 0]), RangeError, 'slice: expected begin[0] to be an integer in [-2, 2] but got 3'],
    ['slice: fractional begin', () => ns.slice(x, [0.5]), RangeError, 'slice: expected begin[0] to be an integer in [-2, 2] but got 0.5'],
    ['slice: size past the end', () => ns.slice(x, [1, 1], [1, 3]), RangeError, 'slice: expected size[1] to be −1 or an integer in [0, 2] but got 3'],
    ['slice: negative size', () => ns.slice(x, [0, 0], [-2, 1]), RangeError, 'slice: expected size[0] to be −1 or an integer in [0, 2] but got -2'],
    ['slice: begin longer than the rank', () => ns.slice(x, [0, 0, 0]), RangeError, 'slice: expected begin to have at most 2 entries but got [0, 0, 0]'],
    ['slice: size and begin lengths differ', () => ns.slice(x, [0, 0], [1]), RangeError, 'slice: expected size to have 2 entries (as begin) but got [1]'],
    ['concat: empty list', () => ns.concat([]), TypeError, 'concat: expected a non-empty array of tensors but got an empty array'],
    ['concat: not an array', () => ns.concat(x as never), TypeError, 'concat: expected a non-empty array of tensors but got object'],
    ['concat: non-tensor element', () => ns.concat([x, 1 as never]), TypeError, 'concat: expected tensors[1] to be a Tensor but got the number 1'],
    ['concat: mismatched shapes', () => ns.concat([x, ns.ones([2, 4])], 0), RangeError,
      'concat: expected tensors[1] to match [2, 3] except along axis 0 but got [2, 4]'],
    ['concat: mismatched ranks', () => ns.concat([x, ns.ones([3])], 0), RangeError,
      'concat: expected tensors[1] to match [2, 3] except along axis 0 but got [3]'],
    ['concat: mismatched dtypes', () => ns.concat([x, ns.ones([2, 3], { dtype: 'float64' })]), TypeError,
      'concat: expected tensors[1] to have dtype float32 but got float64'],
    ['concat: axis out of range', () => ns.concat([x, x], 2), RangeError, 'concat: expected an axis in [-2, 1] but got 2'],
    ['concat: disposed element', () => ns.concat([x, disposed([2, 3])]), Error, 'concat: tensors[1] (shape [2, 3]) is disposed'],
    ['stack: empty list', () => ns.stack([]), TypeError, 'stack: expected a non-empty array of tensors but got an empty array'],
    ['stack: mismatched shapes', () => ns.stack([x, ns.ones([3, 2])]), RangeError, 'stack: expected tensors[1] to have shape [2, 3] but got [3, 2]'],
    ['stack: mismatched dtypes', () => ns.stack([x, ns.ones([2, 3], { dtype: 'float64' })]), TypeError,
      'stack: expected tensors[1] to have dtype float32 but got float64'],
    ['stack: axis out of range', () => ns.stack([x, x], 3), RangeError, 'stack: expected an axis in [-3, 2] but got 3'],
    ['broadcastTo: incompatible', () => ns.broadcastTo(x, [2, 4]), RangeError, 'broadcastTo: cannot broadcast [2, 3] to [2, 4]'],
    ['broadcastTo: fewer dimensions', () => ns.broadcastTo(x, [3]), RangeError, 'broadcastTo: cannot broadcast [2, 3] to [3]'],
    ['broadcastTo: negative size', () => ns.broadcastTo(x, [-2, 3]), RangeError, 'broadcastTo: expected shape[0] to be an integer ≥ 0 but got -2'],
    ['broadcastTo: shape not an array', () => ns.broadcastTo(x, null as never), TypeError,
      'broadcastTo: expected shape to be an array of integers but got null'],
  ]);
});

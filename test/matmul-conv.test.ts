import * as ns from '../lib';
import * as ref from './reference';
import { FLOAT_DTYPES, TOL, checkForward, describeErrors, disposed, expectClose, rand, rng, toTensor, withThreads } from './helpers';
import { gradcheck } from './gradcheck';

// Longer dot products than the elementwise ops: float32 gets a little more room.
const F32 = { rtol: 1e-4, atol: 1e-4 };
const tol = (dtype: 'float32' | 'float64'): typeof F32 => (dtype === 'float32' ? F32 : TOL.float64);

const MATMUL: [string, number[], number[]][] = [
  ['2-D', [3, 4], [4, 5]],
  ['batched', [2, 3, 4], [2, 4, 5]],
  ['broadcast batch', [2, 1, 3, 4], [3, 4, 5]],
  ['batch times a shared matrix', [2, 3, 4], [4, 5]],
  ['a shared matrix times a batch', [3, 4], [2, 4, 5]],
  ['1-D · 1-D', [4], [4]],
  ['1-D · 2-D', [4], [4, 5]],
  ['2-D · 1-D', [3, 4], [4]],
  ['batched · 1-D', [2, 3, 4], [4]],
  ['1-D · batched', [4], [2, 4, 5]],
  ['tiles of the GEMM core', [37, 65], [65, 29]],
  ['multi-threaded GEMM', [2, 70, 130], [130, 50]],
  ['inner dimension 0', [2, 0], [0, 3]],
];

describe('matmul and linear: forward', () => {
  for (const dtype of FLOAT_DTYPES) {
    test.each(MATMUL)(`matmul ${dtype} %s %j · %j`, (_name, sa, sb) => {
      checkForward(dtype, [rand(sa, 51), rand(sb, 52)], ns.matmul, ref.matmul, tol(dtype));
    });
    test(`linear ${dtype}`, () => {
      const w = rand([3, 4], 53), b = rand([3], 54);
      for (const xs of [[5, 4], [2, 3, 4], [4]]) {
        checkForward(dtype, [rand(xs, 55), w, b], ns.linear, ref.linear, tol(dtype));
        checkForward(dtype, [rand(xs, 56), w], (x, wt) => ns.linear(x, wt), (x, wt) => ref.linear(x, wt), tol(dtype));
      }
      checkForward(dtype, [rand([33, 70], 57), rand([45, 70], 58), rand([45], 59)], ns.linear, ref.linear, tol(dtype));
    });
  }
});

describe('matmul and linear gradients (float64 finite differences)', () => {
  test.each(MATMUL.filter(([name]) => !name.includes('GEMM')))('matmul %s', (_name, sa, sb) => {
    gradcheck(ns.matmul, [rand(sa, 61), rand(sb, 62)]);
  });
  test('matmul with one operand requiring grad', () => {
    gradcheck(ns.matmul, [rand([2, 3, 4], 63), rand([4, 2], 64)], { wrt: [false, true] });
    gradcheck(ns.matmul, [rand([2, 3, 4], 63), rand([4, 2], 64)], { wrt: [true, false] });
  });
  test('linear with and without bias, 2-D and 3-D inputs', () => {
    gradcheck(ns.linear, [rand([5, 4], 65), rand([3, 4], 66), rand([3], 67)]);
    gradcheck(ns.linear, [rand([2, 3, 4], 68), rand([3, 4], 69), rand([3], 70)]);
    gradcheck((x, w) => ns.linear(x, w), [rand([4], 71), rand([2, 4], 72)]);
  });
});

interface ConvCase {
  name: string;
  x: number[];
  w: number[];
  bias: boolean;
  opts: ref.ConvAttrs;
}

// Geometries: stride, padding, dilation, groups (depthwise too), odd sizes, non-square kernels, batch 1,
// and both gradient-of-input paths (stride 1 with padding within the kernel's reach, and col2im).
const CONV: ConvCase[] = [
  { name: 'plain 3×3, padding 1', x: [2, 3, 7, 6], w: [4, 3, 3, 3], bias: true, opts: { padding: 1 } },
  { name: 'no padding, no bias', x: [2, 2, 5, 5], w: [3, 2, 3, 3], bias: false, opts: {} },
  { name: 'stride 2, non-square kernel and padding', x: [2, 3, 7, 9], w: [4, 3, 2, 3], bias: true, opts: { stride: 2, padding: [1, 2] } },
  { name: 'stride [2, 3]', x: [1, 2, 9, 8], w: [2, 2, 3, 3], bias: true, opts: { stride: [2, 3], padding: 1 } },
  { name: 'dilation 2', x: [1, 2, 9, 8], w: [3, 2, 3, 3], bias: true, opts: { dilation: 2, padding: 1 } },
  { name: 'dilation [1, 2] with stride 2', x: [2, 2, 7, 9], w: [2, 2, 3, 2], bias: false, opts: { dilation: [1, 2], stride: 2, padding: [0, 1] } },
  { name: 'groups 2', x: [2, 4, 6, 5], w: [6, 2, 3, 3], bias: true, opts: { groups: 2, stride: [2, 1], padding: 1 } },
  { name: 'depthwise', x: [2, 3, 7, 7], w: [3, 1, 3, 3], bias: true, opts: { groups: 3, padding: 1, stride: 2 } },
  { name: 'depthwise with multiplier 2', x: [1, 3, 6, 5], w: [6, 1, 3, 3], bias: true, opts: { groups: 3, padding: 1 } },
  { name: '1×1 kernel, batch 1', x: [1, 5, 4, 3], w: [2, 5, 1, 1], bias: true, opts: {} },
  { name: 'padding beyond the kernel reach (col2im)', x: [1, 2, 5, 5], w: [2, 2, 3, 3], bias: true, opts: { padding: 3 } },
  { name: 'kernel as large as the input', x: [2, 2, 3, 4], w: [3, 2, 3, 4], bias: true, opts: {} },
  { name: '5×1 kernel, stride 3, dilation 2', x: [1, 3, 11, 5], w: [2, 3, 5, 1], bias: true, opts: { stride: 3, dilation: [2, 1], padding: [2, 0] } },
];

const convOp = (c: ConvCase) => (x: ns.Tensor, w: ns.Tensor, b?: ns.Tensor): ns.Tensor =>
  ns.conv2d(x, w, { ...c.opts, bias: b ?? null });
const convRef = (c: ConvCase) => (x: ref.Arr, w: ref.Arr, b?: ref.Arr): ref.Arr => ref.conv2d(x, w, b ?? null, c.opts);
const convInputs = (c: ConvCase, seed: number): ref.Arr[] =>
  [rand(c.x, seed), rand(c.w, seed + 1), ...(c.bias ? [rand([c.w[0]], seed + 2)] : [])];

describe('conv2d: forward', () => {
  for (const dtype of FLOAT_DTYPES) {
    test.each(CONV)(`${dtype} $name`, (c) => {
      checkForward(dtype, convInputs(c, 81), convOp(c), convRef(c), tol(dtype));
    });
    test(`${dtype} larger shapes through the GEMM core (multi-threaded)`, () => {
      const big: ConvCase[] = [
        { name: '', x: [2, 16, 13, 11], w: [20, 16, 3, 3], bias: true, opts: { padding: 1 } },
        { name: '', x: [3, 8, 15, 15], w: [24, 4, 3, 3], bias: true, opts: { groups: 2, stride: 2, dilation: 2, padding: 2 } },
        { name: '', x: [1, 32, 9, 9], w: [32, 1, 5, 5], bias: false, opts: { groups: 32, padding: 2 } },
      ];
      for (const c of big) checkForward(dtype, convInputs(c, 91), convOp(c), convRef(c), tol(dtype));
    });
  }

  test("padding 'same' and 'valid'", () => {
    const x = rand([1, 2, 6, 7], 92), w = rand([3, 2, 3, 5], 93);
    checkForward('float64', [x, w], (a, b) => ns.conv2d(a, b, { padding: 'same', dilation: [2, 1] }),
      (a, b) => ref.conv2d(a, b, null, { padding: [2, 2], dilation: [2, 1] }));
    checkForward('float64', [x, w], (a, b) => ns.conv2d(a, b, { padding: 'valid' }), (a, b) => ref.conv2d(a, b, null, {}));
    expect(ns.conv2d(ns.ones([1, 2, 6, 7]), ns.ones([3, 2, 3, 5]), { padding: 'same' }).shape).toEqual([1, 3, 6, 7]);
  });
});

describe('conv2d gradients: input, weight and bias (float64 finite differences)', () => {
  test.each(CONV)('$name', (c) => gradcheck(convOp(c), convInputs(c, 101)));
  test('weight and bias only, input only', () => {
    const c = CONV[2];
    gradcheck(convOp(c), convInputs(c, 111), { wrt: [false, true, true] });
    gradcheck(convOp(c), convInputs(c, 112), { wrt: [true, false, false] });
    gradcheck(convOp(c), convInputs(c, 113), { wrt: [false, false, true] });
  });
});

// Sizes past the thresholds where the kernels split work across threads (the weight gradient splits
// the n·ho·wo reduction once it exceeds 512), run with one thread and with five, against the
// reference adjoint in both dtypes.
describe('gradients at larger sizes, one and several threads', () => {
  const LARGE: ConvCase[] = [
    { name: 'dense 3×3', x: [4, 8, 20, 18], w: [16, 8, 3, 3], bias: true, opts: { padding: 1 } },
    { name: 'grouped, strided (col2im)', x: [3, 8, 23, 21], w: [12, 4, 3, 3], bias: true, opts: { groups: 2, stride: 2, padding: 1 } },
    { name: 'dilated, padding beyond the reach', x: [2, 6, 25, 25], w: [10, 6, 3, 3], bias: false, opts: { dilation: 2, padding: 5 } },
    { name: 'depthwise', x: [4, 16, 16, 16], w: [16, 1, 3, 3], bias: true, opts: { groups: 16, padding: 1 } },
  ];
  // Relative to the size of the largest gradient element: float32 sums of over a thousand terms.
  const scaled = (a: ref.Arr, rtol: number): { rtol: number; atol: number } =>
    ({ rtol, atol: rtol * a.data.reduce((m, v) => Math.max(m, Math.abs(v)), 0) });
  for (const n of [1, 5]) {
    for (const dtype of FLOAT_DTYPES) {
      test.each(LARGE)(`conv2d ${dtype}, ${n} thread(s): $name`, (c) => withThreads(n, () => {
        const [x, w, b] = convInputs(c, 171);
        const y = ref.conv2d(x, w, c.bias ? b : null, c.opts);
        const r = rand(y.shape, 172);
        const expected = ref.conv2dBackward(x, w, r, c.opts);
        const rtol = dtype === 'float32' ? 1e-4 : 1e-11;
        ns.tidy(() => {
          const [tx, tw, tb] = [x, w, b].map((a) => a && toTensor(a, dtype, true));
          const out = ns.conv2d(tx, tw, { ...c.opts, bias: c.bias ? tb : null });
          expectClose(out, y, scaled(y, rtol));
          out.backward(toTensor(r, dtype));
          expectClose(tx.grad!, expected.dx, scaled(expected.dx, rtol));
          expectClose(tw.grad!, expected.dw, scaled(expected.dw, rtol));
          if (c.bias) expectClose(tb.grad!, expected.db, scaled(expected.db, rtol));
        });
      }));
      test(`matmul and linear ${dtype}, ${n} thread(s)`, () => withThreads(n, () => {
        const a = rand([3, 70, 130], 173), b = rand([130, 50], 174), g = rand([3, 70, 50], 175);
        const rtol = dtype === 'float32' ? 1e-4 : 1e-11;
        const bt = ref.permute(b, [1, 0]);
        // dA = G·Bᵀ; dB = Σ_batch Aᵀ·G; linear(x, w) = x·wᵀ, so dw = Σ Gᵀ·x.
        const da = ref.matmul(g, bt), db = ref.reduce(ref.matmul(ref.permute(a, [0, 2, 1]), g), 'sum', 0);
        const dw = ref.reduce(ref.matmul(ref.permute(g, [0, 2, 1]), a), 'sum', 0);
        ns.tidy(() => {
          const [ta, tb, tw] = [a, b, bt].map((v) => toTensor(v, dtype, true));
          ns.matmul(ta, tb).backward(toTensor(g, dtype));
          expectClose(ta.grad!, da, scaled(da, rtol));
          expectClose(tb.grad!, db, scaled(db, rtol));
          ta.grad = null;
          ns.linear(ta, tw).backward(toTensor(g, dtype));
          expectClose(ta.grad!, da, scaled(da, rtol));
          expectClose(tw.grad!, dw, scaled(dw, rtol));
        });
      }));
    }
  }
});

// A seeded sweep of geometries: every combination the kernels branch on (groups and channels per
// group, stride against kernel size, padding within and beyond the kernel's reach, dilation, tiny and
// odd images), forward and the reference adjoint, in both dtypes.
describe('conv2d over random geometries', () => {
  const next = rng(2024);
  const pick = (lo: number, hi: number): number => lo + Math.floor(next() * (hi - lo + 1));
  const cases: ConvCase[] = [];
  while (cases.length < 40) {
    const groups = pick(1, 3), kh = pick(1, 4), kw = pick(1, 4);
    const opts = { groups, stride: [pick(1, 3), pick(1, 3)] as [number, number], dilation: [pick(1, 3), pick(1, 2)] as [number, number],
      padding: [pick(0, 3), pick(0, 3)] as [number, number] };
    const x = [pick(1, 3), groups * pick(1, 4), pick(1, 11), pick(1, 11)], w = [groups * pick(1, 12), x[1] / groups, kh, kw];
    if (x[2] + 2 * opts.padding[0] < opts.dilation[0] * (kh - 1) + 1 || x[3] + 2 * opts.padding[1] < opts.dilation[1] * (kw - 1) + 1) continue;
    cases.push({ name: `x ${JSON.stringify(x)} w ${JSON.stringify(w)} ${JSON.stringify(opts)}`, x, w, bias: next() < 0.7, opts });
  }
  test.each(cases)('$name', (c) => {
    const [x, w, b] = convInputs(c, 181);
    const y = ref.conv2d(x, w, c.bias ? b : null, c.opts);
    const r = rand(y.shape, 182);
    const expected = ref.conv2dBackward(x, w, r, c.opts);
    for (const dtype of FLOAT_DTYPES) {
      ns.tidy(() => {
        const t = tol(dtype);
        const [tx, tw, tb] = [x, w, b].map((a) => a && toTensor(a, dtype, true));
        const out = ns.conv2d(tx, tw, { ...c.opts, bias: c.bias ? tb : null });
        expectClose(out, y, t);
        out.backward(toTensor(r, dtype));
        expectClose(tx.grad!, expected.dx, t);
        expectClose(tw.grad!, expected.dw, t);
        if (c.bias) expectClose(tb.grad!, expected.db, t);
      });
    }
  });
});

describe('matmul, linear and conv2d check their arguments', () => {
  const a = ns.ones([2, 3]);
  const x = ns.ones([1, 4, 5, 5]), w = ns.ones([2, 4, 3, 3]);
  const i32 = ns.zeros([2, 3], { dtype: 'int32' });
  const f64 = (shape: number[]): ns.Tensor => ns.ones(shape, { dtype: 'float64' });
  describeErrors('matmul and linear', [
    ['matmul: inner dimensions differ', () => ns.matmul(a, ns.ones([2, 3])), RangeError,
      'matmul: expected the inner dimensions to match but got shapes [2, 3] and [2, 3] (3 vs 2)'],
    ['matmul: 0-D operand', () => ns.matmul(ns.tensor(1), a), RangeError,
      'matmul: expected tensors of at least 1 dimension but got shapes [] and [2, 3]'],
    ['matmul: batch shapes that do not broadcast', () => ns.matmul(ns.ones([2, 2, 3]), ns.ones([3, 3, 4])), RangeError,
      /^matmul: expected shapes that broadcast but got \[2\] and \[3\]/],
    ['matmul: dtype mismatch', () => ns.matmul(a, f64([3, 2])), TypeError, 'matmul: expected b to have dtype float32 (as a) but got float64'],
    ['matmul: int32', () => ns.matmul(i32, a), TypeError, 'matmul: expected a to be float32 or float64 but got int32'],
    ['matmul: non-tensor', () => ns.matmul(a, [[1], [2], [3]] as never), TypeError, 'matmul: expected b to be a Tensor but got an array'],
    ['matmul: disposed', () => ns.matmul(disposed([2, 3]), a), Error, 'matmul: a (shape [2, 3]) is disposed'],
    ['linear: weight not 2-D', () => ns.linear(a, ns.ones([3])), RangeError, 'linear: expected w to be a 2-D tensor [out, in] but got shape [3]'],
    ['linear: feature mismatch', () => ns.linear(a, ns.ones([4, 2])), RangeError,
      "linear: expected x's last dimension to be 2 (w is [4, 2]) but got shape [2, 3]"],
    ['linear: 0-D input', () => ns.linear(ns.tensor(1), ns.ones([4, 1])), RangeError,
      "linear: expected x's last dimension to be 1 (w is [4, 1]) but got shape []"],
    ['linear: bias shape', () => ns.linear(a, ns.ones([4, 3]), ns.ones([3])), RangeError, 'linear: expected bias of shape [4] but got [3]'],
    ['linear: bias dtype', () => ns.linear(a, ns.ones([4, 3]), f64([4])), TypeError, 'linear: expected bias to have dtype float32 (as x) but got float64'],
    ['linear: bias not a tensor', () => ns.linear(a, ns.ones([4, 3]), 1 as never), TypeError, 'linear: expected bias to be a Tensor but got the number 1'],
    ['linear: dtype mismatch', () => ns.linear(f64([2, 3]), ns.ones([4, 3])), TypeError, 'linear: expected w to have dtype float64 (as x) but got float32'],
    ['linear: disposed weight', () => ns.linear(a, disposed([4, 3])), Error, 'linear: w (shape [4, 3]) is disposed'],
  ]);
  describeErrors('conv2d', [
    ['x not 4-D', () => ns.conv2d(ns.ones([4, 5, 5]), w), RangeError, 'conv2d: expected x to be a 4-D tensor [N, C, H, W] but got shape [4, 5, 5]'],
    ['w not 4-D', () => ns.conv2d(x, ns.ones([2, 4, 3])), RangeError, 'conv2d: expected w to be a 4-D tensor [F, C/groups, kh, kw] but got shape [2, 4, 3]'],
    ['channel mismatch', () => ns.conv2d(x, ns.ones([2, 3, 3, 3])), RangeError,
      'conv2d: expected w to have 4 input channels per group (x has C=4, groups=1) but got 3'],
    ['channel mismatch with groups', () => ns.conv2d(x, w, { groups: 2 }), RangeError,
      'conv2d: expected w to have 2 input channels per group (x has C=4, groups=2) but got 4'],
    ['groups not dividing the channels', () => ns.conv2d(x, ns.ones([3, 4, 3, 3]), { groups: 3 }), RangeError,
      'conv2d: expected groups (3) to divide the input channels (4) and the filters (3)'],
    ['groups 0', () => ns.conv2d(x, w, { groups: 0 }), RangeError, 'conv2d: expected groups to be an integer ≥ 1 but got 0'],
    ['stride 0', () => ns.conv2d(x, w, { stride: 0 }), RangeError, 'conv2d: expected stride[0] to be an integer ≥ 1 but got 0'],
    ['fractional stride', () => ns.conv2d(x, w, { stride: [1, 1.5] }), RangeError, 'conv2d: expected stride[1] to be an integer ≥ 1 but got 1.5'],
    ['NaN dilation', () => ns.conv2d(x, w, { dilation: NaN }), RangeError, 'conv2d: expected dilation[0] to be an integer ≥ 1 but got NaN'],
    ['negative padding', () => ns.conv2d(x, w, { padding: -1 }), RangeError, 'conv2d: expected padding[0] to be an integer ≥ 0 but got -1'],
    ['padding of three numbers', () => ns.conv2d(x, w, { padding: [1, 1, 1] as never }), TypeError,
      'conv2d: expected padding to be a number or a pair [h, w] but got an array'],
    ['unknown padding string', () => ns.conv2d(x, w, { padding: 'full' as never }), TypeError,
      'conv2d: expected padding to be a number or a pair [h, w] but got string'],
    ["padding 'same' with stride 2", () => ns.conv2d(x, w, { padding: 'same', stride: 2 }), RangeError,
      "conv2d: padding 'same' expected stride 1 and an odd effective kernel size but got stride [2, 2], kernel 3×3, dilation [1, 1]"],
    ['kernel larger than the padded input', () => ns.conv2d(x, ns.ones([2, 4, 6, 3])), RangeError,
      "conv2d: expected the padded input (5×5) to be at least the kernel's extent (6×3)"],
    ['dilated kernel larger than the input', () => ns.conv2d(x, w, { dilation: 3 }), RangeError,
      "conv2d: expected the padded input (5×5) to be at least the kernel's extent (7×7)"],
    ['empty batch', () => ns.conv2d(ns.ones([0, 4, 5, 5]), w), RangeError, 'conv2d: expected a non-empty input but got x of shape [0, 4, 5, 5]'],
    ['empty image with padding', () => ns.conv2d(ns.ones([1, 4, 0, 5]), w, { padding: 2 }), RangeError,
      'conv2d: expected a non-empty input but got x of shape [1, 4, 0, 5]'],
    ['empty kernel', () => ns.conv2d(x, ns.ones([2, 4, 0, 3])), RangeError, 'conv2d: expected a non-empty kernel but got w of shape [2, 4, 0, 3]'],
    ['bias shape', () => ns.conv2d(x, w, { bias: ns.ones([4]) }), RangeError, 'conv2d: expected bias of shape [2] but got [4]'],
    ['bias dtype', () => ns.conv2d(x, w, { bias: f64([2]) }), TypeError, 'conv2d: expected bias to have dtype float32 (as x) but got float64'],
    ['dtype mismatch', () => ns.conv2d(x, ns.ones([2, 4, 3, 3], { dtype: 'float64' })), TypeError,
      'conv2d: expected w to have dtype float32 (as x) but got float64'],
    ['int32 input', () => ns.conv2d(ns.zeros([1, 4, 5, 5], { dtype: 'int32' }), w), TypeError,
      'conv2d: expected x to be float32 or float64 but got int32'],
    ['non-tensor weight', () => ns.conv2d(x, {} as never), TypeError, 'conv2d: expected w to be a Tensor but got an object (Object)'],
    ['options not an object', () => ns.conv2d(x, w, 1 as never), TypeError, 'conv2d: expected options to be an object but got the number 1'],
    ['disposed input', () => ns.conv2d(disposed([1, 4, 5, 5]), w), Error, 'conv2d: x (shape [1, 4, 5, 5]) is disposed'],
    ['disposed bias', () => ns.conv2d(x, w, { bias: disposed([2]) }), Error, 'conv2d: bias (shape [2]) is disposed'],
  ]);
});

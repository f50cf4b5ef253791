import * as ns from '../lib';
import * as ref from './reference';
import { FLOAT_DTYPES, TOL, checkForward, describeErrors, disposed, expectClose, labels, rand, rng, toTensor } from './helpers';
import { gradcheck } from './gradcheck';

interface PoolCase { x: number[]; k: ref.Pair; opts: ref.PoolAttrs }

// Default and explicit strides, padding, non-square windows, odd sizes, batch 1, ceil mode (including
// PyTorch's rule that drops a last window starting in the padding).
const POOL: PoolCase[] = [
  { x: [2, 3, 6, 6], k: 2, opts: {} },
  { x: [1, 2, 7, 5], k: 2, opts: {} },
  { x: [1, 2, 5, 6], k: 2, opts: { ceilMode: true } },
  { x: [1, 2, 7, 7], k: 3, opts: { stride: 2, padding: 1 } },
  { x: [2, 2, 7, 6], k: [3, 2], opts: { stride: [2, 1], padding: [1, 0] } },
  { x: [1, 2, 6, 6], k: 3, opts: { stride: 2, ceilMode: true } },
  { x: [1, 1, 8, 8], k: 3, opts: { stride: 3, padding: 1, ceilMode: true } },
  { x: [2, 1, 5, 7], k: [2, 3], opts: { stride: [2, 2], padding: [1, 1], ceilMode: true } },
];
const poolName = (c: PoolCase): string => `x ${JSON.stringify(c.x)} kernel ${JSON.stringify(c.k)} ${JSON.stringify(c.opts)}`;

describe('pooling: forward', () => {
  for (const dtype of FLOAT_DTYPES) {
    test.each(POOL.map((c) => [poolName(c), c] as const))(`maxPool2d ${dtype} %s`, (_n, c) => {
      checkForward(dtype, [rand(c.x, 121)], (x) => ns.maxPool2d(x, c.k, c.opts), (x) => ref.maxPool2d(x, c.k, c.opts));
    });
    test.each(POOL.flatMap((c) => [true, false].map((inc) => [poolName(c), c, inc] as const)))(
      `avgPool2d ${dtype} %s countIncludePad %s`, (_n, c, countIncludePad) => {
        const opts = { ...c.opts, countIncludePad };
        checkForward(dtype, [rand(c.x, 122)], (x) => ns.avgPool2d(x, c.k, opts), (x) => ref.avgPool2d(x, c.k, opts));
      });
    test(`globalAvgPool2d ${dtype}`, () => {
      const x = rand([2, 3, 5, 4], 123);
      checkForward(dtype, [x], (t) => ns.globalAvgPool2d(t), (a) => ref.reduce(a, 'mean', [2, 3]));
      checkForward(dtype, [x], (t) => ns.globalAvgPool2d(t, true), (a) => ref.reduce(a, 'mean', [2, 3], true));
    });
  }
  test('ceil mode output sizes follow PyTorch', () => {
    expect(ns.maxPool2d(ns.ones([1, 1, 6, 6]), 3, { stride: 2 }).shape).toEqual([1, 1, 2, 2]);
    expect(ns.maxPool2d(ns.ones([1, 1, 6, 6]), 3, { stride: 2, ceilMode: true }).shape).toEqual([1, 1, 3, 3]);
    expect(ns.avgPool2d(ns.ones([1, 1, 8, 8]), 3, { stride: 3, padding: 1, ceilMode: true }).shape).toEqual([1, 1, 3, 3]);
  });
  test('max pooling: a NaN wins its window and ties go to the first maximum (2×2 fast path and general windows)', () => {
    const plane = [1, 3, NaN, 0, 3, 2, 5, 1, -Infinity, -Infinity, 4, 4, -Infinity, -Infinity, 4, 9];
    // The same plane with a last row and column of -∞ and ceil mode: 3×3 outputs, through the general loop.
    const wide = Array.from({ length: 25 }, (_, i) => (i % 5 < 4 && i < 20 ? plane[(i / 5 | 0) * 4 + i % 5] : -Infinity));
    for (const dtype of FLOAT_DTYPES) {
      const fast = ns.tensor(plane, [1, 1, 4, 4], { dtype, requiresGrad: true });
      const general = ns.tensor(wide, [1, 1, 5, 5], { dtype, requiresGrad: true });
      const yf = ns.maxPool2d(fast, 2), yg = ns.maxPool2d(general, 2, { ceilMode: true });
      expect(Array.from(yf.dataSync())).toEqual([3, NaN, -Infinity, 9]);
      expect(Array.from(yg.dataSync())).toEqual([3, NaN, -Infinity, -Infinity, 9, -Infinity, -Infinity, -Infinity, -Infinity]);
      yf.backward(ns.ones([1, 1, 2, 2], { dtype }));
      yg.backward(ns.ones([1, 1, 3, 3], { dtype }));
      const first = [0, 1, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1];  // (0,1) before the tie at (1,0); the NaN; the first -∞
      expect(Array.from(fast.grad!.dataSync())).toEqual(first);
      expect(Array.from(general.grad!.dataSync()).filter((_, i) => i % 5 < 4 && i < 20)).toEqual(first);
    }
  });
  test('max pooling never picks the padding', () => {
    const y = ns.maxPool2d(ns.full([1, 1, 3, 3], -5), 3, { stride: 1, padding: 1 });
    expect(Array.from(y.dataSync())).toEqual(new Array(9).fill(-5));
  });
});

describe('pooling gradients (float64 finite differences)', () => {
  test.each(POOL.map((c) => [poolName(c), c] as const))('maxPool2d %s', (_n, c) => {
    gradcheck((x) => ns.maxPool2d(x, c.k, c.opts), [rand(c.x, 124)]);
  });
  test.each(POOL.flatMap((c) => [true, false].map((inc) => [poolName(c), c, inc] as const)))(
    'avgPool2d %s countIncludePad %s', (_n, c, countIncludePad) => {
      gradcheck((x) => ns.avgPool2d(x, c.k, { ...c.opts, countIncludePad }), [rand(c.x, 125)]);
    });
  test('globalAvgPool2d', () => gradcheck((x) => ns.globalAvgPool2d(x), [rand([2, 3, 3, 2], 126)]));
});

describe('pooling over random geometries (forward in both dtypes, float64 and float32 gradients)', () => {
  const next = rng(77);
  const pick = (lo: number, hi: number): number => lo + Math.floor(next() * (hi - lo + 1));
  const cases: (PoolCase & { countIncludePad: boolean })[] = [];
  while (cases.length < 16) {
    const k: [number, number] = [pick(1, 4), pick(1, 4)];
    const opts = { stride: [pick(1, 3), pick(1, 3)] as [number, number], padding: [pick(0, k[0] >> 1), pick(0, k[1] >> 1)] as [number, number],
      ceilMode: next() < 0.5 };
    const x = [pick(1, 2), pick(1, 2), pick(1, 8), pick(1, 8)];
    if (x[2] + 2 * opts.padding[0] < k[0] || x[3] + 2 * opts.padding[1] < k[1]) continue;
    cases.push({ x, k, opts, countIncludePad: next() < 0.5 });
  }
  test.each(cases.map((c) => [`${poolName(c)} countIncludePad ${c.countIncludePad}`, c] as const))('%s', (_n, c) => {
    const x = rand(c.x, 127);
    const avg = { ...c.opts, countIncludePad: c.countIncludePad };
    for (const dtype of FLOAT_DTYPES) {
      checkForward(dtype, [x], (t) => ns.maxPool2d(t, c.k, c.opts), (a) => ref.maxPool2d(a, c.k, c.opts));
      checkForward(dtype, [x], (t) => ns.avgPool2d(t, c.k, avg), (a) => ref.avgPool2d(a, c.k, avg));
    }
    gradcheck((t) => ns.maxPool2d(t, c.k, c.opts), [x]);
    gradcheck((t) => ns.avgPool2d(t, c.k, avg), [x]);
  });
});

describe('batchNorm2d', () => {
  const x = rand([4, 3, 5, 5], 131, { lo: -2, hi: 3 });
  const gamma = rand([3], 132, { lo: 0.5, hi: 2 }), beta = rand([3], 133);
  const rm0 = rand([3], 134), rv0 = rand([3], 135, { lo: 0.5, hi: 2 });

  test.each(FLOAT_DTYPES.flatMap((d) => [[d, 0.1], [d, 0.3]] as const))(
    'training %s, momentum %s: batch statistics, running mean and unbiased running variance', (dtype, momentum) => {
      const rm = toTensor(rm0, dtype), rv = toTensor(rv0, dtype);
      const y = ns.batchNorm2d(toTensor(x, dtype), rm, rv, {
        weight: toTensor(gamma, dtype), bias: toTensor(beta, dtype), training: true, momentum: momentum === 0.1 ? undefined : momentum,
      });
      const expected = ref.batchNorm(x, gamma, beta, rm0, rv0, true, momentum);
      expectClose(y, expected.y, { rtol: 1e-4, atol: 1e-4 });
      if (dtype === 'float64') expectClose(y, expected.y, { rtol: 1e-10, atol: 1e-10 });
      expectClose(rm, expected.runningMean, TOL[dtype]);
      expectClose(rv, expected.runningVar, TOL[dtype]);
    });

  test.each(FLOAT_DTYPES)('evaluation %s uses the running statistics and leaves them unchanged', (dtype) => {
    const rm = toTensor(rm0, dtype), rv = toTensor(rv0, dtype);
    const y = ns.batchNorm2d(toTensor(x, dtype), rm, rv, { weight: toTensor(gamma, dtype), bias: toTensor(beta, dtype), eps: 1e-3 });
    expectClose(y, ref.batchNorm(x, gamma, beta, rm0, rv0, false, 0.1, 1e-3).y, TOL[dtype]);
    expectClose(rm, rm0, TOL.float64);
    expectClose(rv, rv0, TOL.float64);
  });

  test('without affine parameters or running statistics, and on [N, C] input', () => {
    const x2 = rand([6, 4], 136);
    checkForward('float64', [x2], (t) => ns.batchNorm2d(t, null, null, { training: true }),
      (a) => ref.batchNorm(a, null, null, ref.arr([4]), ref.arr([4]), true).y);
    checkForward('float64', [x2, rm0, rv0], (t, m, v) => ns.batchNorm2d(ns.slice(t, [0, 0], [6, 3]), m, v),
      (a, m, v) => ref.batchNorm(ref.slice(a, [0, 0], [6, 3]), null, null, m, v, false).y);
  });

  test('gradients in training mode: input, weight and bias', () => {
    const small = rand([3, 2, 3, 2], 137, { lo: -2, hi: 2 });
    gradcheck((t, g, b) => ns.batchNorm2d(t, ns.zeros([2], { dtype: t.dtype }), ns.ones([2], { dtype: t.dtype }),
      { weight: g, bias: b, training: true }), [small, rand([2], 138, { lo: 0.5, hi: 2 }), rand([2], 139)]);
    gradcheck((t) => ns.batchNorm2d(t, null, null, { training: true, eps: 1e-3 }), [small]);
    gradcheck((t, g) => ns.batchNorm2d(t, null, null, { weight: g, training: true }), [small, rand([2], 140)], { wrt: [false, true] });
  });

  test('gradients in evaluation mode: input, weight and bias', () => {
    const small = rand([2, 3, 2, 2], 141);
    gradcheck((t, g, b, m, v) => ns.batchNorm2d(t, m, v, { weight: g, bias: b }),
      [small, rand([3], 142), rand([3], 143), rand([3], 144), rand([3], 145, { lo: 0.5, hi: 2 })],
      { wrt: [true, true, true, false, false] });
  });
});

describe('softmax, logSoftmax and losses', () => {
  const x = rand([3, 4, 5], 151, { lo: -3, hi: 3 });
  for (const dtype of FLOAT_DTYPES) {
    test.each([-1, 0, 1, 2])(`softmax and logSoftmax ${dtype} axis %d`, (axis) => {
      checkForward(dtype, [x], (t) => ns.softmax(t, axis), (a) => ref.softmax(a, axis));
      checkForward(dtype, [x], (t) => ns.logSoftmax(t, axis), (a) => ref.softmax(a, axis, true));
    });
  }
  test('softmax is stable for large logits', () => {
    const big = ref.arr([2, 3], [1000, 1001, 1002, -1000, -1001, -5000]);
    checkForward('float32', [big], (t) => ns.softmax(t), (a) => ref.softmax(a, 1));
    checkForward('float32', [big], (t) => ns.logSoftmax(t), (a) => ref.softmax(a, 1, true), { rtol: 1e-6, atol: 1e-4 });
  });

  const logits = rand([5, 4], 152, { lo: -2, hi: 2 });
  const lab = [3, 0, 2, 2, 1];
  for (const dtype of FLOAT_DTYPES) {
    test.each([[0, 'mean'], [0, 'sum'], [0, 'none'], [0.1, 'mean'], [0.25, 'none'], [1, 'sum']] as const)(
      `crossEntropy ${dtype} labelSmoothing %s reduction %s`, (labelSmoothing, reduction) => {
        checkForward(dtype, [logits], (t) => ns.crossEntropy(t, labels(lab), { labelSmoothing, reduction }),
          (a) => ref.crossEntropy(a, lab, labelSmoothing, reduction));
      });
    test(`mseLoss ${dtype}`, () => {
      const p = rand([3, 4], 153), t = rand([3, 4], 154);
      for (const reduction of ['mean', 'sum', 'none'] as const) {
        checkForward(dtype, [p, t], (a, b) => ns.mseLoss(a, b, { reduction }), (a, b) => ref.mseLoss(a, b, reduction));
      }
    });
  }
  test('crossEntropy defaults to the mean without smoothing', () => {
    checkForward('float64', [logits], (t) => ns.crossEntropy(t, labels(lab)), (a) => ref.crossEntropy(a, lab));
  });

  test('gradients (float64 finite differences)', () => {
    gradcheck((t) => ns.softmax(t, 1), [x]);
    gradcheck((t) => ns.logSoftmax(t, -1), [x]);
    gradcheck((t) => ns.logSoftmax(t, 0), [x]);
    for (const [labelSmoothing, reduction] of [[0, 'mean'], [0.1, 'sum'], [0.2, 'none']] as const) {
      gradcheck((t) => ns.crossEntropy(t, labels(lab), { labelSmoothing, reduction }), [logits]);
    }
    gradcheck((a, b) => ns.mseLoss(a, b), [rand([3, 4], 155), rand([3, 4], 156)]);
    gradcheck((a, b) => ns.mseLoss(a, b, { reduction: 'none' }), [rand([5], 157), rand([5], 158)]);
  });
});

describe('dropout', () => {
  test.each([0.1, 0.3, 0.5, 0.8])('p = %s: fraction zeroed ≈ p, survivors scaled by 1/(1 − p)', (p) => {
    ns.manualSeed(5);
    const n = 200000;
    for (const dtype of FLOAT_DTYPES) {
      const y = ns.dropout(ns.ones([n], { dtype }), p).dataSync();
      const scale = dtype === 'float32' ? Math.fround(1 / (1 - p)) : 1 / (1 - p);
      let zeros = 0, others = 0;
      for (const v of y) {
        if (v === 0) zeros++;
        else if (v !== scale) others++;
      }
      expect(others).toBe(0);
      // The zeroed fraction is binomial: 5 standard deviations.
      expect(Math.abs(zeros / n - p)).toBeLessThan(5 * Math.sqrt((p * (1 - p)) / n));
    }
  });
  test('identity when not training or p = 0; all zeros for p = 1', () => {
    const a = rand([4, 5], 161);
    checkForward('float32', [a], (t) => ns.dropout(t, 0.5, false), (v) => v, TOL.float64);
    checkForward('float64', [a], (t) => ns.dropout(t, 0), (v) => v, TOL.float64);
    expect(Array.from(ns.dropout(ns.ones([10]), 1).dataSync())).toEqual(new Array(10).fill(0));
  });
  test('masks are reproducible with manualSeed and differ between calls', () => {
    ns.manualSeed(9);
    const a = ns.dropout(ns.ones([64]), 0.5).dataSync(), b = ns.dropout(ns.ones([64]), 0.5).dataSync();
    ns.manualSeed(9);
    expect(ns.dropout(ns.ones([64]), 0.5).dataSync()).toEqual(a);
    expect(b).not.toEqual(a);
  });
  test('gradient: the same mask, scaled (float64 finite differences with a fixed seed)', () => {
    gradcheck((t) => {
      ns.manualSeed(3);
      return ns.dropout(t, 0.4);
    }, [rand([4, 6], 162)]);
  });
});

describe('pooling, normalisation and losses check their arguments', () => {
  const x = ns.ones([1, 2, 4, 4]);
  const poolCases = (['maxPool2d', 'avgPool2d'] as const).flatMap((name): [string, () => unknown, typeof Error, string][] => {
    const op = ns[name] as (x: ns.Tensor, k: unknown, o?: unknown) => ns.Tensor;
    return [
      [`${name}: x not 4-D`, () => op(ns.ones([2, 4, 4]), 2), RangeError, `${name}: expected x to be a 4-D tensor [N, C, H, W] but got shape [2, 4, 4]`],
      [`${name}: kernel 0`, () => op(x, 0), RangeError, `${name}: expected kernelSize[0] to be an integer ≥ 1 but got 0`],
      [`${name}: fractional kernel`, () => op(x, [2, 1.5]), RangeError, `${name}: expected kernelSize[1] to be an integer ≥ 1 but got 1.5`],
      [`${name}: missing kernel`, () => op(x, undefined), TypeError, `${name}: expected kernelSize to be a number or a pair [h, w] but got null`],
      [`${name}: stride 0`, () => op(x, 2, { stride: 0 }), RangeError, `${name}: expected stride[0] to be an integer ≥ 1 but got 0`],
      [`${name}: NaN padding`, () => op(x, 2, { padding: NaN }), RangeError, `${name}: expected padding[0] to be an integer ≥ 0 but got NaN`],
      [`${name}: padding over half the kernel`, () => op(x, 2, { padding: [0, 2] }), RangeError,
        `${name}: expected padding at most half the kernel size (2×2) but got [0, 2]`],
      [`${name}: kernel larger than the input`, () => op(x, [5, 2]), RangeError, `${name}: expected the padded input (4×4) to be at least the kernel (5×2)`],
      [`${name}: ceilMode not a boolean`, () => op(x, 2, { ceilMode: 1 }), TypeError, `${name}: expected ceilMode to be a boolean but got the number 1`],
      [`${name}: options not an object`, () => op(x, 2, 'x'), TypeError, `${name}: expected options to be an object but got string`],
      [`${name}: empty input`, () => op(ns.ones([1, 2, 0, 4]), 2, { padding: 1 }), RangeError, `${name}: expected a non-empty input but got shape [1, 2, 0, 4]`],
      [`${name}: int32`, () => op(ns.zeros([1, 1, 2, 2], { dtype: 'int32' }), 2), TypeError, `${name}: expected x to be float32 or float64 but got int32`],
      [`${name}: non-tensor`, () => op([[1]] as never, 2), TypeError, `${name}: expected x to be a Tensor but got an array`],
      [`${name}: disposed`, () => op(disposed([1, 1, 2, 2]), 2), Error, `${name}: x (shape [1, 1, 2, 2]) is disposed`],
    ];
  });
  describeErrors('pooling', [
    ...poolCases,
    ['avgPool2d: countIncludePad not a boolean', () => ns.avgPool2d(x, 2, { countIncludePad: 'no' as never }), TypeError,
      'avgPool2d: expected countIncludePad to be a boolean but got string'],
    ['globalAvgPool2d: x not 4-D', () => ns.globalAvgPool2d(ns.ones([2, 3])), RangeError,
      'globalAvgPool2d: expected x to be a 4-D tensor [N, C, H, W] but got shape [2, 3]'],
    ['globalAvgPool2d: keepDims not a boolean', () => ns.globalAvgPool2d(x, 'yes' as never), TypeError,
      'globalAvgPool2d: expected keepDims to be a boolean but got string'],
    ['globalAvgPool2d: int32', () => ns.globalAvgPool2d(ns.zeros([1, 1, 1, 1], { dtype: 'int32' })), TypeError,
      'globalAvgPool2d: expected x to be float32 or float64 but got int32'],
  ]);
  const rm = ns.zeros([2]), rv = ns.ones([2]);
  describeErrors('batchNorm2d', [
    ['x of rank 1', () => ns.batchNorm2d(ns.ones([4]), rm, rv), RangeError,
      'batchNorm2d: expected x of at least 2 dimensions [N, C, ...] but got shape [4]'],
    ['weight of the wrong size', () => ns.batchNorm2d(x, rm, rv, { weight: ns.ones([3]) }), RangeError,
      'batchNorm2d: expected weight of shape [2] but got [3]'],
    ['bias of another dtype', () => ns.batchNorm2d(x, rm, rv, { bias: ns.ones([2], { dtype: 'float64' }) }), TypeError,
      'batchNorm2d: expected bias to have dtype float32 (as x) but got float64'],
    ['running mean of the wrong size', () => ns.batchNorm2d(x, ns.zeros([1]), rv), RangeError,
      'batchNorm2d: expected runningMean of shape [2] but got [1]'],
    ['running variance not a tensor', () => ns.batchNorm2d(x, rm, [1, 1] as never), TypeError,
      'batchNorm2d: expected runningVar to be a Tensor but got an array'],
    ['evaluation without running statistics', () => ns.batchNorm2d(x, null, null), TypeError,
      'batchNorm2d: evaluation mode expected runningMean and runningVar tensors but got null'],
    ['NaN momentum', () => ns.batchNorm2d(x, rm, rv, { training: true, momentum: NaN }), RangeError,
      'batchNorm2d: expected momentum to be a number in [0, 1] but got NaN'],
    ['momentum above 1', () => ns.batchNorm2d(x, rm, rv, { momentum: 1.5 }), RangeError,
      'batchNorm2d: expected momentum to be a number in [0, 1] but got 1.5'],
    ['negative eps', () => ns.batchNorm2d(x, rm, rv, { eps: -1 }), RangeError, 'batchNorm2d: expected eps to be a number in [0, Infinity] but got -1'],
    ['training not a boolean', () => ns.batchNorm2d(x, rm, rv, { training: 1 as never }), TypeError,
      'batchNorm2d: expected training to be a boolean but got the number 1'],
    ['one value per channel in training', () => ns.batchNorm2d(ns.ones([1, 2, 1, 1]), rm, rv, { training: true }), RangeError,
      'batchNorm2d: training mode expected more than one value per channel but got input shape [1, 2, 1, 1]'],
    ['options not an object', () => ns.batchNorm2d(x, rm, rv, null as never), TypeError, 'batchNorm2d: expected options to be an object but got null'],
    ['int32 input', () => ns.batchNorm2d(ns.zeros([2, 2], { dtype: 'int32' }), rm, rv), TypeError,
      'batchNorm2d: expected x to be float32 or float64 but got int32'],
    ['disposed running mean', () => ns.batchNorm2d(x, disposed([2]), rv), Error, 'batchNorm2d: runningMean (shape [2]) is disposed'],
  ]);
  const lg = ns.ones([3, 4]);
  describeErrors('softmax and losses', [
    ['softmax of a 0-D tensor', () => ns.softmax(ns.tensor(1)), RangeError, 'softmax: expected a tensor of at least 1 dimension but got a scalar'],
    ['softmax axis out of range', () => ns.softmax(lg, 2), RangeError, 'softmax: expected an axis in [-2, 1] but got 2'],
    ['logSoftmax over an empty axis', () => ns.logSoftmax(ns.ones([2, 0])), RangeError, 'logSoftmax: expected a non-empty axis but got shape [2, 0]'],
    ['logSoftmax of int32', () => ns.logSoftmax(ns.zeros([2], { dtype: 'int32' })), TypeError, 'logSoftmax: expected x to be float32 or float64 but got int32'],
    ['softmax of a disposed tensor', () => ns.softmax(disposed([3])), Error, 'softmax: x (shape [3]) is disposed'],
    ['crossEntropy: logits not 2-D', () => ns.crossEntropy(ns.ones([3]), labels([0, 1, 2])), RangeError,
      'crossEntropy: expected logits to be a 2-D tensor [N, C] but got shape [3]'],
    ['crossEntropy: float labels', () => ns.crossEntropy(lg, ns.zeros([3])), TypeError, 'crossEntropy: expected labels to be an int32 tensor but got float32'],
    ['crossEntropy: labels not a tensor', () => ns.crossEntropy(lg, [0, 1, 2] as never), TypeError,
      'crossEntropy: expected labels to be a Tensor but got an array'],
    ['crossEntropy: labels of the wrong length', () => ns.crossEntropy(lg, labels([0, 1])), RangeError,
      'crossEntropy: expected labels of shape [3] (one per row of logits) but got [2]'],
    ['crossEntropy: label too large', () => ns.crossEntropy(lg, labels([0, 4, 1])), RangeError,
      'crossEntropy: expected labels in [0, 4) but got 4 at index 1'],
    ['crossEntropy: negative label', () => ns.crossEntropy(lg, labels([0, 1, -1])), RangeError,
      'crossEntropy: expected labels in [0, 4) but got -1 at index 2'],
    ['crossEntropy: smoothing above 1', () => ns.crossEntropy(lg, labels([0, 1, 2]), { labelSmoothing: 1.5 }), RangeError,
      'crossEntropy: expected labelSmoothing to be a number in [0, 1] but got 1.5'],
    ['crossEntropy: NaN smoothing', () => ns.crossEntropy(lg, labels([0, 1, 2]), { labelSmoothing: NaN }), RangeError,
      'crossEntropy: expected labelSmoothing to be a number in [0, 1] but got NaN'],
    ['crossEntropy: unknown reduction', () => ns.crossEntropy(lg, labels([0, 1, 2]), { reduction: 'avg' as never }), TypeError,
      "crossEntropy: expected reduction 'mean', 'sum' or 'none' but got avg"],
    ['crossEntropy: options not an object', () => ns.crossEntropy(lg, labels([0, 1, 2]), 'mean' as never), TypeError,
      'crossEntropy: expected options to be an object but got string'],
    ['crossEntropy: disposed labels', () => ns.crossEntropy(lg, disposed([3], 'int32')), Error, 'crossEntropy: labels (shape [3]) is disposed'],
    ['mseLoss: shapes differ', () => ns.mseLoss(lg, ns.ones([4, 3])), RangeError, 'mseLoss: expected target of shape [3, 4] but got [4, 3]'],
    ['mseLoss: unknown reduction', () => ns.mseLoss(lg, lg, { reduction: 'max' as never }), TypeError,
      "mseLoss: expected reduction 'mean', 'sum' or 'none' but got max"],
    ['mseLoss: non-tensor target', () => ns.mseLoss(lg, 1 as never), TypeError, 'mseLoss: expected target to be a Tensor but got the number 1'],
    ['dropout: NaN p', () => ns.dropout(lg, NaN), RangeError, 'dropout: expected p to be a number in [0, 1] but got NaN'],
    ['dropout: p above 1', () => ns.dropout(lg, 1.5), RangeError, 'dropout: expected p to be a number in [0, 1] but got 1.5'],
    ['dropout: negative p', () => ns.dropout(lg, -0.1), RangeError, 'dropout: expected p to be a number in [0, 1] but got -0.1'],
    ['dropout: training not a boolean', () => ns.dropout(lg, 0.5, 'no' as never), TypeError, 'dropout: expected training to be a boolean but got string'],
    ['dropout: int32', () => ns.dropout(ns.zeros([2], { dtype: 'int32' })), TypeError, 'dropout: expected x to be float32 or float64 but got int32'],
    ['dropout: disposed', () => ns.dropout(disposed([2])), Error, 'dropout: x (shape [2]) is disposed'],
  ]);
});

import * as ns from '../lib';
import { collectGarbage, describeErrors } from './helpers';

const values = (t: ns.Tensor): number[] => Array.from(t.dataSync());

describe('creating tensors', () => {
  test('from typed arrays: dtype follows the array, shape defaults to 1-D, data is copied', () => {
    const src = Float64Array.from([1.5, 2, 3, 4]);
    const t = ns.tensor(src);
    expect([t.shape, t.dtype, t.device, t.requiresGrad, t.size, t.rank]).toEqual([[4], 'float64', 'cpu', false, 4, 1]);
    src[0] = 100;
    expect(values(t)).toEqual([1.5, 2, 3, 4]);
    expect(ns.tensor(new Float32Array([1, 2, 3, 4]), [2, 2]).dtype).toBe('float32');
    const i = ns.tensor(Int32Array.from([1, -2]));
    expect([i.dtype, values(i)]).toEqual(['int32', [1, -2]]);
  });

  test('from nested arrays and numbers, with dtype conversion', () => {
    const t = ns.tensor([[1, 2, 3], [4, 5, 6]]);
    expect([t.shape, t.dtype]).toEqual([[2, 3], 'float32']);
    expect(t.toArray()).toEqual([[1, 2, 3], [4, 5, 6]]);
    expect(ns.tensor([1, 2, 3, 4, 5, 6], [3, 2]).toArray()).toEqual([[1, 2], [3, 4], [5, 6]]);
    const s = ns.tensor(2.5);
    expect([s.shape, s.item(), s.toArray()]).toEqual([[], 2.5, 2.5]);
    expect(values(ns.tensor([0.1], undefined, { dtype: 'float64' }))).toEqual([0.1]);
    expect(values(ns.tensor([0.1]))).toEqual([Math.fround(0.1)]);
    expect(values(ns.tensor(new Float32Array([1.9, -1.9]), [2], { dtype: 'int32' }))).toEqual([1, -1]);
    expect(ns.tensor([], [0]).shape).toEqual([0]);
    expect(ns.tensor([[[]]]).shape).toEqual([1, 1, 0]);
    const g = ns.tensor([1, 2], [2], { requiresGrad: true });
    expect([g.requiresGrad, g.grad]).toEqual([true, null]);
  });

  test('zeros, ones, full, zerosLike, onesLike, eye', () => {
    expect(values(ns.zeros([2, 2]))).toEqual([0, 0, 0, 0]);
    expect(ns.ones([2, 3], { dtype: 'int32' }).toArray()).toEqual([[1, 1, 1], [1, 1, 1]]);
    const f = ns.full([3], 2.5, { dtype: 'float64' });
    expect([f.dtype, values(f)]).toEqual(['float64', [2.5, 2.5, 2.5]]);
    expect(values(ns.full([2], -1, { requiresGrad: true }))).toEqual([-1, -1]);
    expect(ns.zeros([]).shape).toEqual([]);
    expect(ns.zeros([]).item()).toBe(0);
    const like = ns.onesLike(f);
    expect([like.shape, like.dtype, values(like)]).toEqual([[3], 'float64', [1, 1, 1]]);
    expect(values(ns.zerosLike(f))).toEqual([0, 0, 0]);
    expect(ns.eye(3).toArray()).toEqual([[1, 0, 0], [0, 1, 0], [0, 0, 1]]);
    expect(ns.eye(0).shape).toEqual([0, 0]);
  });

  test('arange like Python range', () => {
    expect(values(ns.arange(5))).toEqual([0, 1, 2, 3, 4]);
    expect(values(ns.arange(2, 8, 3))).toEqual([2, 5]);
    expect(values(ns.arange(5, 0, -2))).toEqual([5, 3, 1]);
    expect(values(ns.arange(0, 1, 0.25, { dtype: 'float64' }))).toEqual([0, 0.25, 0.5, 0.75]);
    expect(values(ns.arange(3, 1))).toEqual([]);
    expect(ns.arange(4, undefined, 1, { dtype: 'int32' }).dtype).toBe('int32');
  });

  test('randn and rand statistics', () => {
    ns.manualSeed(1);
    const n = 100000;
    const stats = (t: ns.Tensor): [number, number, number, number] => {
      const v = t.dataSync();
      let s = 0, s2 = 0, lo = Infinity, hi = -Infinity;
      for (const x of v) {
        s += x;
        s2 += x * x;
        lo = Math.min(lo, x);
        hi = Math.max(hi, x);
      }
      return [s / n, Math.sqrt(s2 / n - (s / n) ** 2), lo, hi];
    };
    const se = 5 / Math.sqrt(n);  // 5 standard errors
    for (const dtype of ['float32', 'float64'] as const) {
      const [m, sd] = stats(ns.randn([n], { dtype }));
      expect(Math.abs(m)).toBeLessThan(se);
      expect(Math.abs(sd - 1)).toBeLessThan(se);
      const [m2, sd2] = stats(ns.randn([n], { dtype, mean: 3, std: 0.5 }));
      expect(Math.abs(m2 - 3)).toBeLessThan(0.5 * se);
      expect(Math.abs(sd2 - 0.5)).toBeLessThan(0.5 * se);
      const [mu, su, lo, hi] = stats(ns.rand([n], { dtype, low: 2, high: 5 }));
      expect(lo).toBeGreaterThanOrEqual(2);
      expect(hi).toBeLessThan(5);
      expect(Math.abs(mu - 3.5)).toBeLessThan((3 / Math.sqrt(12)) * se);
      expect(Math.abs(su - 3 / Math.sqrt(12))).toBeLessThan(se);
    }
    // A float32 uniform never rounds up to the excluded bound.
    const near = ns.rand([n], { low: 0, high: 1e-30 }).dataSync();
    expect(near.every((v) => v >= 0 && v < 1e-30)).toBe(true);
  });

  test('manualSeed makes random streams reproducible', () => {
    ns.manualSeed(42);
    const a = values(ns.randn([17])), b = values(ns.rand([5]));
    ns.manualSeed(42);
    expect(values(ns.randn([17]))).toEqual(a);
    expect(values(ns.rand([5]))).toEqual(b);
    expect(values(ns.randn([17]))).not.toEqual(a);
    ns.manualSeed(43);
    expect(values(ns.randn([17]))).not.toEqual(a);
  });
});

describe('reading tensors', () => {
  test('dataSync and data return copies; item and toArray', async () => {
    const t = ns.tensor([[1, 2], [3, 4]]);
    const d = t.dataSync();
    expect(d).toBeInstanceOf(Float32Array);
    d[0] = 99;
    expect(values(t)).toEqual([1, 2, 3, 4]);
    expect(Array.from(await t.data())).toEqual([1, 2, 3, 4]);
    expect(ns.tensor([7], [1, 1]).item()).toBe(7);
    expect(ns.tensor(Int32Array.from([3])).item()).toBe(3);
    expect(ns.zeros([2, 0, 3]).toArray()).toEqual([[], []]);
    expect(t.toString()).toBe('Tensor(shape=[2, 2], dtype=float32, values=[1, 2, 3, 4])');
  });

  test('ops are available as chainable methods', () => {
    const x = ns.tensor([[-1, 2], [3, -4]]);
    expect(x.mul(2).relu().sum(1).toArray()).toEqual([4, 6]);
    expect(x.transpose().reshape([4]).toArray()).toEqual([-1, 3, 2, -4]);
    expect(x.abs().max().item()).toBe(4);
  });
});

describe('disposal, tidy and memory()', () => {
  test('dispose frees once and is idempotent', () => {
    collectGarbage();  // counts are exact: a collection during the test would otherwise drop earlier garbage
    const before = ns.memory();
    const t = ns.zeros([3, 4], { dtype: 'float64' });
    expect(ns.memory().numTensors).toBe(before.numTensors + 1);
    expect(ns.memory().numBytes).toBe(before.numBytes + 96);
    t.dispose();
    expect(t.isDisposed).toBe(true);
    t.dispose();
    expect(ns.memory().numTensors).toBe(before.numTensors);
    expect(ns.memory().numBytes).toBe(before.numBytes);
    expect(t.toString()).toBe('Tensor(disposed, shape=[3, 4], dtype=float64)');
    expect(() => t.dataSync()).toThrow(/^Tensor \[3, 4\] \(id \d+\) is disposed$/);
  });

  test('views share bytes: the storage is freed with its last tensor', () => {
    collectGarbage();  // counts are exact: a collection during the test would otherwise drop earlier garbage
    const before = ns.memory();
    const t = ns.zeros([10]);
    const v = ns.reshape(t, [2, 5]), d = t.detach();
    expect(ns.memory().numTensors).toBe(before.numTensors + 3);
    expect(ns.memory().numBytes).toBe(before.numBytes + 40);
    t.dispose();
    v.dispose();
    expect(ns.memory().numBytes).toBe(before.numBytes + 40);
    expect(values(d)).toEqual(new Array(10).fill(0));
    d.dispose();
    expect(ns.memory()).toMatchObject({ numTensors: before.numTensors, numBytes: before.numBytes });
  });

  test('released buffers are pooled and reused; emptyCache drops them', () => {
    ns.emptyCache();
    const t = ns.zeros([1000]);
    t.dispose();
    expect(ns.memory().pooledBytes).toBe(4000);
    const u = ns.ones([1000]);
    expect(ns.memory().pooledBytes).toBe(0);
    expect(values(u).every((v) => v === 1)).toBe(true);
    u.dispose();
    ns.emptyCache();
    expect(ns.memory().pooledBytes).toBe(0);
    expect(ns.memory().nativeInUseBytes).toBe(0);
  });

  test('tidy disposes what it created except the results and kept tensors', () => {
    collectGarbage();
    const before = ns.memory().numTensors;
    let inner: ns.Tensor | null = null, kept: ns.Tensor | null = null;
    const result = ns.tidy(() => {
      inner = ns.ones([4]);
      kept = ns.keep(ns.zeros([2]));
      const a = ns.mul(inner, 2), b = ns.add(inner, 1);
      return { pair: [a, b], map: new Map([['x', ns.sum(a)]]), n: 3 };
    });
    expect(inner!.isDisposed).toBe(true);
    expect(kept!.isDisposed).toBe(false);
    expect(values(result.pair[0])).toEqual([2, 2, 2, 2]);
    expect(values(result.pair[1])).toEqual([2, 2, 2, 2]);
    expect(result.map.get('x')!.item()).toBe(8);
    expect(ns.memory().numTensors).toBe(before + 4);
    for (const t of [...result.pair, result.map.get('x')!, kept!]) t.dispose();
    expect(ns.memory().numTensors).toBe(before);
  });

  test('nested tidy: a result moves to the enclosing scope', () => {
    let moved: ns.Tensor | null = null;
    const out = ns.tidy(() => {
      moved = ns.tidy(() => ns.ones([2]));
      expect(moved.isDisposed).toBe(false);
      return ns.mul(moved, 3);
    });
    expect(moved!.isDisposed).toBe(true);
    expect(values(out)).toEqual([3, 3]);
  });

  test('tidy disposes its tensors when the function throws, and rejects async functions', () => {
    collectGarbage();
    const before = ns.memory().numTensors;
    let t: ns.Tensor | null = null;
    expect(() => ns.tidy(() => {
      t = ns.ones([3]);
      throw new RangeError('boom');
    })).toThrow(RangeError);
    expect(t!.isDisposed).toBe(true);
    expect(ns.memory().numTensors).toBe(before);
    expect(() => ns.tidy((async () => ns.ones([2])) as never)).toThrow(
      new TypeError('tidy: expected a synchronous function but got one that returned a Promise'));
    expect(ns.memory().numTensors).toBe(before);
  });

  test('backendInfo and thread count', () => {
    const info = ns.backendInfo();
    expect(info.backend).toBe('cpu');
    expect(info.reason.length).toBeGreaterThan(0);
    expect(['avx512', 'avx2', 'portable']).toContain(info.cpuKernel);
    const threads = ns.getNumThreads();
    expect(threads).toBeGreaterThanOrEqual(1);
    ns.setNumThreads(1);
    expect(ns.getNumThreads()).toBe(1);
    expect(values(ns.matmul(ns.ones([70, 70]), ns.ones([70, 1]))).every((v) => v === 70)).toBe(true);
    ns.setNumThreads(threads);
    expect(ns.getNumThreads()).toBe(threads);
  });
});

describeErrors('creation errors', [
  ['tensor from a string', () => ns.tensor('abc' as never), TypeError,
    'tensor: expected a Float32Array, Float64Array, Int32Array, number or array of numbers but got string'],
  ['tensor from an unsupported typed array', () => ns.tensor(new Uint8Array(2) as never), TypeError,
    'tensor: expected a Float32Array, Float64Array, Int32Array, number or array of numbers but got Uint8Array'],
  ['tensor with a non-number element', () => ns.tensor([1, '2' as never]), TypeError, 'tensor: expected numbers but found string'],
  ['tensor from a ragged array', () => ns.tensor([[1, 2], [3]]), RangeError,
    'tensor: expected a regular nested array but dimension 1 has inconsistent lengths'],
  ['tensor with a shape of another size', () => ns.tensor([1, 2, 3], [2, 2]), RangeError, 'tensor: expected 4 values for shape [2, 2] but got 3'],
  ['tensor with a negative size', () => ns.tensor([1, 2], [-1, -2]), RangeError, 'tensor: expected shape[0] to be an integer ≥ 0 but got -1'],
  ['tensor with a fractional size', () => ns.tensor([1, 2], [0.5, 4]), RangeError, 'tensor: expected shape[0] to be an integer ≥ 0 but got 0.5'],
  ['tensor with an unknown dtype', () => ns.tensor([1], [1], { dtype: 'float16' as never }), TypeError,
    'tensor: expected dtype to be one of float32, float64, int32 but got float16'],
  ['tensor with requiresGrad on int32', () => ns.tensor([1], [1], { dtype: 'int32', requiresGrad: true }), TypeError,
    'tensor: requiresGrad needs a float dtype but got int32'],
  ['tensor with requiresGrad not a boolean', () => ns.tensor([1], [1], { requiresGrad: 'yes' as never }), TypeError,
    'tensor: expected requiresGrad to be a boolean but got string'],
  ['tensor on an unknown device', () => ns.tensor([1], [1], { device: 'tpu' as never }), TypeError,
    "tensor: expected device to be 'cpu' or 'cuda' but got tpu"],
  ['tensor on cuda in a CPU-only build', () => ns.tensor([1], [1], { device: 'cuda' }), Error,
    /^tensor: device 'cuda' is not available: .+/],
  ['tensor with options not an object', () => ns.tensor([1], [1], 'float64' as never), TypeError,
    'tensor: expected options to be an object but got string'],
  ['zeros with a NaN size', () => ns.zeros([NaN]), RangeError, 'zeros: expected shape[0] to be an integer ≥ 0 but got NaN'],
  ['ones with a shape that is not an array', () => ns.ones(3 as never), TypeError, 'ones: expected shape to be an array of integers but got the number 3'],
  ['zeros too large for memory', () => ns.zeros([1e10]), RangeError, 'zeros: expected at most 4294967296 elements but got shape [10000000000]'],
  ['ones whose size overflows', () => ns.ones([2 ** 40, 2 ** 40]), RangeError, /^ones: expected at most 4294967296 elements but got shape \[1099511627776, 1099511627776\]$/],
  ['full with a non-number value', () => ns.full([2], '1' as never), TypeError, 'full: expected value to be a number but got string'],
  ['arange with step 0', () => ns.arange(0, 5, 0), RangeError, 'arange: expected a non-zero step but got 0'],
  ['arange with a NaN end', () => ns.arange(0, NaN), RangeError, 'arange: expected end to be a finite number but got NaN'],
  ['arange with an infinite start', () => ns.arange(-Infinity, 0), RangeError, 'arange: expected start to be a finite number but got -Infinity'],
  ['arange of too many values', () => ns.arange(0, 1e300), RangeError, /^arange: expected at most 4294967296 elements but got shape \[1e\+300\]$/],
  ['eye with a fractional size', () => ns.eye(2.5), RangeError, 'eye: expected n to be an integer ≥ 0 but got 2.5'],
  ['randn with a negative std', () => ns.randn([2], { std: -1 }), RangeError, 'randn: expected std to be a number in [0, Infinity] but got -1'],
  ['randn with a NaN mean', () => ns.randn([2], { mean: NaN }), RangeError, 'randn: expected mean to be a finite number but got NaN'],
  ['randn of int32', () => ns.randn([2], { dtype: 'int32' }), TypeError, 'randn: expected a float dtype but got int32'],
  ['rand with high ≤ low', () => ns.rand([2], { low: 1, high: 1 }), RangeError, 'rand: expected high > low but got low 1, high 1'],
  ['manualSeed negative', () => ns.manualSeed(-1), RangeError, 'manualSeed: expected seed to be an integer ≥ 0 but got -1'],
  ['manualSeed fractional', () => ns.manualSeed(1.5), RangeError, 'manualSeed: expected seed to be an integer ≥ 0 but got 1.5'],
  ['manualSeed beyond 2^53', () => ns.manualSeed(2 ** 60), RangeError, `manualSeed: expected a seed below 2^53 but got ${2 ** 60}`],
  ['zerosLike of a non-tensor', () => ns.zerosLike([1] as never), TypeError, 'zerosLike: expected t to be a Tensor but got an array'],
  ['item of several elements', () => ns.ones([2]).item(), RangeError, 'item: expected a tensor with one element but got shape [2]'],
  ['setNumThreads 0', () => ns.setNumThreads(0), RangeError, 'setNumThreads: expected an integer in [1, 1024] but got 0'],
  ['setNumThreads fractional', () => ns.setNumThreads(1.5), RangeError, 'setNumThreads: expected an integer in [1, 1024] but got 1.5'],
]);

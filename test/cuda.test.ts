/**
 * Every op on CUDA against the CPU: forward outputs and the gradients of every input (for an upstream gradient
 * drawn from a fixed seed) must agree within a normalised squared error Σ(a−b)²/Σb² ≤ 1e-7 in strict FP32
 * (ns.backends.cuda.allowTF32 = false) and ≤ 5e-4 with TF32 tensor cores (the products: matmul, linear,
 * convolutions, similarity); any NaN fails. Also: out-of-memory errors and recovery, allocator reuse, device
 * moves, asynchronous reads, and bit-identical random streams. Skipped, saying why, where no GPU is usable.
 */
import * as ns from '../lib';
import { rand, rng } from './helpers';

const available = ns.cuda.isAvailable();
const reason = available ? '' : ns.backendInfo().reason;
if (!available) console.warn(`test/cuda.test.ts: skipped: no usable CUDA device (${reason})`);
const suite = available ? describe : describe.skip;

type Inputs = ns.Tensor[];
interface OpCase {
  name: string;
  /** Input shapes (float32, values in [-1, 1)) or ready tensors made on the CPU. */
  inputs: () => Inputs;
  /** Which inputs get gradients (default: every float input). */
  grads?: number[];
  run: (xs: Inputs) => ns.Tensor;
  /** Uses the tensor cores when TF32 is allowed. */
  tf32?: boolean;
}

const randT = (shape: number[], seed: number, opts: { lo?: number; hi?: number; awayFromZero?: number } = {}): ns.Tensor =>
  ns.tensor(rand(shape, seed, opts).data, shape, { dtype: 'float32', device: 'cpu' });
const labelsT = (n: number, classes: number, seed: number): ns.Tensor => {
  const next = rng(seed);
  return ns.tensor(Int32Array.from({ length: n }, () => Math.floor(next() * classes)), [n], { device: 'cpu' });
};

const conv = (shape: number[], w: number[], o: ns.Conv2dOptions, tf32 = true): OpCase => ({
  name: `conv2d x${JSON.stringify(shape)} w${JSON.stringify(w)} ${JSON.stringify(o)}`,
  inputs: () => [randT(shape, 1), randT(w, 2), randT([w[0]], 3)],
  run: ([x, wt, b]) => ns.conv2d(x, wt, { ...o, bias: b }),
  tf32,
});

const similarity = (form: string, m: (n: number, k: number, ho: number, wo: number, c: number) => number[], o: ns.SimilarityConv2dOptions): OpCase => ({
  name: `similarityConv2d ${form} ${JSON.stringify(o)}`,
  inputs: () => {
    const x = randT([2, 5, 9, 9], 4), w = randT([6, 5, 3, 3], 5);
    const probe = ns.conv2d(x, w, o);
    const [n, , ho, wo] = probe.shape;
    probe.dispose();
    return [x, w, randT(m(n, 9, ho, wo, 5), 6, { lo: 0.5, hi: 1.5 }), randT([6], 7)];
  },
  run: ([x, w, m, b]) => ns.similarityConv2d(x, w, m, { ...o, bias: b }),
  tf32: true,
});

const CASES: OpCase[] = [
  ...(['add', 'sub', 'mul', 'div', 'maximum', 'minimum'] as const).map((op) => ({
    name: `${op} with broadcasting`,
    inputs: () => [randT([3, 1, 4], 10, { awayFromZero: 0.2 }), randT([2, 4], 11, { awayFromZero: 0.2 })],
    run: ([a, b]: Inputs) => ns[op](a, b),
  })),
  { name: 'pow with a tensor exponent', inputs: () => [randT([5, 3], 12, { lo: 0.5, hi: 2 }), randT([3], 13)], run: ([a, b]) => ns.pow(a, b) },
  ...(['neg', 'exp', 'tanh', 'sigmoid', 'relu', 'abs', 'square'] as const).map((op) => ({
    name: op, inputs: () => [randT([4, 33], 14, { awayFromZero: 0.05 })], run: ([x]: Inputs) => ns[op](x),
  })),
  ...(['log', 'sqrt'] as const).map((op) => ({ name: op, inputs: () => [randT([4, 33], 15, { lo: 0.1, hi: 3 })], run: ([x]: Inputs) => ns[op](x) })),
  { name: 'pow 3', inputs: () => [randT([70], 16)], run: ([x]) => ns.pow(x, 3) },
  { name: 'comparisons (forward)', inputs: () => [randT([6, 5], 17), randT([5], 18)], grads: [], run: ([a, b]) => ns.add(ns.lt(a, b), ns.ge(a, b).mul(2)) },
  { name: 'cast to float64 and back', inputs: () => [randT([9], 19)], run: ([x]) => ns.cast(ns.cast(x, 'float64').mul(3), 'float32') },
  { name: 'sum over axes', inputs: () => [randT([3, 4, 5, 6], 20)], run: ([x]) => ns.sum(x, [1, 3]) },
  { name: 'mean keepDims', inputs: () => [randT([3, 4, 5], 21)], run: ([x]) => ns.mean(x, 2, true) },
  { name: 'sum of everything (a long reduction)', inputs: () => [randT([1000, 37], 22)], run: ([x]) => ns.sum(x) },
  { name: 'max and min', inputs: () => [randT([5, 7, 3], 23)], run: ([x]) => ns.add(ns.max(x, 1), ns.min(x, [0, 2], true).sum()) },
  { name: 'argmax (forward)', inputs: () => [randT([6, 9], 24)], grads: [], run: ([x]) => ns.cast(ns.argmax(x, 1), 'float32') },
  { name: 'permute, transpose, slice', inputs: () => [randT([2, 3, 4, 5], 25)], run: ([x]) => ns.slice(ns.transpose(ns.permute(x, [3, 1, 0, 2])), [1, 0, 0, 1], [3, -1, 2, -1]) },
  { name: 'concat and stack', inputs: () => [randT([2, 3], 26), randT([2, 5], 27)], run: ([a, b]) => ns.stack([ns.concat([a, b], 1), ns.concat([b, a], 1)], 0) },
  { name: 'broadcastTo', inputs: () => [randT([3, 1], 28)], run: ([x]) => ns.broadcastTo(x, [2, 3, 4]) },
  { name: 'indexSelect (forward)', inputs: () => [randT([7, 3, 2], 29)], grads: [], run: ([x]) => ns.indexSelect(x, [6, 0, 3, 3]) },
  { name: 'matmul batched with broadcasting', inputs: () => [randT([2, 1, 17, 33], 30), randT([3, 33, 21], 31)], run: ([a, b]) => ns.matmul(a, b), tf32: true },
  { name: 'matmul vector', inputs: () => [randT([40], 32), randT([40, 9], 33)], run: ([a, b]) => ns.matmul(a, b), tf32: true },
  { name: 'linear', inputs: () => [randT([13, 50], 34), randT([20, 50], 35), randT([20], 36)], run: ([x, w, b]) => ns.linear(x, w, b), tf32: true },
  conv([2, 3, 11, 11], [8, 3, 3, 3], { padding: 1 }),
  conv([2, 4, 12, 10], [6, 4, 3, 3], { stride: 2, padding: 1 }),
  conv([1, 4, 13, 13], [5, 4, 3, 3], { dilation: 2, padding: 2 }),
  conv([2, 6, 9, 9], [6, 2, 3, 3], { groups: 3, padding: 1 }),
  conv([2, 8, 10, 10], [8, 1, 3, 3], { groups: 8, padding: 1 }),
  conv([2, 16, 8, 8], [32, 16, 1, 1], {}),
  conv([2, 3, 9, 7], [4, 3, 5, 3], { padding: [2, 1] }),
  conv([4, 32, 16, 16], [64, 32, 3, 3], { padding: 1 }),
  similarity('static diagonal', () => [9], { padding: 1 }),
  similarity('static spatial', () => [9, 9], { padding: 1, stride: 2 }),
  similarity('static full', (_n, k, _h, _w, c) => [c * k, c * k], { padding: 1 }),
  similarity('dynamic diagonal', (n, k, ho, wo) => [n, k, ho, wo], { padding: 1 }),
  similarity('dynamic diagonal strided', (n, k, ho, wo) => [n, k, ho, wo], { padding: 1, stride: 2 }),
  similarity('dynamic spatial', (n, k, ho, wo) => [n, k * k, ho, wo], { padding: 1 }),
  similarity('dynamic spatial dilated', (n, k, ho, wo) => [n, k * k, ho, wo], { padding: 2, dilation: 2 }),
  {
    name: 'dynamicConv2d', inputs: () => [randT([3, 4, 8, 8], 40), randT([3, 5, 4, 3, 3], 41), randT([5], 42)],
    run: ([x, w, b]) => ns.dynamicConv2d(x, w, { padding: 1, bias: b }), tf32: true,
  },
  { name: 'maxPool2d', inputs: () => [randT([2, 3, 9, 9], 43)], run: ([x]) => ns.maxPool2d(x, 3, { stride: 2, padding: 1 }) },
  { name: 'maxPool2d ceil', inputs: () => [randT([2, 3, 8, 8], 44)], run: ([x]) => ns.maxPool2d(x, 3, { stride: 2, ceilMode: true }) },
  { name: 'avgPool2d', inputs: () => [randT([2, 3, 9, 9], 45)], run: ([x]) => ns.avgPool2d(x, 3, { stride: 2, padding: 1, countIncludePad: false }) },
  { name: 'globalAvgPool2d', inputs: () => [randT([2, 5, 6, 6], 46)], run: ([x]) => ns.globalAvgPool2d(x) },
  {
    name: 'batchNorm2d training', inputs: () => [randT([4, 3, 5, 5], 47), randT([3], 48), randT([3], 49)],
    run: ([x, g, b]) => ns.batchNorm2d(x, null, null, { training: true, weight: g, bias: b }),
  },
  {
    name: 'batchNorm2d evaluation', inputs: () => [randT([4, 3, 5, 5], 50), randT([3], 51), randT([3], 52)],
    run: ([x, g, b]) => {
      const rm = ns.mul(ns.onesLike(g), 0.25), rv = ns.mul(ns.onesLike(g), 1.5);
      return ns.batchNorm2d(x, rm, rv, { weight: g, bias: b });
    },
  },
  { name: 'softmax', inputs: () => [randT([5, 12], 53)], run: ([x]) => ns.softmax(x, 1) },
  { name: 'logSoftmax over axis 1 of a 3-D tensor', inputs: () => [randT([3, 7, 4], 54)], run: ([x]) => ns.logSoftmax(x, 1) },
  {
    name: 'crossEntropy with label smoothing', inputs: () => [randT([16, 10], 55), labelsT(16, 10, 56)], grads: [0],
    run: ([x, y]) => ns.crossEntropy(x, y, { labelSmoothing: 0.1 }),
  },
  { name: 'mseLoss', inputs: () => [randT([6, 4], 57), randT([6, 4], 58)], run: ([a, b]) => ns.mseLoss(a, b) },
];

/** Σ(a−b)²/Σb² (0/0 counts as 0); NaN when either holds a NaN. */
function normalisedError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0, den = 0;
  for (let i = 0; i < b.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return den === 0 ? (num === 0 ? 0 : Infinity) : num / den;
}

/** Output and input gradients of a case on one device. */
function evaluate(c: OpCase, device: ns.Device): { out: Float32Array; grads: Float32Array[] } {
  return ns.tidy(() => {
    const cpuInputs = c.inputs();
    const grads = c.grads ?? cpuInputs.map((t, i) => (t.dtype === 'int32' ? -1 : i)).filter((i) => i >= 0);
    const inputs = cpuInputs.map((t, i) => {
      const moved = ns.to(t, device).detach();
      if (grads.includes(i)) moved.requiresGrad = true;
      return moved;
    });
    const out = c.run(inputs);
    const result = { out: Float32Array.from(out.dataSync()), grads: [] as Float32Array[] };
    if (grads.length) {
      const upstream = ns.to(randT([...out.shape], 99), device);
      out.backward(upstream);
      result.grads = grads.map((i) => Float32Array.from(inputs[i].grad!.dataSync()));
    }
    return result;
  });
}

suite('every op on CUDA against the CPU', () => {
  afterAll(() => {
    ns.backends.cuda.allowTF32 = true;
  });
  for (const tf32 of [false, true]) {
    const mode = tf32 ? 'TF32' : 'strict FP32';
    test.each(CASES.filter((c) => !tf32 || c.tf32).map((c) => [c.name, c]))(`${mode}: %s`, (_name, c) => {
      ns.backends.cuda.allowTF32 = tf32;
      const bound = tf32 ? 5e-4 : 1e-7;
      const cpu = evaluate(c as OpCase, 'cpu'), gpu = evaluate(c as OpCase, 'cuda');
      const errors = [normalisedError(gpu.out, cpu.out), ...gpu.grads.map((g, i) => normalisedError(g, cpu.grads[i]))];
      expect(errors.map((e) => (Number.isNaN(e) ? 'NaN' : e <= bound ? 'ok' : e))).toEqual(errors.map(() => 'ok'));
    });
  }
});

suite('CUDA memory, devices and streams', () => {
  test('out of memory throws ERR_CUDA_OOM naming the op and the bytes, and the process goes on', () => {
    const huge = 2 ** 40;  // 4 TiB of float32: more than any GPU holds
    let caught: (Error & { code?: string }) | null = null;
    try {
      ns.zeros([huge], { device: 'cuda' });
    } catch (err) {
      caught = err as Error & { code?: string };
    }
    expect(caught?.code).toBe('ERR_CUDA_OOM');
    expect(caught?.message).toMatch(/^zeros: .*4398046511104 bytes/);
    const small = ns.ones([1000], { device: 'cuda' });
    expect(ns.sum(small).item()).toBe(1000);
    small.dispose();
  });

  test('the allocator reuses blocks: a steady loop asks the driver for no fresh memory', () => {
    const step = (): void => ns.tidy(() => {
      const x = ns.randn([256, 256], { device: 'cuda' });
      ns.matmul(x, x).relu().sum().item();
    });
    for (let i = 0; i < 3; i++) step();
    const before = ns.memory().cuda!;
    for (let i = 0; i < 50; i++) step();
    const after = ns.memory().cuda!;
    expect(after.allocations - before.allocations).toBeGreaterThanOrEqual(50 * 3);
    expect([after.freshAllocations, after.allocatedBytes]).toEqual([before.freshAllocations, before.allocatedBytes]);
    ns.cuda.emptyCache();
    expect(ns.memory().cuda!.cachedBytes).toBe(0);
  });

  test('tensors move between devices; mixing devices is a TypeError naming the op', async () => {
    const a = ns.tensor([1, 2, 3], [3], { device: 'cpu' });
    const g = a.to('cuda');
    expect(g.device).toBe('cuda');
    expect(Array.from(await g.data())).toEqual([1, 2, 3]);
    expect(Array.from(g.cpu().dataSync())).toEqual([1, 2, 3]);
    expect(() => ns.add(a, g)).toThrow(/^add: expected every tensor on one device/);
    const model = new ns.nn.Sequential(new ns.nn.Linear(3, 2));
    model.to('cuda');
    expect(model.parameters().every((p) => p.device === 'cuda')).toBe(true);
    expect(model.forward(g.reshape([1, 3])).device).toBe('cuda');
  });

  test('random streams and dropout masks are the CPU\'s, bit for bit', () => {
    const draw = (device: ns.Device): number[] => {
      ns.manualSeed(123);
      const u = ns.rand([1001], { device }), n = ns.randn([1001], { device });
      const d = ns.dropout(ns.ones([1001], { device }), 0.3);
      return [...u.dataSync(), ...n.dataSync(), ...d.dataSync()];
    };
    expect(draw('cuda')).toEqual(draw('cpu'));
  });

  test('a label out of range is a RangeError naming crossEntropy', () => {
    const logits = ns.zeros([2, 3], { device: 'cuda' }), labels = ns.tensor(Int32Array.from([0, 3]), [2], { device: 'cuda' });
    expect(() => ns.crossEntropy(logits, labels)).toThrow('crossEntropy: expected labels in [0, 3) but got 3 at index 1');
  });

  test('training steps on CUDA follow the CPU', () => {
    const losses = (device: ns.Device): number[] => {
      ns.manualSeed(5);
      const model = new ns.nn.Sequential(
        new ns.nn.Conv2d(1, 4, 3, { padding: 1 }), new ns.nn.BatchNorm2d(4), new ns.nn.ReLU(), new ns.nn.MaxPool2d(2),
        new ns.nn.Flatten(), new ns.nn.Linear(4 * 4 * 4, 10)).to(device);
      const x = ns.randn([8, 1, 8, 8]).to(device), y = ns.tensor(Int32Array.from([0, 1, 2, 3, 4, 5, 6, 7]), [8]).to(device);
      const opt = new ns.optim.SGD(model.parameters(), { lr: 0.05, momentum: 0.9 });
      const out: number[] = [];
      for (let i = 0; i < 10; i++) {
        out.push(ns.tidy(() => {
          const loss = ns.crossEntropy(model.forward(x), y);
          opt.zeroGrad();
          loss.backward();
          opt.step();
          return loss.item();
        }));
      }
      return out;
    };
    ns.backends.cuda.allowTF32 = false;
    const cpu = losses('cpu'), gpu = losses('cuda');
    expect(normalisedError(gpu, cpu)).toBeLessThan(1e-8);
  });
});

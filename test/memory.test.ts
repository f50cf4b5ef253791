import * as fs from 'fs';
import * as ns from '../lib';
import { native } from '../lib/backend/native';

const { nn, optim } = ns;

/** conv2d + batchNorm2d + relu + maxPool2d + linear + crossEntropy on a fixed batch, with SGD. */
function setup(): { step: () => number; model: ns.nn.Sequential } {
  ns.manualSeed(7);
  const model = new nn.Sequential(
    new nn.Conv2d(1, 4, 3, { padding: 1 }), new nn.BatchNorm2d(4), new nn.ReLU(), new nn.MaxPool2d(2), new nn.Flatten(),
    new nn.Linear(4 * 4 * 4, 10));
  const x = ns.randn([8, 1, 8, 8]);
  const y = ns.tensor(Int32Array.from([0, 1, 2, 3, 4, 5, 6, 7]));
  const opt = new optim.SGD(model.parameters(), { lr: 0.05 });
  const step = (): number => ns.tidy(() => {
    const loss = ns.crossEntropy(model.forward(x), y);
    loss.backward();
    opt.step();
    opt.zeroGrad();
    return loss.item();
  });
  return { step, model };
}

describe('memory', () => {
  test('1,000 training steps in tidy() return every tensor and byte; buffers are reused', () => {
    const { step } = setup();
    const baseline = ns.memory();
    const losses: number[] = [];
    let pooledAt10 = -1;
    let maxTensors = 0;
    for (let i = 1; i <= 1000; i++) {
      losses.push(step());
      const m = ns.memory();
      maxTensors = Math.max(maxTensors, m.numTensors);
      if (i === 10) pooledAt10 = m.pooledBytes;
    }
    const after = ns.memory();
    expect(after.numTensors).toBe(baseline.numTensors);
    expect(after.numBytes).toBe(baseline.numBytes);
    expect(after.nativeInUseBytes).toBe(0);
    expect(maxTensors).toBe(baseline.numTensors);
    // Steady state: the pool neither grows nor shrinks after the first steps.
    expect(pooledAt10).toBeGreaterThan(0);
    expect(after.pooledBytes).toBe(pooledAt10);
    // The loop trains: the loss on the fixed batch falls.
    expect(losses[999]).toBeLessThan(losses[0] / 4);
  });

  test('evaluation in tidy() and a throwing step leave nothing behind', () => {
    const { model } = setup();
    model.eval();
    const baseline = ns.memory();
    const x = ns.keep(ns.randn([2, 1, 8, 8]));
    const before = ns.memory();
    for (let i = 0; i < 20; i++) ns.tidy(() => ns.noGrad(() => model.forward(x)).dataSync());
    expect(() => ns.tidy(() => model.forward(ns.reshape(ns.add(x, 1), [1, 2, 8, 8])))).toThrow(RangeError);
    expect(ns.memory()).toMatchObject({ numTensors: before.numTensors, numBytes: before.numBytes, nativeInUseBytes: 0 });
    x.dispose();
    expect(ns.memory()).toMatchObject({ numTensors: baseline.numTensors, numBytes: baseline.numBytes });
  });

  test('tensor storage starts on a cache line (64-byte boundary)', () => {
    // cacheLineOffset says how far the first 64-byte boundary of a buffer is (the system allocator often
    // places large buffers 16 bytes past a page); a storage starting there has that byteOffset.
    for (const [dtype, n] of [['float32', 1], ['float32', 1000], ['float64', 3 << 18], ['int32', 5 << 20]] as const) {
      const t = ns.zeros([n], { dtype });
      expect(native.cacheLineOffset(t.values.buffer as ArrayBuffer)).toBe(t.values.byteOffset);
      expect(t.values.length).toBe(n);
      t.dispose();
    }
  });

  test('fresh buffers of 4 MiB and more ask for huge pages', () => {
    const advise = jest.spyOn(native, 'adviseHugePages');
    try {
      const large = ns.zeros([(1 << 20) + 3]);  // 4 MiB + 12 bytes of float32 with the 64 bytes of slack
      const small = ns.zeros([(1 << 18) + 5]);
      const enabled = process.env.NEURAL_SIMILARITY_HUGE_PAGES !== '0';
      expect(advise.mock.calls.map(([b]) => b.byteLength)).toEqual(enabled ? [4 * ((1 << 20) + 3) + 64] : []);
      for (const t of [large, small]) t.dispose();
    } finally {
      advise.mockRestore();
    }
    // The 2 MiB-aligned interior of a 9 MiB buffer is 6 or 8 MiB, depending on where it starts; none fits
    // in 1 MiB. Linux kernels with transparent huge pages (the sysfs file) accept the advice; elsewhere 0.
    const thp = fs.existsSync('/sys/kernel/mm/transparent_hugepage/enabled');
    expect(thp ? [6 << 20, 8 << 20] : [0]).toContain(native.adviseHugePages(new ArrayBuffer(9 << 20)));
    expect(native.adviseHugePages(new ArrayBuffer(1 << 20))).toBe(0);
  });

  test('disposing a model releases its parameters and buffers', () => {
    const before = ns.memory();
    const { model } = setup();
    const params = model.parameters();
    model.dispose();
    expect(params.every((p) => p.isDisposed)).toBe(true);
    // The setup's data tensors (x, y) remain until they are collected.
    expect(ns.memory().numTensors).toBe(before.numTensors + 2);
  });
});

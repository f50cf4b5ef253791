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

  test('the CPU pool reuses a freed block of the same size instead of asking the system', () => {
    const t = ns.zeros([(1 << 20) + 3]);  // a 4 MiB block: the pool also asks for huge pages for these
    t.dispose();
    const before = native.memoryStats(0);
    const again = ns.zeros([(1 << 20) + 3]);
    const after = native.memoryStats(0);
    expect(after.allocCount - before.allocCount).toBe(1);
    expect(after.freshAllocCount).toBe(before.freshAllocCount);
    expect(after.allocatedBytes - before.allocatedBytes).toBe(4 * ((1 << 20) + 3));
    again.dispose();
  });

  test('a synchronous loop without tidy or dispose: memory() stays right and storage is recycled', () => {
    const { model } = setup();
    const x = ns.randn([8, 1, 8, 8]);
    const start = ns.memory();
    let peakBytes = 0;
    for (let i = 0; i < 300; i++) {
      const loss = ns.sum(model.forward(x));  // never disposed: left to the garbage collector
      loss.backward();
      model.zeroGrad();
      peakBytes = Math.max(peakBytes, ns.memory().numBytes - start.numBytes);
    }
    // Each step makes about 40 kB of tensors; 300 steps without collection would hold 12 MB. The addon's
    // finalizers run inside garbage collection, so the counts drop during the loop, not after it.
    const perStep = 40 * 1024;
    expect(peakBytes).toBeLessThan(300 * perStep / 2);
    expect(ns.memory().numTensors - start.numTensors).toBeLessThan(300 * 20);
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

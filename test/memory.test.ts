import * as ns from '../lib';
import { native } from '../lib/backend/native';
import { collectGarbage } from './helpers';

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
    collectGarbage();
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
    collectGarbage();  // counts are exact: garbage collected later would otherwise leave them mid-test
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

  test('a synchronous loop without tidy or dispose: storage is recycled during the loop and memory() is exact', () => {
    const { model } = setup();
    const x = ns.randn([128, 1, 8, 8]);
    const step = (): void => {
      const loss = ns.sum(model.forward(x));  // never disposed: left to the garbage collector
      loss.backward();
      model.zeroGrad();
    };
    collectGarbage();
    const start = ns.memory();
    // The bytes one step makes (measured with tidy, which frees them at once).
    let perStep = 0;
    ns.tidy(() => {
      step();
      perStep = ns.memory().numBytes - start.numBytes;
    });
    expect(perStep).toBeGreaterThan(10000);
    let peak = 0;
    for (let i = 0; i < 500; i++) {
      step();
      peak = Math.max(peak, ns.memory().numBytes - start.numBytes);
    }
    // Without collection the loop would hold 500 steps' bytes (about 230 MB). Once 64 MiB (or what was live after
    // the last collection, if more) have been allocated and not disposed, the library runs a collection, and the
    // addon's finalizers run inside it: storage returns to the pool during the synchronous loop itself.
    expect(peak).toBeLessThan(64 * 2 ** 20 + 2 * perStep);
    // And the counts are exact: after a collection, no tensor or byte of the loop is left.
    collectGarbage();
    expect([ns.memory().numTensors, ns.memory().numBytes]).toEqual([start.numTensors, start.numBytes]);
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

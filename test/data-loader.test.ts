/**
 * DataLoader (lib/data/loader.ts) with its worker threads (lib/data/workers.ts): batches and random
 * augmentations reproducible from (seed, epoch, sample) whatever the worker count, drop-last, collate,
 * async iteration over any dataset, errors, and workers that never keep the process alive.
 */
import { spawn } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ns from '../lib';
import { describeErrors } from './helpers';

const { CIFAR10, DataLoader, TensorDataset, transforms: T } = ns.data;

/** Writes a CIFAR-10 binary split of pseudo-random pixels: 5 training files of `perFile` records each. */
function writeCifar(dir: string, perFile: number): void {
  let s = 12345;
  const next = (): number => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) >>> 24;
  for (let b = 1; b <= 5; b++) {
    const buf = Buffer.alloc(perFile * 3073);
    for (let r = 0; r < perFile; r++) {
      buf[r * 3073] = (b * perFile + r) % 10;
      for (let i = 1; i < 3073; i++) buf[r * 3073 + i] = next();
    }
    fs.writeFileSync(path.join(dir, `data_batch_${b}.bin`), buf);
  }
}

const augment = T.compose([
  T.randomCrop(32, { padding: 4, paddingMode: 'reflect' }),
  T.randomHorizontalFlip(),
  T.toTensor(),
  T.normalize([0.5, 0.5, 0.5], [0.25, 0.25, 0.25]),
]);

let dir: string;
let cifar: ns.data.CIFAR10;
beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ns-loader-'));
  writeCifar(dir, 13); // 65 samples
  cifar = await CIFAR10.load({ root: dir, transform: augment });
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A digest of each sample's image in a batch [B, ...]. */
function sampleDigests(x: ns.Tensor): string[] {
  const data = x.dataSync(), size = x.size / x.shape[0];
  return Array.from({ length: x.shape[0] }, (_, i) =>
    crypto.createHash('sha1').update(new Uint8Array(data.buffer, data.byteOffset + i * size * 4, size * 4)).digest('hex'));
}

/** One epoch: each batch's sample digests, labels and image shape (the tensors disposed). */
async function epoch(loader: ns.data.DataLoader<[ns.Tensor, number], [ns.Tensor, ns.Tensor]>): Promise<{ x: string[][]; y: number[][]; shapes: number[][] }> {
  const out = { x: [] as string[][], y: [] as number[][], shapes: [] as number[][] };
  for await (const [x, y] of loader) {
    out.x.push(sampleDigests(x));
    out.y.push(Array.from(y.dataSync()));
    out.shapes.push([...x.shape]);
    x.dispose();
    y.dispose();
  }
  return out;
}

describe('determinism', () => {
  test('same seed → same order and augmentations with 0, 1 and 2 workers; epochs differ', async () => {
    const make = (numWorkers: number): ns.data.DataLoader<[ns.Tensor, number], [ns.Tensor, ns.Tensor]> =>
      new DataLoader(cifar, { batchSize: 16, shuffle: true, seed: 3, numWorkers });
    const one = make(1), two = make(2), inline = make(0);
    const a0 = await epoch(one), a1 = await epoch(one);
    const b0 = await epoch(two), b1 = await epoch(two);
    expect(b0).toEqual(a0);
    expect(b1).toEqual(a1);
    expect(await epoch(inline)).toEqual(a0);
    expect(a0.shapes).toEqual([[16, 3, 32, 32], [16, 3, 32, 32], [16, 3, 32, 32], [16, 3, 32, 32], [1, 3, 32, 32]]);
    // A permutation of the labels; another one next epoch; new augmentations next epoch.
    expect(a0.y.flat().sort()).toEqual(Array.from(cifar.labels).sort());
    expect(a1.y.flat()).not.toEqual(a0.y.flat());
    expect(new Set([...a0.x.flat(), ...a1.x.flat()]).size).toBe(2 * 65);
    // Another seed, another order.
    expect((await epoch(new DataLoader(cifar, { batchSize: 16, shuffle: true, seed: 4, numWorkers: 1 }))).y).not.toEqual(a0.y);
  });

  test('a sample\'s augmentation depends on (seed, epoch, index) only: not on the batch it falls in', async () => {
    const by16 = (await epoch(new DataLoader(cifar, { batchSize: 16, seed: 9, numWorkers: 2 }))).x.flat();
    const by7 = (await epoch(new DataLoader(cifar, { batchSize: 7, seed: 9, numWorkers: 1 }))).x.flat();
    expect(by7).toEqual(by16);
    // Resuming at epoch 1 reproduces epoch 1.
    const loader = new DataLoader(cifar, { batchSize: 16, seed: 9, numWorkers: 1 });
    await epoch(loader);
    const second = await epoch(loader);
    const resumed = new DataLoader(cifar, { batchSize: 16, seed: 9, numWorkers: 2 });
    resumed.epoch = 1;
    expect(await epoch(resumed)).toEqual(second);
  });

  test('samples really are augmented: each is a reflect-padded crop of its image, flipped or not', async () => {
    const plain = await CIFAR10.load({ root: dir });
    const [x] = await (async () => {
      for await (const batch of new DataLoader(cifar, { batchSize: 65, seed: 1, numWorkers: 1 })) return batch;
      throw new Error('no batch');
    })();
    const data = x.dataSync();
    let moved = 0, flipped = 0;
    for (let s = 0; s < 65; s++) {
      const src = plain.image(s);
      const out = data.subarray(s * 3072, (s + 1) * 3072);
      const value = (y: number, xx: number, c: number): number => (src.data[(y * 32 + xx) * 3 + c] / 255 - 0.5) / 0.25;
      const reflect = (p: number): number => (p < 0 ? -p : p > 31 ? 62 - p : p);
      const matches = (i: number, j: number, flip: boolean): boolean => {
        for (let c = 0; c < 3; c++) {
          for (let y = 0; y < 32; y++) {
            for (let xx = 0; xx < 32; xx++) {
              const sx = flip ? 31 - xx : xx;
              if (Math.abs(out[c * 1024 + y * 32 + xx] - value(reflect(i + y - 4), reflect(j + sx - 4), c)) > 1e-5) return false;
            }
          }
        }
        return true;
      };
      let found = false;
      for (let i = 0; i <= 8 && !found; i++) {
        for (let j = 0; j <= 8 && !found; j++) {
          for (const flip of [false, true]) {
            if (matches(i, j, flip)) {
              found = true;
              moved += i !== 4 || j !== 4 ? 1 : 0;
              flipped += flip ? 1 : 0;
              break;
            }
          }
        }
      }
      expect(found).toBe(true);
    }
    expect(moved).toBeGreaterThan(50);
    expect(flipped).toBeGreaterThan(15);
    expect(flipped).toBeLessThan(50);
    x.dispose();
  });

  test('without a seed: the global generator (ns.manualSeed) makes epochs reproducible, whatever the worker count', async () => {
    ns.manualSeed(11);
    const a = await epoch(new DataLoader(cifar, { batchSize: 32, shuffle: true, numWorkers: 1 }));
    ns.manualSeed(11);
    const b = await epoch(new DataLoader(cifar, { batchSize: 32, shuffle: true, numWorkers: 2 }));
    expect(b).toEqual(a);
    expect(await epoch(new DataLoader(cifar, { batchSize: 32, shuffle: true, numWorkers: 1 }))).not.toEqual(a);
  });
});

test('dropLast, collate, and the number of batches', async () => {
  const dropped = new DataLoader(cifar, { batchSize: 16, dropLast: true, numWorkers: 1, seed: 0 });
  expect(dropped.length).toBe(4);
  expect((await epoch(dropped)).shapes.map((s) => s[0])).toEqual([16, 16, 16, 16]);
  // collate receives the [image, label] samples of a batch.
  const collated = new DataLoader(cifar, {
    batchSize: 30, numWorkers: 2, seed: 0,
    collate: (samples) => ({ count: samples.length, labels: samples.map(([, label]) => label), shape: samples[0][0].shape }),
  });
  const batches = [];
  for await (const b of collated) batches.push(b);
  expect(batches.map((b) => b.count)).toEqual([30, 30, 5]);
  expect(batches.flatMap((b) => b.labels)).toEqual(Array.from(cifar.labels));
  expect(batches[0].shape).toEqual([3, 32, 32]);
});

test('async iteration over any dataset (async get, default collate of objects and numbers)', async () => {
  const dataset: ns.data.Dataset<{ x: ns.Tensor; y: number; name: string }> = {
    length: 10,
    get: async (i) => ({ x: ns.tensor([i, -i]), y: i * 0.5, name: `s${i}` }),
  };
  const loader = new DataLoader(dataset, { batchSize: 4, prefetch: 3 });
  const seen = [];
  for await (const batch of loader) {
    seen.push({ x: batch.x.toArray(), y: Array.from(batch.y.dataSync()), dtype: batch.y.dtype, name: batch.name });
  }
  expect(seen[0]).toEqual({ x: [[0, -0], [1, -1], [2, -2], [3, -3]], y: [0, 0.5, 1, 1.5], dtype: 'float32', name: ['s0', 's1', 's2', 's3'] });
  expect(seen.map((s) => s.name.length)).toEqual([4, 4, 2]);
  // Synchronous iteration refuses an async dataset, saying what to do.
  expect(() => [...loader]).toThrow('DataLoader: dataset.get(0) returned a Promise; iterate with for await (const batch of loader)');
});

test('TensorDataset: sync and async iteration give the same batches; integer numbers collate to int32', async () => {
  const ds = new TensorDataset(ns.tensor(Float32Array.from({ length: 20 }, (_, i) => i), [10, 2]), ns.tensor(Int32Array.from({ length: 10 }, (_, i) => i), [10]));
  const loader = new DataLoader(ds, { batchSize: 4, shuffle: true, seed: 5 });
  const sync = [...loader].map(([x, y]) => [x.toArray(), y.toArray()]);
  loader.epoch = 0;
  const asyncBatches = [];
  for await (const [x, y] of loader) asyncBatches.push([x.toArray(), y.toArray()]);
  expect(asyncBatches).toEqual(sync);
  expect(sync.map(([, y]) => (y as number[]).length)).toEqual([4, 4, 2]);
  // One sample: rows of every tensor.
  const [row, label] = ds.get(3);
  expect([row.toArray(), label.shape, label.item()]).toEqual([[6, 7], [], 3]);
  const numbers = new DataLoader({ length: 3, get: (i: number) => [i, i + 0.5] as [number, number] }, { batchSize: 3 });
  const [[ints, floats]] = [...numbers];
  expect([ints.dtype, floats.dtype, Array.from(floats.dataSync())]).toEqual(['int32', 'float32', [0.5, 1.5, 2.5]]);
});

test('an image dataset iterates synchronously only on the main thread (numWorkers 0), with the same batches', async () => {
  const inline = new DataLoader(cifar, { batchSize: 32, seed: 2, numWorkers: 0 });
  const sync = [...inline].map(([x, y]) => ({ x: sampleDigests(x), y: Array.from(y.dataSync()) }));
  const workers = new DataLoader(cifar, { batchSize: 32, seed: 2, numWorkers: 2 });
  expect((await epoch(workers))).toEqual({ x: sync.map((b) => b.x), y: sync.map((b) => b.y), shapes: [[32, 3, 32, 32], [32, 3, 32, 32], [1, 3, 32, 32]] });
  expect(() => [...workers]).toThrow('DataLoader: synchronous iteration cannot use the 2 worker threads; iterate with for await (const batch of loader), or pass numWorkers: 0');
});

test('an error thrown in a worker reaches the loop with its class and message', async () => {
  const tooBig = await CIFAR10.load({ root: dir, transform: T.compose([T.randomCrop(40), T.toTensor()]) });
  await expect(epoch(new DataLoader(tooBig, { batchSize: 8, numWorkers: 2 }))).rejects.toThrow(
    new RangeError('randomCrop: expected the padded image (32×32) to be at least the crop size 40×40 but got an image of 32×32'));
});

test('workers never keep the process alive, nor let it end early: a full pass, early breaks, an abandoned iterator', async () => {
  // A separate Node process (the library's TypeScript compiled on the fly) must exit by itself.
  const repo = path.resolve(__dirname, '..');
  const hook = `const ts = require(${JSON.stringify(require.resolve('typescript'))}); const fs = require('fs');
    require.extensions['.ts'] = (m, f) => m._compile(ts.transpileModule(fs.readFileSync(f, 'utf8'),
      { compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true }, fileName: f }).outputText, f);`;
  const script = `${hook}
    const ns = require(${JSON.stringify(path.join(repo, 'lib'))});
    (async () => {
      const T = ns.data.transforms;
      const ds = await ns.data.CIFAR10.load({ root: ${JSON.stringify(dir)}, transform: T.compose([T.randomCrop(32, { padding: 4 }), T.toTensor()]) });
      const loader = new ns.data.DataLoader(ds, { batchSize: 8, numWorkers: 2, seed: 1 });
      for await (const batch of loader) break;
      // A break after synchronous work (a training step): the batches prepared meanwhile answer while the pool closes.
      for await (const batch of loader) { const end = Date.now() + 500; while (Date.now() < end); break; }
      let n = 0;
      for await (const batch of loader) n++;
      const it = loader[Symbol.asyncIterator]();
      await it.next();
      console.log('passes done', n);
    })();`;
  const child = spawn(process.execPath, ['-e', script], { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const exit = await new Promise<{ code: number | null; timedOut: boolean }>((resolve) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve({ code: null, timedOut: true });
    }, 60_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, timedOut: false });
    });
  });
  expect({ ...exit, output: output.trim() }).toEqual({ code: 0, timedOut: false, output: 'passes done 9' });
});

describeErrors('DataLoader errors', [
  ['unknown option', () => new DataLoader(cifar, { batchsize: 8 } as never), TypeError,
    "DataLoader: unknown option 'batchsize' (expected one of batchSize, shuffle, dropLast, collate, seed, numWorkers, prefetch)"],
  ['numWorkers for a TensorDataset', () => new DataLoader(new TensorDataset(ns.ones([2])), { numWorkers: 2 }), RangeError,
    'DataLoader: expected numWorkers to be 0 for a TensorDataset (worker threads transform ImageDataset samples; other datasets are read on the main thread) but got 2'],
  ['not a dataset', () => new DataLoader([1, 2, 3] as never), TypeError,
    'DataLoader: expected dataset to have an integer length and a get(index) method but got an array'],
  ['collate not a function', () => new DataLoader(cifar, { collate: 'stack' as never }), TypeError,
    'DataLoader: expected collate to be a function (samples) => batch but got string'],
  ['negative seed', () => new DataLoader(cifar, { seed: -1 }), RangeError, 'DataLoader: expected seed to be an integer ≥ 0 but got -1'],
  ['prefetch 0', () => new DataLoader(cifar, { prefetch: 0 }), RangeError, 'DataLoader: expected prefetch to be an integer ≥ 1 but got 0'],
  ['fractional numWorkers', () => new DataLoader(cifar, { numWorkers: 1.5 }), RangeError, 'DataLoader: expected numWorkers to be an integer ≥ 0 but got 1.5'],
  ['default collate of mixed samples', () => [...new DataLoader({ length: 2, get: (i: number) => (i === 0 ? 1 : 'a') as unknown }, { batchSize: 2 })],
    TypeError, 'defaultCollate: expected every sample to be a number (as sample 0 is) but sample 1 is string'],
  ['TensorDataset.get out of range', () => new TensorDataset(ns.ones([2])).get(2), RangeError,
    'TensorDataset.get: expected index to be an integer in [0, 1] but got 2'],
]);

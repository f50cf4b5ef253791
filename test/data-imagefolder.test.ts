/**
 * ImageFolder (lib/data/imagefolder.ts) and its decoded cache (lib/data/cache.ts) on real data: the
 * CIFAR-10 JPEG archive (its 10,000-image test split, streamed out of the .tar.gz) against a folder
 * extracted from part of it, the disk cache, Omniglot's alphabet/character folders, torchvision's
 * class and sample order, images of different sizes, and the errors.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';
import sharp from 'sharp';
import * as tar from 'tar-stream';
import * as ns from '../lib';
import { extract } from './archive';

const { ImageFolder, DataLoader, transforms: T } = ns.data;

const DATASETS = path.resolve(__dirname, '../../shared/datasets');
const CIFAR = path.join(DATASETS, 'cifar10-jpg.tar.gz');
const OMNIGLOT = path.join(DATASETS, 'omniglot-background-small.tar.gz');
const CIFAR_CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ns-imagefolder-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A digest of every decoded image of a dataset. */
function pixelsDigest(ds: ns.data.ImageDataset): string {
  const h = crypto.createHash('sha1');
  for (let i = 0; i < ds.length; i++) h.update(ds.image(i).data);
  return h.digest('hex');
}

/** A PNG of `h`×`w` RGB pixels whose values derive from `seed`. */
function png(h: number, w: number, seed: number): Promise<Buffer> {
  const raw = Buffer.from(Array.from({ length: h * w * 3 }, (_, i) => (i * 37 + seed * 11) % 256));
  return sharp(raw, { raw: { width: w, height: h, channels: 3 } }).png().toBuffer();
}

/** Writes a tar (gzipped when the name says so) of `entries` (name → bytes). */
async function writeTar(file: string, entries: [string, Buffer][]): Promise<void> {
  const pack = tar.pack();
  for (const [name, bytes] of entries) pack.entry({ name }, bytes);
  pack.finalize();
  const out = fs.createWriteStream(file);
  if (file.endsWith('.tar')) pack.pipe(out);
  else pack.pipe(zlib.createGzip()).pipe(out);
  await new Promise<void>((resolve, reject) => out.on('finish', () => resolve()).on('error', reject));
}

describe('CIFAR-10 from its .tar.gz', () => {
  let fromArchive: ns.data.ImageFolder;
  const cacheDir = (): string => path.join(tmp, 'cache');

  beforeAll(async () => {
    // The 10,000 test images decoded once (about 12 s of CPU); everything else reads them back.
    fromArchive = await ImageFolder.load(CIFAR, { subdir: 'test', cacheDir: cacheDir() });
  });

  test('the split behind the archive\'s wrapper folder: classes, order, labels, pixels as libjpeg decodes them', () => {
    expect(fromArchive.fromCache).toBe(false);
    expect(fromArchive.root).toBe(CIFAR);
    expect(fromArchive.length).toBe(10000);
    expect(fromArchive.classes).toEqual(CIFAR_CLASSES);
    expect(fromArchive.files.slice(0, 2)).toEqual(['airplane/0000.jpg', 'airplane/0001.jpg']);
    const labels = fromArchive.labels;
    expect(CIFAR_CLASSES.map((_, k) => labels.filter((l) => l === k).length)).toEqual(new Array(10).fill(1000));
    expect(Array.from(labels.subarray(0, 1000)).every((l) => l === 0) && labels[9999] === 9).toBe(true);
    // cat/0000.jpg: pixels decoded by libjpeg-turbo's djpeg (what PIL uses) at (y, x): R, G, B.
    const i = fromArchive.files.indexOf('cat/0000.jpg');
    expect(fromArchive.label(i)).toBe(3);
    const img = fromArchive.image(i);
    expect([img.height, img.width, img.channels, img.layout]).toEqual([32, 32, 3, 'HWC']);
    const at = (y: number, x: number): number[] => Array.from(img.data.subarray((y * 32 + x) * 3, (y * 32 + x) * 3 + 3));
    expect([at(0, 0), at(5, 9), at(16, 16), at(31, 31)]).toEqual([[167, 107, 47], [153, 102, 36], [118, 101, 85], [27, 79, 129]]);
    // The default transform: a float32 [3, 32, 32] tensor in [0, 1].
    const [x, label] = fromArchive.get(i);
    expect([x.shape, x.dtype, label]).toEqual([[3, 32, 32], 'float32', 3]);
    expect([x.dataSync()[0], x.dataSync()[1024], x.dataSync()[2048]]).toEqual([167, 107, 47].map((v) => Math.fround(v / 255)));
    x.dispose();
  });

  test('the second load reads the disk cache (one file, written atomically), with the same samples', async () => {
    const file = fromArchive.cacheFile as string;
    expect(path.dirname(file)).toBe(cacheDir());
    expect(fs.readdirSync(cacheDir())).toEqual([path.basename(file)]); // no temporary file left behind
    expect(fs.statSync(file).size).toBeGreaterThan(10000 * 3072);
    const again = await ImageFolder.load(CIFAR, { subdir: 'test', cacheDir: cacheDir(), transform: T.compose([T.toTensor(), T.normalize([0.5], [0.5])]) });
    expect([again.fromCache, again.cacheFile]).toEqual([true, file]);
    expect([again.classes, again.files, Array.from(again.labels)]).toEqual([fromArchive.classes, fromArchive.files, Array.from(fromArchive.labels)]);
    expect(pixelsDigest(again)).toBe(pixelsDigest(fromArchive));
  });

  test('a folder extracted from part of the archive gives the same tensors', async () => {
    const dest = path.join(tmp, 'cifar-part');
    const kept = await extract(CIFAR, dest, (name) => /^cifar10\/test\/[a-z]+\/000\d\.jpg$/.test(name), 100);
    expect(kept.length).toBe(100);
    const folder = await ImageFolder.load(path.join(dest, 'cifar10'), { subdir: 'test', cacheDir: null });
    expect([folder.length, folder.classes, folder.cacheFile, folder.fromCache]).toEqual([100, CIFAR_CLASSES, null, false]);
    const loader = new DataLoader(folder, { batchSize: 100, numWorkers: 2 });
    for await (const [x, y] of loader) {
      const xs = x.dataSync(), ys = y.dataSync();
      folder.files.forEach((file, k) => {
        const j = fromArchive.files.indexOf(file);
        const [expected, label] = fromArchive.get(j);
        expect([ys[k], folder.label(k)]).toEqual([label, label]);
        const want = expected.dataSync();
        expect(Buffer.from(xs.buffer, xs.byteOffset + k * 3072 * 4, 3072 * 4).equals(Buffer.from(want.buffer, want.byteOffset, want.byteLength))).toBe(true);
        expected.dispose();
      });
      x.dispose();
      y.dispose();
    }
  });
});

describe('Omniglot', () => {
  test('an alphabet\'s characters as classes (grayscale 105×105), inside the archive', async () => {
    const tagalog = await ImageFolder.load(OMNIGLOT, { subdir: 'images_background_small2/Tagalog', grayscale: true, cacheDir: path.join(tmp, 'cache-omni') });
    expect(tagalog.classes).toEqual(Array.from({ length: 17 }, (_, i) => `character${String(i + 1).padStart(2, '0')}`));
    expect(tagalog.length).toBe(340);
    expect(tagalog.files.slice(0, 2)).toEqual(['character01/0893_01.png', 'character01/0893_02.png']);
    const img = tagalog.image(0);
    expect([img.height, img.width, img.channels]).toEqual([105, 105, 1]);
    const values = new Set(img.data);
    expect([...values].sort((a, b) => a - b)).toEqual([0, 255]); // 1-bit drawings, kept exact
    const [x] = tagalog.get(0);
    expect(x.shape).toEqual([1, 105, 105]);
    x.dispose();
  });

  test('classDepth 2: alphabet/character classes across alphabets (folder)', async () => {
    const dest = path.join(tmp, 'omni-part');
    await extract(OMNIGLOT, dest, (name) => /images_background_small2\/(Greek|Tagalog)\/character0[12]\/\d+_0[12]\.png$/.test(name), 8);
    const root = path.join(dest, 'omniglot', 'images_background_small2');
    const ds = await ImageFolder.load(root, { classDepth: 2, grayscale: true, cacheDir: null });
    expect(ds.classes).toEqual(['Greek/character01', 'Greek/character02', 'Tagalog/character01', 'Tagalog/character02']);
    expect([ds.length, Array.from(ds.labels)]).toEqual([8, [0, 0, 1, 1, 2, 2, 3, 3]]);
    // Alphabets as classes (depth 1) gather each alphabet's characters.
    const alphabets = await ImageFolder.load(root, { grayscale: true, cacheDir: null });
    expect([alphabets.classes, Array.from(alphabets.labels)]).toEqual([['Greek', 'Tagalog'], [0, 0, 0, 0, 1, 1, 1, 1]]);
    // 'leaf': the folders holding images are the classes, at whatever depth.
    const leaves = await ImageFolder.load(dest, { classDepth: 'leaf', grayscale: true, cacheDir: null });
    expect(leaves.classes).toEqual(ds.classes.map((c) => `omniglot/images_background_small2/${c}`));
    expect(Array.from(leaves.labels)).toEqual(Array.from(ds.labels));
  });
});

describe('subset, channel statistics, and prediction inputs', () => {
  test('subset copies the chosen samples; channelStats equals a float64 reference; imageInput decodes as ImageFolder does', async () => {
    const dest = path.join(tmp, 'cifar-few');
    const files = await extract(CIFAR, dest, (name) => /test\/(cat|ship)\/\d+\.jpg$/.test(name), 6);
    const root = path.join(dest, 'cifar10', 'test');
    const ds = await ImageFolder.load(root, { size: 24, cacheDir: null });
    const sub = ds.subset([4, 0, 4]);
    expect([sub.length, Array.from(sub.labels), sub.classes]).toEqual([3, [ds.label(4), ds.label(0), ds.label(4)], ds.classes]);
    expect(Buffer.from(sub.image(0).data).equals(Buffer.from(ds.image(4).data))).toBe(true);
    expect(Buffer.from(sub.image(1).data).equals(Buffer.from(ds.image(0).data))).toBe(true);
    const sum = [0, 0, 0], sq = [0, 0, 0];
    let count = 0;
    for (let i = 0; i < ds.length; i++) {
      const img = ds.image(i);
      for (let k = 0; k < img.data.length; k++) {
        sum[k % 3] += img.data[k] / 255;
        sq[k % 3] += (img.data[k] / 255) ** 2;
      }
      count += img.height * img.width;
    }
    const stats = ds.channelStats();
    for (let c = 0; c < 3; c++) {
      const mean = sum[c] / count;
      expect(stats.mean[c]).toBeCloseTo(mean, 12);
      expect(stats.std[c]).toBeCloseTo(Math.sqrt(sq[c] / count - mean * mean), 12);
    }
    // The CLI's predict path decodes a file exactly as the dataset decoded it (same size, kernel, channels).
    const p = { height: 24, width: 24, channels: 3 as const, mean: stats.mean, std: stats.std, invert: false, classes: [...ds.classes] };
    const normalized = await ImageFolder.load(root, { size: 24, cacheDir: null, transform: T.compose([T.toTensor(), T.normalize(stats.mean, stats.std)]) });
    const index = normalized.files.indexOf(path.relative(path.join('cifar10', 'test'), files[2]));
    const [x] = normalized.get(index);
    expect(Array.from(await ns.train.imageInput(path.join(dest, files[2]), p))).toEqual(Array.from(x.dataSync()));
    x.dispose();
    expect(() => ds.subset([6])).toThrow('ImageFolder.subset: expected index to be an integer in [0, 5] but got 6');
  });
});

describe('layout rules', () => {
  test('torchvision\'s order: classes and folders by code point, files by folder path then name', async () => {
    const root = path.join(tmp, 'order');
    const files = ['a/z.png', 'a/b/y.png', 'a/b c/w.png', 'B/x.png', 'a/readme.txt', 'loose.png'];
    for (const [k, f] of files.entries()) {
      fs.mkdirSync(path.dirname(path.join(root, f)), { recursive: true });
      fs.writeFileSync(path.join(root, f), f.endsWith('.png') ? await png(2, 3, k) : 'not an image');
    }
    const ds = await ImageFolder.load(root, { cacheDir: null });
    expect(ds.classes).toEqual(['B', 'a']);
    expect(ds.files).toEqual(['B/x.png', 'a/z.png', 'a/b/y.png', 'a/b c/w.png']);
  });

  test('images of different sizes: kept, cached with an index, resized by `size` or a transform; the default collate refuses to mix them', async () => {
    const root = path.join(tmp, 'sizes');
    fs.mkdirSync(path.join(root, 'one'), { recursive: true });
    fs.mkdirSync(path.join(root, 'two'), { recursive: true });
    fs.writeFileSync(path.join(root, 'one', 'a.png'), await png(4, 6, 1));
    fs.writeFileSync(path.join(root, 'two', 'b.png'), await png(5, 3, 2));
    const cacheDir = path.join(tmp, 'cache-sizes');
    const first = await ImageFolder.load(root, { cacheDir });
    const again = await ImageFolder.load(root, { cacheDir });
    expect([first.fromCache, again.fromCache]).toEqual([false, true]);
    for (const ds of [first, again]) expect([ds.image(0), ds.image(1)].map((i) => [i.height, i.width])).toEqual([[4, 6], [5, 3]]);
    expect(pixelsDigest(again)).toBe(pixelsDigest(first));
    // A damaged cache file is not trusted: it is rebuilt (and replaced).
    fs.truncateSync(first.cacheFile as string, 100);
    const rebuilt = await ImageFolder.load(root, { cacheDir });
    expect([rebuilt.fromCache, pixelsDigest(rebuilt), (await ImageFolder.load(root, { cacheDir })).fromCache]).toEqual([false, pixelsDigest(first), true]);
    // The source's pixels come back exactly (PNG is lossless).
    expect(Buffer.from(first.image(1).data)).toEqual(await sharp(fs.readFileSync(path.join(root, 'two', 'b.png'))).raw().toBuffer());
    await expect((async () => {
      for await (const batch of new DataLoader(first, { batchSize: 2, numWorkers: 1 })) return batch;
    })()).rejects.toThrow('DataLoader: expected the samples of a batch to share one shape but sample 0 is [3, 4, 6] and sample 1 is [3, 5, 3]; ' +
      'add a resize or randomCrop transform, or pass a collate function');
    const resized = await ImageFolder.load(root, { cacheDir, transform: T.compose([T.resize(4, 4), T.toTensor()]) });
    const [[x]] = [...new DataLoader(resized, { batchSize: 2, numWorkers: 0 })];
    expect(x.shape).toEqual([2, 3, 4, 4]);
    const sized = await ImageFolder.load(root, { cacheDir, size: 8 });
    expect([sized.fromCache, sized.image(1).height, sized.image(1).width]).toEqual([false, 8, 8]);
    // A changed file invalidates the cache.
    fs.writeFileSync(path.join(root, 'two', 'b.png'), await png(5, 3, 3));
    expect((await ImageFolder.load(root, { cacheDir })).fromCache).toBe(false);
  });

  test('archives: .tar and .tgz, the wrapper folder optional in subdir, missing splits named', async () => {
    const entries: [string, Buffer][] = [
      ['wrap/split/cat/1.png', await png(3, 3, 1)],
      ['wrap/split/dog/2.png', await png(3, 3, 2)],
      ['wrap/other/cat/3.png', await png(3, 3, 3)],
    ];
    const tgz = path.join(tmp, 'small.tgz'), plain = path.join(tmp, 'small.tar');
    await writeTar(tgz, entries);
    await writeTar(plain, entries);
    const a = await ImageFolder.load(tgz, { subdir: 'split', cacheDir: null });
    const b = await ImageFolder.load(plain, { subdir: 'wrap/split', cacheDir: null });
    const whole = await ImageFolder.load(tgz, { subdir: 'wrap', classDepth: 2, cacheDir: null });
    expect([a.classes, a.files, b.files, pixelsDigest(b)]).toEqual([['cat', 'dog'], ['cat/1.png', 'dog/2.png'], ['cat/1.png', 'dog/2.png'], pixelsDigest(a)]);
    expect(whole.classes).toEqual(['other/cat', 'split/cat', 'split/dog']);
    await expect(ImageFolder.load(tgz, { subdir: 'train', cacheDir: null })).rejects.toThrow(
      `ImageFolder: expected a folder 'train' in the archive ${tgz} but found none (its top-level entries: wrap)`);
  });
});

describe('ImageFolder errors', () => {
  const cases: [string, () => Promise<unknown>, ErrorConstructor, string][] = [
    ['an unknown option', () => ImageFolder.load(CIFAR, { cachedir: tmp } as never), TypeError,
      "ImageFolder: unknown option 'cachedir' (expected one of subdir, transform, cacheDir, grayscale, classDepth, size)"],
    ['a missing root', () => ImageFolder.load(path.join(tmp, 'missing')), Error, `ImageFolder: root ${path.join(tmp, 'missing')} does not exist`],
    ['a file that is not an archive', () => ImageFolder.load(__filename), TypeError,
      `ImageFolder: expected root to be a folder or a .tar, .tar.gz or .tgz archive but got ${__filename}`],
    ['a subdir leaving root', () => ImageFolder.load(tmp, { subdir: '../x' }), RangeError, "ImageFolder: expected subdir to stay inside root but got '../x'"],
    ['a missing subdir of a folder', () => ImageFolder.load(tmp, { subdir: 'none', cacheDir: null }), RangeError,
      `ImageFolder: expected a folder 'none' in ${tmp} but found none`],
    ['classDepth 0', () => ImageFolder.load(tmp, { classDepth: 0 }), RangeError, 'ImageFolder: expected classDepth to be an integer ≥ 1 but got 0'],
    ['cacheDir not a string', () => ImageFolder.load(tmp, { cacheDir: 3 as never }), TypeError,
      'ImageFolder: expected cacheDir to be a folder path or null but got the number 3'],
    ['a transform without toTensor', () => ImageFolder.load(tmp, { transform: T.randomHorizontalFlip() }), TypeError,
      'ImageFolder: expected transform to produce float CHW data (include transforms.toTensor()) but it leaves uint8 HWC images'],
    ['a transform in the wrong order', () => ImageFolder.load(tmp, { transform: { kind: 'compose', transforms: [T.normalize([0], [1]), T.toTensor()] } }), TypeError,
      'ImageFolder: transform applies normalize before toTensor(); normalize expects float CHW data but would get uint8 HWC'],
  ];
  test.each(cases)('%s', async (_name, run, cls, message) => {
    const err = await run().then(() => null, (e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect([(err as Error).constructor.name, (err as Error).message]).toEqual([cls.name, message]);
  });

  test('class folders without images, and roots without class folders', async () => {
    const root = path.join(tmp, 'empty-class');
    fs.mkdirSync(path.join(root, 'full'), { recursive: true });
    fs.mkdirSync(path.join(root, 'empty'), { recursive: true });
    fs.writeFileSync(path.join(root, 'full', 'a.png'), await png(2, 2, 0));
    await expect(ImageFolder.load(root, { cacheDir: null })).rejects.toThrow(
      `ImageFolder: expected JPEG or PNG files in every class folder of ${root} but found none in 'empty'`);
    await expect(ImageFolder.load(path.join(root, 'full'), { cacheDir: null })).rejects.toThrow(
      `ImageFolder: expected class folders 1 level below ${path.join(root, 'full')} but found none`);
  });
});

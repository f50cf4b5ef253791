/**
 * ImageFolder: a labelled image dataset read from class folders, like torchvision's ImageFolder, from a
 * folder on disk or straight out of a .tar / .tar.gz / .tgz archive (streamed, never extracted).
 *
 *   const train = await ImageFolder.load('cifar10-jpg.tar.gz', { subdir: 'train', transform });
 *
 * Classes are the sorted names of the folders `classDepth` levels below the split's root (label = index in
 * that order); samples are the JPEG and PNG files anywhere below each class folder, ordered by class, then
 * folder path, then file name (torchvision's order). Images are decoded once with sharp (to uint8 HWC, 3
 * channels, or 1 with `grayscale`) and the decoded split is cached on disk in one file, so a second load
 * only reads that file.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { pipeline } from 'stream';
import * as zlib from 'zlib';
import type { OutputInfo } from 'sharp';
import type SharpModule = require('sharp');
import type * as TarStream from 'tar-stream';

// The decoder and the tar reader load on first use, so that importing the library does not load libvips.
/* eslint-disable @typescript-eslint/no-require-imports */
const sharp = (input: Buffer): SharpModule.Sharp => (require('sharp') as (input: Buffer) => SharpModule.Sharp)(input);
const tar = { extract: (): TarStream.Extract => (require('tar-stream') as typeof TarStream).extract() };
/* eslint-enable @typescript-eslint/no-require-imports */
import { ImageDataset, imageTransformSteps } from './images';
import type { RawImage } from './augment';
import { Transform } from './transforms';
import { CachedImages, readCache, writeCache } from './cache';
import { PixelStore, createStore } from './pixels';
import { checkBoolean, checkInteger, checkOptionKeys, checkSize, checkString, describe } from './check';

/** Options of ImageFolder.load. */
export interface ImageFolderOptions {
  /**
   * The split's folder inside `root` ('train', 'test', 'images_background_small1/Greek'). In an archive
   * whose entries all lie in one top-level folder, that folder may be left out ('train' finds 'cifar10/train').
   */
  subdir?: string;
  /** Applied to every sample (default `toTensor()`); must produce float CHW data. */
  transform?: Transform;
  /**
   * Folder of the decoded cache (default $XDG_CACHE_HOME/neural-similarity or ~/.cache/neural-similarity,
   * else a folder under os.tmpdir()); null decodes every time and writes nothing.
   */
  cacheDir?: string | null;
  /** Decode to 1 channel (luma, as PIL's convert('L')) instead of 3 (sRGB) (default false). */
  grayscale?: boolean;
  /**
   * Depth of the class folders below the split's root (default 1); 2 makes 'alphabet/character' classes
   * (Omniglot). 'leaf': every folder that holds images directly is a class, named by its path below the root.
   */
  classDepth?: number | 'leaf';
  /** Resize every image to [height, width] (a number: square) while decoding, with sharp's bilinear kernel. */
  size?: number | readonly [number, number];
}

const OPTION_KEYS = ['subdir', 'transform', 'cacheDir', 'grayscale', 'classDepth', 'size'];
const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png'];
const ARCHIVE_EXTENSIONS = ['.tar', '.tar.gz', '.tgz'];
/** Bumped when the decoded bytes for the same inputs change (decoder settings, cache layout). */
const CACHE_VERSION = 1;

const isImage = (name: string): boolean => IMAGE_EXTENSIONS.some((e) => name.toLowerCase().endsWith(e));
const isArchive = (name: string): boolean => ARCHIVE_EXTENSIONS.some((e) => name.toLowerCase().endsWith(e));

/** A file of the split: its path relative to the split's root and how to read its bytes. */
interface SourceFile {
  rel: string;
  read: () => Promise<Buffer>;
}

/** A split's files and folders (paths relative to its root, '/'-separated). */
interface Listing {
  files: SourceFile[];
  dirs: string[];
}

/** What ImageFolder.load resolved from its options. */
interface Resolved {
  subdir: string | undefined;
  grayscale: boolean;
  classDepth: number | 'leaf';
  size: [number, number] | undefined;
}

/** `subdir` as '/'-separated components without empty or '.' parts; '..' is refused. */
function normalizeSubdir(owner: string, subdir: string): string {
  const parts = subdir.split(/[\\/]+/).filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw new RangeError(`${owner}: expected subdir to stay inside root but got '${subdir}'`);
  if (parts.length === 0) throw new RangeError(`${owner}: expected subdir to name a folder but got '${subdir}'`);
  return parts.join('/');
}

/** The part of `name` below `prefix` ('' for the prefix itself), or null when it is not below it. */
function below(name: string, prefix: string): string | null {
  if (prefix === '') return name;
  if (name === prefix) return '';
  return name.startsWith(`${prefix}/`) ? name.slice(prefix.length + 1) : null;
}

/** Lists a folder's files and sub-folders recursively (following symbolic links, as torchvision does). */
async function walkFolder(root: string): Promise<{ files: { rel: string; size: number; mtimeMs: number }[]; dirs: string[] }> {
  const files: { rel: string; size: number; mtimeMs: number }[] = [], dirs: string[] = [];
  const visit = async (rel: string): Promise<void> => {
    const entries = await fs.promises.readdir(path.join(root, rel), { withFileTypes: true });
    await Promise.all(entries.map(async (e) => {
      const child = rel ? `${rel}/${e.name}` : e.name;
      const stat = e.isSymbolicLink() || e.isFile() ? await fs.promises.stat(path.join(root, child)) : null;
      if (e.isDirectory() || stat?.isDirectory()) {
        dirs.push(child);
        await visit(child);
      } else if (stat?.isFile() && isImage(e.name)) {
        files.push({ rel: child, size: stat.size, mtimeMs: stat.mtimeMs });
      }
    }));
  };
  await visit('');
  return { files, dirs };
}

/**
 * Streams a tar archive (gzipped or not) and keeps the image files under `subdir` (or under
 * `<single top folder>/subdir`), with the folders seen.
 */
async function readArchive(owner: string, file: string, subdir: string | undefined): Promise<Listing> {
  const want = subdir ?? '';
  const direct: Listing = { files: [], dirs: [] }, wrapped: Listing = { files: [], dirs: [] };
  let foundDirect = false, foundWrapped = false;
  const tops = new Set<string>();
  const head = Buffer.alloc(2);
  const fd = await fs.promises.open(file, 'r');
  try {
    await fd.read(head, 0, 2, 0);
  } finally {
    await fd.close();
  }
  const extract = tar.extract();
  const source = fs.createReadStream(file);
  let failure: Error | null = null;
  const done = (err: NodeJS.ErrnoException | null): void => {
    if (err) failure = err;
  };
  if (head[0] === 0x1f && head[1] === 0x8b) pipeline(source, zlib.createGunzip(), extract, done);
  else pipeline(source, extract, done);
  try {
    for await (const entry of extract) {
      const name = entry.header.name.replace(/^(\.?\/)+/, '').replace(/\/+$/, '');
      const type = entry.header.type;
      if (name === '' || name.split('/').includes('..') || (type !== 'file' && type !== 'directory')) {
        entry.resume();
        continue;
      }
      tops.add(name.split('/')[0]);
      const relDirect = below(name, want);
      const relWrapped = subdir ? below(name, `${name.split('/')[0]}/${want}`) : null;
      foundDirect ||= relDirect !== null;
      foundWrapped ||= relWrapped !== null;
      if (type === 'directory' || (relDirect === null && relWrapped === null) || !isImage(name)) {
        if (type === 'directory') {
          if (relDirect) direct.dirs.push(relDirect);
          if (relWrapped) wrapped.dirs.push(relWrapped);
        }
        entry.resume();
        continue;
      }
      const chunks: Buffer[] = [];
      for await (const chunk of entry) chunks.push(chunk as Buffer);
      const bytes = Buffer.concat(chunks);
      const read = (): Promise<Buffer> => Promise.resolve(bytes);
      if (relDirect) direct.files.push({ rel: relDirect, read });
      if (relWrapped) wrapped.files.push({ rel: relWrapped, read });
    }
  } catch (err) {
    throw new Error(`${owner}: cannot read the archive ${file}: ${((failure ?? err) as Error).message}`);
  }
  if (failure) throw new Error(`${owner}: cannot read the archive ${file}: ${(failure as Error).message}`);
  if (foundDirect) return direct;
  if (foundWrapped && tops.size === 1) return wrapped;
  throw new RangeError(`${owner}: expected a folder '${want}' in the archive ${file} but found none ` +
    `(its top-level entries: ${[...tops].sort().slice(0, 10).join(', ') || 'none'})`);
}

/**
 * The classes (folders at `depth`) and the samples ordered as torchvision orders them. Names are compared
 * as UTF-8 bytes, which is Unicode code point order (Python's sort), not JavaScript's UTF-16 order.
 */
function planSamples(owner: string, where: string, listing: Listing, depth: number | 'leaf'): { classes: string[]; files: SourceFile[]; labels: Int32Array } {
  const classSet = new Set<string>();
  const classOf = (rel: string): string => (depth === 'leaf' ? rel.slice(0, rel.lastIndexOf('/')) : rel.split('/').slice(0, depth).join('/'));
  const inClass = listing.files.filter((f) => f.rel.split('/').length > (depth === 'leaf' ? 1 : depth));
  if (depth === 'leaf') {
    inClass.forEach((f) => classSet.add(classOf(f.rel)));
  } else {
    const addPrefix = (dir: string): void => {
      const parts = dir.split('/');
      if (parts.length >= depth) classSet.add(parts.slice(0, depth).join('/'));
    };
    listing.dirs.forEach(addPrefix);
    inClass.forEach((f) => addPrefix(f.rel.slice(0, f.rel.lastIndexOf('/'))));
  }
  const classes = [...classSet].map((c) => ({ c, key: Buffer.from(c) })).sort((a, b) => Buffer.compare(a.key, b.key)).map((x) => x.c);
  if (classes.length === 0) {
    const levels = depth === 'leaf' ? 'holding images' : `${depth} level${depth > 1 ? 's' : ''} below`;
    throw new RangeError(`${owner}: expected class folders ${levels} ${where} but found none`);
  }
  const index = new Map(classes.map((c, i) => [c, i]));
  const keyed = inClass.map((f) => {
    const slash = f.rel.lastIndexOf('/');
    const label = index.get(classOf(f.rel)) as number;
    return { f, label, dir: Buffer.from(f.rel.slice(0, slash)), name: Buffer.from(f.rel.slice(slash + 1)) };
  });
  keyed.sort((a, b) => a.label - b.label || Buffer.compare(a.dir, b.dir) || Buffer.compare(a.name, b.name));
  const counts = new Int32Array(classes.length);
  keyed.forEach((k) => counts[k.label]++);
  const empty = classes.filter((_, i) => counts[i] === 0);
  if (empty.length > 0) {
    throw new RangeError(`${owner}: expected JPEG or PNG files in every class folder of ${where} but found none in ` +
      `${empty.slice(0, 5).map((c) => `'${c}'`).join(', ')}${empty.length > 5 ? ` and ${empty.length - 5} more` : ''}`);
  }
  return { classes, files: keyed.map((k) => k.f), labels: Int32Array.from(keyed, (k) => k.label) };
}

/** Luma of interleaved RGB bytes with PIL's integer weights (ITU-R 601-2, as Image.convert('L')). */
function luma(rgb: Buffer): Buffer {
  const out = Buffer.alloc(rgb.length / 3);
  for (let p = 0; p < out.length; p++) out[p] = (rgb[3 * p] * 19595 + rgb[3 * p + 1] * 38470 + rgb[3 * p + 2] * 7471 + 0x8000) >>> 16;
  return out;
}

/** How `decodeImage` turns an encoded file into pixels. */
export interface DecodeOptions {
  /** 1 channel (luma, as PIL's convert('L')) instead of 3 (sRGB). */
  grayscale?: boolean;
  /** Resize to [height, width] with sharp's bilinear kernel ('fill': no crop, no letterbox). */
  size?: readonly [number, number];
}

/**
 * Decodes one JPEG or PNG with sharp to uint8 HWC pixels: sRGB without alpha, as PIL's convert('RGB') gives;
 * with `grayscale`, PIL's convert('L') of that (which keeps gray sources exact). ImageFolder decodes every
 * sample with it and prediction decodes its input files with it, so both see the same pixels.
 * @throws Error naming `name` when the bytes are not a decodable image.
 */
export async function decodeImage(owner: string, name: string, bytes: Buffer, o: DecodeOptions = {}): Promise<RawImage & { data: Uint8Array }> {
  let image = sharp(bytes).removeAlpha();
  if (o.size) image = image.resize(o.size[1], o.size[0], { fit: 'fill', kernel: 'linear' });
  let out: { data: Buffer; info: OutputInfo };
  try {
    out = await image.toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  } catch (err) {
    throw new Error(`${owner}: cannot decode ${name}: ${(err as Error).message}`);
  }
  if (out.info.channels !== 3) {
    throw new Error(`${owner}: expected ${name} to decode to 3 sRGB channels but got ${out.info.channels}`);
  }
  const data = o.grayscale ? luma(out.data) : out.data;
  return { data, height: out.info.height, width: out.info.width, channels: o.grayscale ? 1 : 3, layout: 'HWC' };
}

/** Decodes every file (at most a few at a time) into one store with decodeImage. */
async function decodeAll(owner: string, files: SourceFile[], o: Resolved): Promise<PixelStore> {
  const decoded: Uint8Array[] = new Array(files.length);
  const heights = new Int32Array(files.length), widths = new Int32Array(files.length);
  let next = 0;
  const work = async (): Promise<void> => {
    for (let i = next++; i < files.length; i = next++) {
      const image = await decodeImage(owner, files[i].rel, await files[i].read(), o);
      decoded[i] = image.data;
      heights[i] = image.height;
      widths[i] = image.width;
    }
  };
  await Promise.all(Array.from({ length: Math.min(files.length, Math.max(4, 2 * os.availableParallelism())) }, work));
  const store = createStore(o.grayscale ? 1 : 3, heights, widths);
  decoded.forEach((d, i) => store.pixels.set(d, store.offsets[i]));
  return store;
}

/** The cache folder: `cacheDir` when given, else the user's cache folder, else one under os.tmpdir(). */
async function cacheFolder(owner: string, cacheDir: string | undefined): Promise<string> {
  if (cacheDir !== undefined) {
    try {
      await fs.promises.mkdir(cacheDir, { recursive: true });
    } catch (err) {
      throw new Error(`${owner}: cannot create cacheDir ${cacheDir}: ${(err as Error).message}`);
    }
    return cacheDir;
  }
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  for (const dir of [path.join(base, 'neural-similarity'), path.join(os.tmpdir(), `neural-similarity-cache-${os.userInfo().uid}`)]) {
    try {
      await fs.promises.mkdir(dir, { recursive: true });
      await fs.promises.access(dir, fs.constants.W_OK);
      return dir;
    } catch {
      // not writable here: try the next place
    }
  }
  throw new Error(`${owner}: found no writable cache folder (tried ${base}/neural-similarity and os.tmpdir()); pass cacheDir, or cacheDir: null`);
}

/** A file-name-safe version of `s`. */
const safeName = (s: string): string => s.replace(/[^A-Za-z0-9._-]+/g, '_');

/** A labelled image dataset read from class folders (see the module comment); create it with `await ImageFolder.load(...)`. */
export class ImageFolder extends ImageDataset {
  /**
   * Each sample's path relative to the split's root, e.g. 'airplane/0001.jpg'.
   */
  readonly files: readonly string[];

  private constructor(images: CachedImages, transform: Transform | undefined,
                      /** The folder or archive the images came from (absolute). */
                      readonly root: string,
                      /** The split's folder inside root, as resolved (undefined: root itself). */
                      readonly subdir: string | undefined,
                      /** The decoded cache file used (null with cacheDir: null). */
                      readonly cacheFile: string | null,
                      /** Whether this load read the cache instead of decoding. */
                      readonly fromCache: boolean) {
    super('ImageFolder', images.store, images.labels, images.classes, transform);
    this.files = Object.freeze([...images.files]);
  }

  /**
   * Loads the split of `root` (a folder, or a .tar/.tar.gz/.tgz archive) selected by `options.subdir`:
   * from the decoded cache when it is current, else by decoding every image (then cached).
   */
  static async load(root: string, options?: ImageFolderOptions): Promise<ImageFolder> {
    const owner = 'ImageFolder';
    checkString(owner, 'root', root);
    const o = checkOptionKeys(owner, options, OPTION_KEYS);
    const resolved: Resolved = {
      subdir: o.subdir === undefined ? undefined : normalizeSubdir(owner, checkString(owner, 'subdir', o.subdir)),
      grayscale: checkBoolean(owner, 'grayscale', o.grayscale, false),
      classDepth: o.classDepth === 'leaf' ? 'leaf' : checkInteger(owner, 'classDepth', o.classDepth ?? 1, 1),
      size: o.size === undefined ? undefined : checkSize(owner, 'size', o.size),
    };
    if (o.cacheDir !== undefined && o.cacheDir !== null && (typeof o.cacheDir !== 'string' || o.cacheDir === '')) {
      throw new TypeError(`${owner}: expected cacheDir to be a folder path or null but got ${describe(o.cacheDir)}`);
    }
    imageTransformSteps(owner, o.transform); // fail on a bad transform before decoding anything

    const absolute = path.resolve(root);
    let stat: fs.Stats;
    try {
      stat = await fs.promises.stat(absolute);
    } catch {
      throw new Error(`${owner}: root ${absolute} does not exist`);
    }
    if (!stat.isDirectory() && !(stat.isFile() && isArchive(absolute))) {
      throw new TypeError(`${owner}: expected root to be a folder or a .tar, .tar.gz or .tgz archive but got ${absolute}`);
    }

    // The cache key: the source (archive: its size and modification time; folder: every image's path,
    // size and modification time) and every option that changes the decoded bytes.
    let folderListing: Listing | null = null;
    const key = crypto.createHash('sha256');
    key.update(JSON.stringify({ version: CACHE_VERSION, root: await fs.promises.realpath(absolute), ...resolved }));
    if (stat.isDirectory()) {
      const splitRoot = resolved.subdir ? path.join(absolute, resolved.subdir) : absolute;
      if (!(await fs.promises.stat(splitRoot).then((s) => s.isDirectory(), () => false))) {
        throw new RangeError(`${owner}: expected a folder '${resolved.subdir}' in ${absolute} but found none`);
      }
      const walked = await walkFolder(splitRoot);
      walked.files.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
      for (const f of walked.files) key.update(`${f.rel}\0${f.size}\0${f.mtimeMs}\n`);
      folderListing = {
        files: walked.files.map((f) => ({ rel: f.rel, read: () => fs.promises.readFile(path.join(splitRoot, f.rel)) })),
        dirs: walked.dirs,
      };
    } else {
      key.update(`archive\0${stat.size}\0${stat.mtimeMs}`);
    }
    const digest = key.digest('hex').slice(0, 16);

    const cacheDir = o.cacheDir === null ? null : await cacheFolder(owner, o.cacheDir);
    const cacheFile = cacheDir === null ? null
      : path.join(cacheDir, `${safeName(path.basename(absolute))}${resolved.subdir ? `-${safeName(resolved.subdir)}` : ''}-${digest}.nsimg`);
    const cached = cacheFile ? await readCache(cacheFile) : null;
    if (cached) return new ImageFolder(cached, o.transform, absolute, resolved.subdir, cacheFile, true);

    const listing = folderListing ?? await readArchive(owner, absolute, resolved.subdir);
    const where = resolved.subdir ? `${absolute} (subdir '${resolved.subdir}')` : absolute;
    const plan = planSamples(owner, where, listing, resolved.classDepth);
    const images: CachedImages = {
      classes: plan.classes,
      files: plan.files.map((f) => f.rel),
      labels: plan.labels,
      store: await decodeAll(owner, plan.files, resolved),
    };
    if (cacheFile) {
      try {
        await writeCache(cacheFile, images);
      } catch (err) {
        process.emitWarning(`${owner}: could not write the decoded cache ${cacheFile}: ${(err as Error).message}`);
      }
    }
    return new ImageFolder(images, o.transform, absolute, resolved.subdir, cacheFile, false);
  }
}

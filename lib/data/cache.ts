/**
 * The decoded-image cache of ImageFolder: every decoded image of one split in one binary file, so that a
 * second load reads a few hundred megabytes instead of decoding tens of thousands of JPEGs.
 *
 * Layout (little-endian):
 *
 *   8 bytes   magic "NSIMG01\n"
 *   4 bytes   n: byte length of the JSON header          4 bytes  zero
 *   n bytes   JSON header { count, channels, size: [h, w] | null, classes, files }, padded with spaces to 4
 *   4·count   labels (int32)
 *   8·count   heights then widths (int32 each), only when the images differ in size (size null)
 *   rest      pixels: uint8 HWC, image after image (fixed size per image when `size` is set)
 *
 * Files are written atomically (temporary file + rename), so a reader never sees half a cache; a file that
 * does not parse is treated as absent and rebuilt.
 */
import * as fs from 'fs';
import { writeFileAtomic } from '../io/atomic';
import { PixelStore, createStore } from './pixels';

const MAGIC = Buffer.from('NSIMG01\n', 'latin1');

/** The decoded images of one split, with what they were decoded from. */
export interface CachedImages {
  classes: string[];
  /** Each sample's path relative to the split's root. */
  files: string[];
  labels: Int32Array;
  store: PixelStore;
}

interface Header {
  count: number;
  channels: number;
  size: [number, number] | null;
  classes: string[];
  files: string[];
}

/** The common [h, w] of every image, or null when they differ. */
function commonSize(store: PixelStore): [number, number] | null {
  for (let i = 1; i < store.count; i++) {
    if (store.heights[i] !== store.heights[0] || store.widths[i] !== store.widths[0]) return null;
  }
  return store.count === 0 ? null : [store.heights[0], store.widths[0]];
}

const int32Bytes = (a: Int32Array): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** Writes `images` to `file` atomically. */
export async function writeCache(file: string, images: CachedImages): Promise<void> {
  const { store } = images;
  const size = commonSize(store);
  const header: Header = { count: store.count, channels: store.channels, size, classes: images.classes, files: images.files };
  let json = JSON.stringify(header);
  json += ' '.repeat((4 - (Buffer.byteLength(json) % 4)) % 4);
  const jsonBytes = Buffer.from(json, 'utf8');
  const lengths = Buffer.alloc(8);
  lengths.writeUInt32LE(jsonBytes.length, 0);
  const chunks: Uint8Array[] = [MAGIC, lengths, jsonBytes, int32Bytes(images.labels)];
  if (!size) chunks.push(int32Bytes(store.heights), int32Bytes(store.widths));
  chunks.push(store.pixels);
  await writeFileAtomic(file, chunks);
}

/** Reads exactly `target.byteLength` bytes at `position`; false when the file is shorter. */
async function readExactly(handle: fs.promises.FileHandle, target: Uint8Array, position: number): Promise<boolean> {
  for (let done = 0; done < target.byteLength; ) {
    const { bytesRead } = await handle.read(target, done, target.byteLength - done, position + done);
    if (bytesRead === 0) return false;
    done += bytesRead;
  }
  return true;
}

function validHeader(h: unknown): h is Header {
  if (h === null || typeof h !== 'object') return false;
  const o = h as Record<string, unknown>;
  const count = o.count, channels = o.channels, size = o.size;
  return Number.isInteger(count) && (count as number) >= 0 && (channels === 1 || channels === 3) &&
    (size === null || (Array.isArray(size) && size.length === 2 && size.every((d) => Number.isInteger(d) && d > 0))) &&
    Array.isArray(o.classes) && o.classes.every((c) => typeof c === 'string') &&
    Array.isArray(o.files) && o.files.length === count && o.files.every((f) => typeof f === 'string');
}

/** The images cached in `file`, or null when it is absent or not a valid cache file. */
export async function readCache(file: string): Promise<CachedImages | null> {
  let handle: fs.promises.FileHandle;
  try {
    handle = await fs.promises.open(file, 'r');
  } catch {
    return null;
  }
  try {
    const fileSize = (await handle.stat()).size;
    const prefix = Buffer.alloc(16);
    if (!(await readExactly(handle, prefix, 0)) || !prefix.subarray(0, 8).equals(MAGIC)) return null;
    const jsonLength = prefix.readUInt32LE(8);
    if (16 + jsonLength > fileSize) return null;
    const jsonBytes = Buffer.alloc(jsonLength);
    if (!(await readExactly(handle, jsonBytes, 16))) return null;
    let header: unknown;
    try {
      header = JSON.parse(jsonBytes.toString('utf8'));
    } catch {
      return null;
    }
    if (!validHeader(header)) return null;
    const { count, channels, size } = header;
    let position = 16 + jsonLength;
    const labels = new Int32Array(count);
    if (!(await readExactly(handle, int32Bytes(labels), position))) return null;
    position += 4 * count;
    const heights = new Int32Array(count), widths = new Int32Array(count);
    if (size) {
      heights.fill(size[0]);
      widths.fill(size[1]);
    } else {
      if (!(await readExactly(handle, int32Bytes(heights), position)) || !(await readExactly(handle, int32Bytes(widths), position + 4 * count))) return null;
      position += 8 * count;
      if (heights.some((d) => d <= 0) || widths.some((d) => d <= 0)) return null;
    }
    if (labels.some((l) => l < 0 || l >= header.classes.length)) return null;
    const store = createStore(channels, heights, widths);
    if (position + store.pixels.byteLength !== fileSize) return null;
    if (!(await readExactly(handle, store.pixels, position))) return null;
    return { classes: header.classes, files: header.files, labels, store };
  } finally {
    await handle.close();
  }
}

/**
 * The IDX format of MNIST-style datasets: a magic number (0x0000 type ndim), big-endian dimension sizes,
 * then the elements. Only unsigned-byte data (type 0x08) is used by image datasets. Files may be gzipped
 * (recognised by the gzip magic bytes, whatever their name).
 */
import * as fs from 'fs';
import * as zlib from 'zlib';
import { promisify } from 'util';

const gunzip = promisify(zlib.gunzip);

/** An IDX file's dimensions and bytes. */
export interface IdxArray {
  shape: number[];
  data: Uint8Array;
}

const isGzip = (buf: Uint8Array): boolean => buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b;

/** Parses the bytes of an unsigned-byte IDX file; `file` and `owner` name it in messages. */
function parseIdx(owner: string, file: string, buf: Buffer): IdxArray {
  if (buf.length < 4 || buf[0] !== 0 || buf[1] !== 0) throw new Error(`${owner}: ${file} is not an IDX file (bad magic number)`);
  if (buf[2] !== 0x08) throw new Error(`${owner}: ${file} holds type 0x${buf[2].toString(16)} but only unsigned bytes (0x08) are supported`);
  const ndim = buf[3];
  const offset = 4 + 4 * ndim;
  if (buf.length < offset) throw new Error(`${owner}: ${file} is truncated: its header needs ${offset} bytes but the file has ${buf.length}`);
  const shape: number[] = [];
  for (let i = 0; i < ndim; i++) shape.push(buf.readUInt32BE(4 + 4 * i));
  const count = shape.reduce((p, d) => p * d, 1);
  if (buf.length !== offset + count) {
    throw new Error(`${owner}: ${file} should hold ${count} elements for shape [${shape.join(', ')}] but holds ${buf.length - offset}`);
  }
  return { shape, data: new Uint8Array(buf.buffer, buf.byteOffset + offset, count) };
}

/** Reads an unsigned-byte IDX file (plain or gzipped), synchronously. */
export function readIdx(file: string): IdxArray {
  const raw = fs.readFileSync(file);
  return parseIdx('readIdx', file, isGzip(raw) ? zlib.gunzipSync(raw) : raw);
}

/** Reads an unsigned-byte IDX file (plain or gzipped) without blocking the event loop. */
export async function loadIdx(file: string): Promise<IdxArray> {
  const raw = await fs.promises.readFile(file);
  return parseIdx('loadIdx', file, isGzip(raw) ? await gunzip(raw) : raw);
}

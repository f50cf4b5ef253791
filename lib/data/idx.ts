/**
 * The IDX format of MNIST-style datasets: a magic number (0x0000 type ndim), big-endian dimension sizes,
 * then the elements. Only unsigned-byte data (type 0x08) is used by image datasets.
 */
import * as fs from 'fs';

/** An IDX file's dimensions and bytes. */
export interface IdxArray {
  shape: number[];
  data: Uint8Array;
}

/** Reads an unsigned-byte IDX file. */
export function readIdx(file: string): IdxArray {
  const buf = fs.readFileSync(file);
  if (buf.length < 4 || buf[0] !== 0 || buf[1] !== 0) throw new Error(`readIdx: ${file} is not an IDX file (bad magic number)`);
  if (buf[2] !== 0x08) throw new Error(`readIdx: ${file} holds type 0x${buf[2].toString(16)} but only unsigned bytes (0x08) are supported`);
  const ndim = buf[3];
  const shape: number[] = [];
  for (let i = 0; i < ndim; i++) shape.push(buf.readUInt32BE(4 + 4 * i));
  const offset = 4 + 4 * ndim;
  const count = shape.reduce((p, d) => p * d, 1);
  if (buf.length !== offset + count) {
    throw new Error(`readIdx: ${file} should hold ${count} elements for shape [${shape.join(', ')}] but holds ${buf.length - offset}`);
  }
  return { shape, data: new Uint8Array(buf.buffer, buf.byteOffset + offset, count) };
}

/**
 * safetensors files (Hugging Face's format, what `safetensors.torch.save_file` writes), so that weights move
 * between this library and PyTorch:
 *
 *   8 bytes   n, the header's length (unsigned 64-bit little-endian)
 *   n bytes   JSON header: { "__metadata__"?: { string: string }, name: { "dtype": "F32", "shape": [..],
 *             "data_offsets": [begin, end] }, ... }, padded with spaces to a multiple of 8
 *   rest      the tensors' bytes, row-major little-endian, back to back (offsets relative to this section)
 *
 * saveFile writes what the reference implementation writes (tensors ordered by dtype size, largest first,
 * then by name; compact JSON with `__metadata__` first), and writes it atomically. loadFile checks the
 * header as strictly as the reference does (the data must be covered exactly, without gaps or overlaps).
 */
import * as fs from 'fs';
import * as os from 'os';
import { Tensor, formatShape } from '../tensor';
import type { DType } from '../tensor';
import { tensor } from '../ops/creation';
import { writeFileAtomic } from './atomic';

/** What loadFile returns: the tensors by name, and the header's `__metadata__` ({} when absent). */
export interface SafetensorsContents {
  tensors: Record<string, Tensor>;
  metadata: Record<string, string>;
}

/** The reference implementation's limit on the header's size. */
const MAX_HEADER_BYTES = 100_000_000;

/** Format dtypes written by saveFile, with their order in the reference's sort (larger first). */
const WRITE_DTYPES: Record<DType, { name: string; rank: number }> = {
  float64: { name: 'F64', rank: 2 },
  float32: { name: 'F32', rank: 1 },
  int32: { name: 'I32', rank: 0 },
};

/** Every dtype of the format: element bytes, and the library dtype it loads as (null: not supported). */
const FORMAT_DTYPES: Record<string, { bytes: number; loadsAs: DType | null }> = {
  BOOL: { bytes: 1, loadsAs: 'int32' },
  U8: { bytes: 1, loadsAs: 'int32' },
  I8: { bytes: 1, loadsAs: 'int32' },
  I16: { bytes: 2, loadsAs: 'int32' },
  U16: { bytes: 2, loadsAs: 'int32' },
  I32: { bytes: 4, loadsAs: 'int32' },
  U32: { bytes: 4, loadsAs: 'int32' },
  I64: { bytes: 8, loadsAs: 'int32' },
  U64: { bytes: 8, loadsAs: 'int32' },
  F16: { bytes: 2, loadsAs: 'float32' },
  BF16: { bytes: 2, loadsAs: 'float32' },
  F32: { bytes: 4, loadsAs: 'float32' },
  F64: { bytes: 8, loadsAs: 'float64' },
  F8_E5M2: { bytes: 1, loadsAs: null },
  F8_E4M3: { bytes: 1, loadsAs: null },
  F8_E8M0: { bytes: 1, loadsAs: null },
  C64: { bytes: 8, loadsAs: null },
};

function checkLittleEndian(op: string): void {
  if (os.endianness() !== 'LE') throw new Error(`${op}: safetensors data is little-endian and this machine is big-endian, which is not supported`);
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (value instanceof Tensor) return `a tensor of shape ${formatShape(value.shape)}`;
  return typeof value === 'object' ? `an object (${(value as object).constructor?.name ?? 'Object'})` : typeof value;
}

/** A plain object (not null, not an array). */
function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value) && !(value instanceof Tensor);
}

/** The bytes of a typed array (a view, not a copy). */
const bytesOf = (a: ArrayBufferView): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/**
 * Writes `tensors` (and string `metadata`, stored as the header's `__metadata__`) to `path` in the
 * safetensors format. The file is replaced atomically: written to a temporary file in the same folder,
 * flushed to disk, renamed over `path`, and the folder flushed, so a crash or kill mid-write leaves the
 * previous file intact. Tensors are read one at a time (`await t.data()`).
 */
export async function saveFile(path: string, tensors: Record<string, Tensor>, metadata?: Record<string, string>): Promise<void> {
  const op = 'saveFile';
  checkLittleEndian(op);
  if (typeof path !== 'string' || path === '') throw new TypeError(`${op}: expected path to be a non-empty string but got ${kindOf(path)}`);
  if (!isRecord(tensors)) throw new TypeError(`${op}: expected tensors to be an object of name → Tensor but got ${kindOf(tensors)}`);
  const entries = Object.entries(tensors).map(([name, t]) => {
    if (name === '' || name === '__metadata__') throw new RangeError(`${op}: expected tensor names to be non-empty and not '__metadata__' but got '${name}'`);
    if (!(t instanceof Tensor)) throw new TypeError(`${op}: expected tensors['${name}'] to be a Tensor but got ${kindOf(t)}`);
    if (t.isDisposed) throw new Error(`${op}: tensors['${name}'] (shape ${formatShape(t.shape)}) is disposed`);
    return { name, t, key: Buffer.from(name, 'utf8'), format: WRITE_DTYPES[t.dtype] };
  });
  if (metadata !== undefined) {
    if (!isRecord(metadata)) throw new TypeError(`${op}: expected metadata to be an object of string → string but got ${kindOf(metadata)}`);
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new TypeError(`${op}: expected metadata['${k}'] to be a string but got ${kindOf(v)}`);
    }
  }
  // The reference's order: by dtype, larger alignment first, then by name (bytewise).
  entries.sort((a, b) => b.format.rank - a.format.rank || Buffer.compare(a.key, b.key));
  // Built by hand rather than with JSON.stringify(object): objects put integer-like keys ("0", "12") first.
  const fields: string[] = [];
  if (metadata !== undefined) {
    fields.push(`"__metadata__":{${Object.entries(metadata).map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',')}}`);
  }
  let offset = 0;
  for (const e of entries) {
    const end = offset + e.t.byteLength;
    fields.push(`${JSON.stringify(e.name)}:{"dtype":"${e.format.name}","shape":[${e.t.shape.join(',')}],"data_offsets":[${offset},${end}]}`);
    offset = end;
  }
  let header = `{${fields.join(',')}}`;
  header += ' '.repeat((8 - (Buffer.byteLength(header, 'utf8') % 8)) % 8);
  const headerBytes = Buffer.from(header, 'utf8');
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(headerBytes.length));
  async function* chunks(): AsyncGenerator<Uint8Array> {
    yield length;
    yield headerBytes;
    for (const e of entries) yield bytesOf(await e.t.data());
  }
  await writeFileAtomic(path, chunks());
}

/** A header entry after validation. */
interface Entry {
  name: string;
  dtype: string;
  shape: number[];
  begin: number;
  end: number;
}

/** Validates the parsed header (a JSON object); `fail` throws with the file named. */
function parseHeader(header: Record<string, unknown>, dataBytes: number, fail: (msg: string, cls?: ErrorConstructor) => never):
    { entries: Entry[]; metadata: Record<string, string> } {
  const metadata: Record<string, string> = {};
  const entries: Entry[] = [];
  for (const [name, value] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (!isRecord(value)) fail(`expected __metadata__ to be an object of string → string but got ${kindOf(value)}`);
      for (const [k, v] of Object.entries(value)) {
        if (typeof v !== 'string') fail(`expected __metadata__['${k}'] to be a string but got ${kindOf(v)}`);
        metadata[k] = v;
      }
      continue;
    }
    if (!isRecord(value)) fail(`expected tensor '${name}' to be an object { dtype, shape, data_offsets } but got ${kindOf(value)}`);
    const { dtype, shape, data_offsets: offsets } = value;
    if (typeof dtype !== 'string') fail(`expected tensor '${name}' to have a string dtype but got ${kindOf(dtype)}`);
    const format = FORMAT_DTYPES[dtype];
    if (!format) fail(`tensor '${name}' has unknown dtype '${dtype}' (known: ${Object.keys(FORMAT_DTYPES).join(', ')})`);
    if (!format.loadsAs) fail(`tensor '${name}' has dtype ${dtype}, which neural-similarity cannot load (it loads float32, float64 and int32 tensors)`);
    const isCount = (d: unknown): d is number => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0;
    if (!Array.isArray(shape) || !shape.every(isCount)) fail(`expected tensor '${name}' to have a shape of non-negative integers but got ${JSON.stringify(shape)}`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount) || offsets[0] > offsets[1]) {
      fail(`expected tensor '${name}' to have data_offsets [begin, end] with 0 ≤ begin ≤ end but got ${JSON.stringify(offsets)}`);
    }
    const elements = shape.reduce((p: number, d: number) => p * d, 1);
    if (!Number.isSafeInteger(elements * format.bytes)) fail(`tensor '${name}' has shape ${formatShape(shape)}, too large to address`);
    const [begin, end] = offsets as [number, number];
    if (end - begin !== elements * format.bytes) {
      fail(`tensor '${name}' has shape ${formatShape(shape)} of ${dtype} (${elements * format.bytes} bytes) but data_offsets [${begin}, ${end}] span ${end - begin} bytes`);
    }
    entries.push({ name, dtype, shape: shape as number[], begin, end });
  }
  // The data must be covered exactly: sorted by offsets, each tensor starts where the previous one ends.
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  let previous = '';
  for (const e of sorted) {
    if (e.begin < covered) fail(`tensor '${e.name}' (data_offsets [${e.begin}, ${e.end}]) overlaps tensor '${previous}' (which ends at ${covered})`);
    if (e.begin > covered) fail(`tensor '${e.name}' starts at ${e.begin} but the previous data ends at ${covered} (a gap of ${e.begin - covered} bytes)`);
    covered = e.end;
    previous = e.name;
  }
  if (covered !== dataBytes) fail(`the tensors cover ${covered} bytes but the data section holds ${dataBytes}`);
  return { entries, metadata };
}

/** The elements of a tensor stored as `dtype` in `raw` (its exact bytes), as an array of the library dtype. */
function decodeElements(dtype: string, raw: Uint8Array, fail: (msg: string, cls?: ErrorConstructor) => never, name: string):
    Float32Array | Float64Array | Int32Array {
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const count = (bytes: number): number => raw.byteLength / bytes;
  const ints = (bytes: number, get: (i: number) => number | bigint): Int32Array => {
    const out = new Int32Array(count(bytes));
    for (let i = 0; i < out.length; i++) {
      const v = get(i);
      if (v < -(2 ** 31) || v >= 2 ** 31) fail(`tensor '${name}' (${dtype}) holds ${v} at element ${i}, outside the int32 range it loads as`, RangeError);
      out[i] = Number(v);
    }
    return out;
  };
  const halves = (toFloat: (bits: number) => number): Float32Array =>
    Float32Array.from({ length: count(2) }, (_, i) => toFloat(view.getUint16(2 * i, true)));
  switch (dtype) {
    case 'F32': return new Float32Array(raw.buffer, raw.byteOffset, count(4));
    case 'F64': return new Float64Array(raw.buffer, raw.byteOffset, count(8));
    case 'I32': return new Int32Array(raw.buffer, raw.byteOffset, count(4));
    case 'BOOL': case 'U8': return Int32Array.from(raw);
    case 'I8': return ints(1, (i) => view.getInt8(i));
    case 'I16': return ints(2, (i) => view.getInt16(2 * i, true));
    case 'U16': return ints(2, (i) => view.getUint16(2 * i, true));
    case 'U32': return ints(4, (i) => view.getUint32(4 * i, true));
    case 'I64': return ints(8, (i) => view.getBigInt64(8 * i, true));
    case 'U64': return ints(8, (i) => view.getBigUint64(8 * i, true));
    case 'BF16': {
      const word = new Uint32Array(1), asFloat = new Float32Array(word.buffer);
      return halves((bits) => {
        word[0] = bits << 16;
        return asFloat[0];
      });
    }
    default: return halves(halfToFloat); // F16
  }
}

/** An IEEE half-precision bit pattern as a number. */
function halfToFloat(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1, exponent = (bits >> 10) & 0x1f, fraction = bits & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 0x1f) return fraction ? NaN : sign * Infinity;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

/**
 * Reads a safetensors file: its tensors by name and its `__metadata__` ({} when absent). F32, F64 and
 * I32 load as float32, float64 and int32; F16 and BF16 widen to float32; BOOL, U8, I8, I16, U16, U32,
 * I64 and U64 load as int32 (a value outside the int32 range is a RangeError). Malformed files are
 * rejected with an Error naming the file and the fault.
 */
export async function loadFile(path: string): Promise<SafetensorsContents> {
  const op = 'loadFile';
  checkLittleEndian(op);
  if (typeof path !== 'string' || path === '') throw new TypeError(`${op}: expected path to be a non-empty string but got ${kindOf(path)}`);
  function fail(msg: string, cls: ErrorConstructor = Error): never {
    throw new cls(`${op}: ${path}: ${msg}`);
  }
  const handle = await fs.promises.open(path, 'r');
  const loaded: Record<string, Tensor> = {};
  try {
    const size = (await handle.stat()).size;
    const read = async (bytes: number, position: number): Promise<Uint8Array> => {
      const out = new Uint8Array(bytes);
      for (let done = 0; done < bytes; ) {
        const { bytesRead } = await handle.read(out, done, bytes - done, position + done);
        if (bytesRead === 0) fail(`the file ended at ${position + done} bytes while reading`);
        done += bytesRead;
      }
      return out;
    };
    if (size < 8) fail(`the file has ${size} bytes, fewer than the 8 of the header length`);
    const n = Buffer.from(await read(8, 0)).readBigUInt64LE(0);
    if (n > BigInt(MAX_HEADER_BYTES)) fail(`the header length is ${n} bytes, over the format's limit of ${MAX_HEADER_BYTES}`);
    const headerLength = Number(n);
    if (8 + headerLength > size) fail(`the header length is ${headerLength} bytes but the file has only ${size - 8} after the length`);
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(await read(headerLength, 8));
    } catch {
      return fail('the header is not valid UTF-8');
    }
    if (!text.startsWith('{')) fail(`expected the header to start with '{' but it starts with ${JSON.stringify(text.slice(0, 8))}`);
    let header: Record<string, unknown>;
    try {
      header = JSON.parse(text); // an object: the text starts with '{'
    } catch (err) {
      return fail(`the header is not valid JSON (${(err as Error).message})`);
    }
    const dataStart = 8 + headerLength;
    const { entries, metadata } = parseHeader(header, size - dataStart, fail);
    for (const e of entries) {
      const format = FORMAT_DTYPES[e.dtype];
      const elements = decodeElements(e.dtype, await read(e.end - e.begin, dataStart + e.begin), fail, e.name);
      loaded[e.name] = tensor(elements, e.shape, { dtype: format.loadsAs as DType });
    }
    return { tensors: loaded, metadata };
  } catch (err) {
    for (const t of Object.values(loaded)) t.dispose();
    throw err;
  } finally {
    await handle.close();
  }
}

/**
 * safetensors files (lib/io/safetensors.ts): round trips, the exact bytes of the reference implementation
 * (the vectors of huggingface/safetensors' own tests), files written by hand following Python's rules,
 * strict rejection of malformed headers, and atomic replacement checked by killing a writer mid-write.
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ns from '../lib';
import { loadFile, saveFile } from '../lib/io/safetensors';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ns-safetensors-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
let fileCount = 0;
const fresh = (): string => path.join(tmp, `t${fileCount++}.safetensors`);

/** A safetensors file from its parts: header text (padded with spaces to `pad`) and data bytes. */
function handWritten(header: string, data: Buffer, pad = 8): Buffer {
  const text = header + ' '.repeat((pad - (Buffer.byteLength(header) % pad)) % pad);
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(Buffer.byteLength(text)));
  return Buffer.concat([length, Buffer.from(text), data]);
}

const f32 = (...v: number[]): Buffer => Buffer.from(Float32Array.from(v).buffer);

test('round trip: float32, float64, int32, scalars, empty tensors, any names, metadata', async () => {
  const file = fresh();
  const tensors = {
    'conv.weight': ns.tensor(Float32Array.from({ length: 24 }, (_, i) => i / 7 - 1), [2, 3, 2, 2]),
    'bn.running_var': ns.tensor([0.1, 1e-300, -2.5], [3], { dtype: 'float64' }),
    'bn.num_batches_tracked': ns.tensor(Int32Array.of(-7), []),
    '0': ns.tensor(Int32Array.of(1, 2, 3, 4), [2, 2]),
    'empty': ns.zeros([0, 3]),
    'ünïcødé 名前': ns.tensor([42], [1]),
  };
  await saveFile(file, tensors, { format: 'pt', note: 'a "quoted" ✓' });
  const { tensors: loaded, metadata } = await loadFile(file);
  expect(metadata).toEqual({ format: 'pt', note: 'a "quoted" ✓' });
  expect(Object.keys(loaded).sort()).toEqual(Object.keys(tensors).sort());
  for (const [name, t] of Object.entries(tensors)) {
    expect([name, loaded[name].shape, loaded[name].dtype]).toEqual([name, t.shape, t.dtype]);
    expect(Array.from(loaded[name].dataSync())).toEqual(Array.from(t.dataSync()));
  }
  expect(fs.readdirSync(tmp).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  // Without metadata: {} back, and no __metadata__ in the header.
  await saveFile(file, { x: tensors['0'] });
  expect((await loadFile(file)).metadata).toEqual({});
  expect(fs.readFileSync(file).toString('latin1')).not.toContain('__metadata__');
});

describe('the reference implementation\'s bytes', () => {
  test('one F32 tensor (64-byte header, no padding) and the 8-byte alignment padding', async () => {
    const file = fresh();
    await saveFile(file, { 'attn.0': ns.tensor([0, 1, 2, 3, 4, 5], [1, 2, 3]) });
    expect(fs.readFileSync(file)).toEqual(handWritten('{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}', f32(0, 1, 2, 3, 4, 5)));
    expect(fs.readFileSync(file).readBigUInt64LE(0)).toBe(64n);
    await saveFile(file, { attn0: ns.tensor([0, 1, 2, 3, 4, 5], [1, 1, 2, 3]) });
    const bytes = fs.readFileSync(file);
    expect(bytes.readBigUInt64LE(0)).toBe(72n); // 65 bytes of JSON and 7 spaces
    expect(bytes.subarray(8, 80).toString()).toBe(`{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}${' '.repeat(7)}`);
  });

  test('no tensors; metadata only', async () => {
    const file = fresh();
    await saveFile(file, {});
    expect(Array.from(fs.readFileSync(file))).toEqual([8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32]);
    await saveFile(file, {}, { framework: 'pt' });
    expect(fs.readFileSync(file)).toEqual(handWritten('{"__metadata__":{"framework":"pt"}}', Buffer.alloc(0)));
    expect(fs.readFileSync(file).length).toBe(48);
  });

  test('order: by dtype size (F64, F32, I32), then by name; __metadata__ first', async () => {
    const file = fresh();
    await saveFile(file, {
      b: ns.tensor(Int32Array.of(1), [1]), a: ns.tensor([2], [1]), '10': ns.tensor([3], [1], { dtype: 'float64' }), c: ns.tensor([4], [1]),
    }, { k: 'v' });
    const bytes = fs.readFileSync(file);
    const header = bytes.subarray(8, 8 + Number(bytes.readBigUInt64LE(0))).toString().trimEnd();
    expect(header).toBe('{"__metadata__":{"k":"v"},"10":{"dtype":"F64","shape":[1],"data_offsets":[0,8]},' +
      '"a":{"dtype":"F32","shape":[1],"data_offsets":[8,12]},"c":{"dtype":"F32","shape":[1],"data_offsets":[12,16]},' +
      '"b":{"dtype":"I32","shape":[1],"data_offsets":[16,20]}}');
  });
});

test('a file written by hand with Python\'s rules loads: any key order, I64/F16/BF16/U8 converted', async () => {
  const file = fresh();
  const i64 = Buffer.alloc(8);
  i64.writeBigInt64LE(12345n);
  // F16 1.5 = 0x3e00, −2 = 0xc000; BF16 3.0 = 0x4040; U8 200.
  const half = Buffer.from([0x00, 0x3e, 0x00, 0xc0]);
  const bf16 = Buffer.from([0x40, 0x40]);
  const data = Buffer.concat([f32(1, -2, 3.5, 0.25), i64, half, bf16, Buffer.from([200])]);
  fs.writeFileSync(file, handWritten(
    '{"running.count": {"dtype": "I64", "shape": [], "data_offsets": [16, 24]},\n' +
    ' "w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]},\n' +
    ' "__metadata__": {"format": "pt"},\n' +
    ' "h": {"dtype": "F16", "shape": [2], "data_offsets": [24, 28]},\n' +
    ' "g": {"dtype": "BF16", "shape": [1], "data_offsets": [28, 30]},\n' +
    ' "mask": {"dtype": "U8", "shape": [1, 1], "data_offsets": [30, 31]}}', data));
  const { tensors, metadata } = await loadFile(file);
  expect(metadata).toEqual({ format: 'pt' });
  const view = (name: string): unknown => [tensors[name].shape, tensors[name].dtype, Array.from(tensors[name].dataSync())];
  expect(view('w')).toEqual([[2, 2], 'float32', [1, -2, 3.5, 0.25]]);
  expect(view('running.count')).toEqual([[], 'int32', [12345]]);
  expect(view('h')).toEqual([[2], 'float32', [1.5, -2]]);
  expect(view('g')).toEqual([[1], 'float32', [3]]);
  expect(view('mask')).toEqual([[1, 1], 'int32', [200]]);
});

describe('malformed files are rejected, naming the file and the fault', () => {
  const entry = (name: string, dtype: string, shape: number[], begin: number, end: number): string =>
    `"${name}":{"dtype":"${dtype}","shape":${JSON.stringify(shape)},"data_offsets":[${begin},${end}]}`;
  const huge = Buffer.alloc(16);
  huge.writeBigUInt64LE(100_000_001n);
  const long = Buffer.alloc(16);
  long.writeBigUInt64LE(9n);
  const i64 = Buffer.alloc(8);
  i64.writeBigInt64LE(2n ** 40n);
  const cases: [string, Buffer, ErrorConstructor, string | RegExp][] = [
    ['a file shorter than the length', Buffer.from([1, 2, 3]), Error, 'the file has 3 bytes, fewer than the 8 of the header length'],
    ['a header over the 100 MB limit', huge, Error, 'the header length is 100000001 bytes, over the format\'s limit of 100000000'],
    ['a header longer than the file', long, Error, 'the header length is 9 bytes but the file has only 8 after the length'],
    ['a header that is not UTF-8', handWritten('{"a\xff":1}', Buffer.alloc(0)).fill(0xff, 11, 12), Error, 'the header is not valid UTF-8'],
    ['a header that is not an object', handWritten('[1, 2]', Buffer.alloc(0)), Error, 'expected the header to start with \'{\' but it starts with "[1, 2]  "'],
    ['a header that is not JSON', handWritten('{"a": }', Buffer.alloc(0)), Error, /^the header is not valid JSON \(/],
    ['an unknown dtype', handWritten(`{${entry('w', 'F17', [1], 0, 4)}}`, f32(1)), Error,
      "tensor 'w' has unknown dtype 'F17' (known: BOOL, U8, I8, I16, U16, I32, U32, I64, U64, F16, BF16, F32, F64, F8_E5M2, F8_E4M3, F8_E8M0, C64)"],
    ['a dtype this library cannot hold', handWritten(`{${entry('w', 'F8_E4M3', [1], 0, 1)}}`, Buffer.alloc(1)), Error,
      "tensor 'w' has dtype F8_E4M3, which neural-similarity cannot load (it loads float32, float64 and int32 tensors)"],
    ['a negative dimension', handWritten(`{${entry('w', 'F32', [-1], 0, 4)}}`, f32(1)), Error,
      "expected tensor 'w' to have a shape of non-negative integers but got [-1]"],
    ['reversed offsets', handWritten(`{${entry('w', 'F32', [1], 4, 0)}}`, f32(1)), Error,
      "expected tensor 'w' to have data_offsets [begin, end] with 0 ≤ begin ≤ end but got [4,0]"],
    ['a size that does not match the shape', handWritten(`{${entry('w', 'F32', [2, 3], 0, 20)}}`, Buffer.alloc(20)), Error,
      "tensor 'w' has shape [2, 3] of F32 (24 bytes) but data_offsets [0, 20] span 20 bytes"],
    ['overlapping tensors', handWritten(`{${entry('a', 'F32', [2], 0, 8)},${entry('b', 'F32', [2], 4, 12)}}`, Buffer.alloc(12)), Error,
      "tensor 'b' (data_offsets [4, 12]) overlaps tensor 'a' (which ends at 8)"],
    ['a gap between tensors', handWritten(`{${entry('a', 'F32', [1], 0, 4)},${entry('b', 'F32', [1], 8, 12)}}`, Buffer.alloc(12)), Error,
      "tensor 'b' starts at 8 but the previous data ends at 4 (a gap of 4 bytes)"],
    ['trailing data', handWritten(`{${entry('a', 'F32', [1], 0, 4)}}`, Buffer.alloc(8)), Error, 'the tensors cover 4 bytes but the data section holds 8'],
    ['missing data', handWritten(`{${entry('a', 'F32', [2], 0, 8)}}`, Buffer.alloc(4)), Error, 'the tensors cover 8 bytes but the data section holds 4'],
    ['metadata that is not string → string', handWritten(`{"__metadata__":{"epoch":3},${entry('a', 'F32', [1], 0, 4)}}`, f32(1)), Error,
      "expected __metadata__['epoch'] to be a string but got number"],
    ['a tensor entry without dtype', handWritten('{"a":{"shape":[1],"data_offsets":[0,4]}}', f32(1)), Error,
      "expected tensor 'a' to have a string dtype but got undefined"],
    ['an I64 beyond int32', handWritten(`{${entry('n', 'I64', [], 0, 8)}}`, i64), RangeError,
      "tensor 'n' (I64) holds 1099511627776 at element 0, outside the int32 range it loads as"],
  ];
  test.each(cases)('%s', async (_name, bytes, cls, message) => {
    const file = fresh();
    fs.writeFileSync(file, bytes);
    const err = await loadFile(file).then(() => null, (e: Error) => e);
    expect(err?.constructor.name).toBe(cls.name);
    const prefix = `loadFile: ${file}: `;
    expect(err?.message.startsWith(prefix)).toBe(true);
    if (message instanceof RegExp) expect(err?.message.slice(prefix.length)).toMatch(message);
    else expect(err?.message.slice(prefix.length)).toBe(message);
  });
});

test('saveFile checks its arguments before touching the file', async () => {
  const file = fresh();
  await saveFile(file, { a: ns.ones([2]) });
  const before = fs.readFileSync(file);
  const gone = ns.ones([2]);
  gone.dispose();
  await expect(saveFile(file, [ns.ones([1])] as never)).rejects.toThrow('saveFile: expected tensors to be an object of name → Tensor but got an array');
  await expect(saveFile(file, { __metadata__: ns.ones([1]) })).rejects.toThrow("saveFile: expected tensor names to be non-empty and not '__metadata__' but got '__metadata__'");
  await expect(saveFile(file, { a: [1, 2] as never })).rejects.toThrow("saveFile: expected tensors['a'] to be a Tensor but got an array");
  await expect(saveFile(file, { a: gone })).rejects.toThrow("saveFile: tensors['a'] (shape [2]) is disposed");
  await expect(saveFile(file, { a: ns.ones([1]) }, { epoch: 3 as never })).rejects.toThrow("saveFile: expected metadata['epoch'] to be a string but got number");
  await expect(saveFile(path.join(tmp, 'no-such-folder', 'x.safetensors'), { a: ns.ones([1]) })).rejects.toThrow(/ENOENT/);
  expect(fs.readFileSync(file)).toEqual(before);
  expect(fs.readdirSync(tmp).filter((f) => f.endsWith('.tmp'))).toEqual([]);
});

test('a writer killed (SIGKILL) in the middle of a large write leaves the previous file intact and loadable', async () => {
  const dir = fs.mkdtempSync(path.join(tmp, 'kill-'));
  const file = path.join(dir, 'model.safetensors');
  const previous = { w: ns.tensor([1, 2, 3], [3]), step: ns.tensor(Int32Array.of(7), [1]) };
  await saveFile(file, previous, { epoch: '1' });
  const before = fs.readFileSync(file);

  // A separate Node process (the library's TypeScript compiled on the fly) overwrites it with 256 MiB.
  const repo = path.resolve(__dirname, '..');
  const hook = `const ts = require(${JSON.stringify(require.resolve('typescript'))}); const fs = require('fs');
    require.extensions['.ts'] = (m, f) => m._compile(ts.transpileModule(fs.readFileSync(f, 'utf8'),
      { compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true }, fileName: f }).outputText, f);`;
  const script = `${hook}
    const ns = require(${JSON.stringify(path.join(repo, 'lib'))});
    const { saveFile } = require(${JSON.stringify(path.join(repo, 'lib', 'io', 'safetensors'))});
    saveFile(${JSON.stringify(file)}, { w: ns.ones([64 * 1024 * 1024]) }, { epoch: '2' }).then(() => console.log('finished'));`;
  const child = spawn(process.execPath, ['-e', script], { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));

  // Kill it as soon as its temporary file holds data.
  const temporary = await new Promise<string | null>((resolve) => {
    const poll = setInterval(() => {
      const tmpFile = fs.readdirSync(dir).find((f) => f.startsWith('.model.safetensors.') && f.endsWith('.tmp'));
      if (tmpFile && fs.statSync(path.join(dir, tmpFile)).size > 0) {
        clearInterval(poll);
        child.kill('SIGKILL');
        resolve(tmpFile);
      }
    }, 2);
    void exited.then(() => {
      clearInterval(poll);
      resolve(null);
    });
  });
  const signal = await exited;
  expect({ temporary: temporary !== null, signal, finished: output.includes('finished') }).toEqual({ temporary: true, signal: 'SIGKILL', finished: false });
  // The target still holds the previous file, byte for byte, and loads; the partial write stays aside.
  expect(fs.readFileSync(file).equals(before)).toBe(true);
  const { tensors, metadata } = await loadFile(file);
  expect([metadata, Array.from(tensors.w.dataSync()), Array.from(tensors.step.dataSync())]).toEqual([{ epoch: '1' }, [1, 2, 3], [7]]);
  expect(fs.statSync(path.join(dir, temporary as string)).size).toBeLessThan(64 * 1024 * 1024 * 4 + 128);
});

/**
 * Garbage to every native entry point: test/binding-garbage.js walks the addon's own table of entry points
 * (native/binding/entry_points.def) and calls each one (with wrong types, argument counts, lengths, buffer
 * dtypes, freed buffers, detached host arrays, non-finite, fractional, negative and huge integers, overflowing
 * sizes, out-of-range indices, strides past the end, getters that free a buffer) in a child process, so that a
 * crash fails this test instead of killing jest.
 */
import { spawnSync } from 'child_process';
import * as path from 'path';

interface CallResult {
  entry: string;
  kind: 'valid' | 'garbage';
  label: string;
  outcome: 'returned' | 'threw';
  cls?: string;
  message?: string;
}

const child = spawnSync(process.execPath, ['--expose-gc', path.join(__dirname, 'binding-garbage.js')], {
  encoding: 'utf8',
  timeout: 120000,
  maxBuffer: 64 * 1024 * 1024,
});
const report: { exported: string[]; table: string[]; covered: string[]; results: CallResult[] } | null =
  child.status === 0 ? JSON.parse(child.stdout) : null;

describe('native binding under garbage', () => {
  test('the child process survives every call', () => {
    // On a crash, the last case the child announced on stderr is the culprit.
    const lastCase = child.stderr.trim().split('\n').pop();
    expect({ signal: child.signal, status: child.status, error: child.error?.message, lastCase })
      .toEqual({ signal: null, status: 0, error: undefined, lastCase });
  });

  test('the exports are exactly the table of entry points, and every one is exercised', () => {
    expect(report).not.toBeNull();
    expect(report!.exported.length).toBeGreaterThanOrEqual(45);
    expect(report!.exported).toEqual(report!.table);
    expect(report!.covered).toEqual(report!.table);
  });

  const entries = report?.covered ?? [];
  test.each(entries)('%s: valid arguments work; every garbage call throws TypeError or RangeError naming it', (entry) => {
    const mine = report!.results.filter((r) => r.entry === entry);
    const valid = mine.filter((r) => r.kind === 'valid');
    const garbage = mine.filter((r) => r.kind === 'garbage');
    expect(valid.map((r) => [r.label, r.outcome])).toEqual([['valid arguments', 'returned']]);
    expect(garbage.length).toBeGreaterThanOrEqual(3);
    const wrong = garbage
      .filter((r) => !(r.outcome === 'threw' && (r.cls === 'TypeError' || r.cls === 'RangeError') && r.message!.startsWith(`${entry}: `)))
      .map((r) => `${r.label}: ${r.outcome} ${r.cls ?? ''} ${r.message ?? ''}`);
    expect(wrong).toEqual([]);
  });

  test('the errors say what was expected', () => {
    const find = (entry: string, label: string): CallResult => report!.results.find((r) => r.entry === entry && r.label === label)!;
    expect(find('unary', 'argument 1: a freed buffer')).toMatchObject({ cls: 'TypeError', message: "unary: argument 'x' is a buffer that was freed" });
    expect(find('unary', 'argument 1: int32 elements')).toMatchObject({ cls: 'TypeError', message: "unary: argument 'x' expected float32 or float64 elements but got int32" });
    expect(find('copy', "argument 2's getter frees argument 5")).toMatchObject({
      cls: 'TypeError', message: "copy: argument 'src' is a buffer that was freed" });
    expect(find('write', 'argument 2: a detached Float32Array')).toMatchObject({
      cls: 'TypeError', message: "write: argument 'src' is backed by a detached ArrayBuffer" });
    expect(find('oneHot', 'a label past the classes')).toMatchObject({
      cls: 'RangeError', message: 'oneHot: expected labels in [0, 3) but got 3 at index 1' });
    expect(find('maxPool2dBackward', 'a negative argmax index')).toMatchObject({
      cls: 'RangeError', message: "maxPool2dBackward: argument 'argmax' expected indices in [0, 16) but got -1 at 3" });
    expect(find('matmul', 'sizes whose product overflows')).toMatchObject({
      cls: 'RangeError', message: 'matmul: size is too large (more than 2^53 elements)' });
    expect(find('binary', 'strides reaching past the end of a')).toMatchObject({
      cls: 'RangeError', message: "binary: argument 'a' has 6 elements but the strides reach element 6" });
    expect(find('reduce', 'argument 1: fraction')).toMatchObject({
      cls: 'RangeError', message: "reduce: argument 'outer' expected an integer in [0, 9007199254740991] but got 1.5" });
    expect(find('cast', 'one argument too many')).toMatchObject({ cls: 'RangeError', message: 'cast: expected 2 arguments but got 3' });
  });
});

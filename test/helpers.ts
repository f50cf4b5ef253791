/**
 * Shared test helpers: seeded random data, tensors from reference arrays, tolerant comparison and
 * error assertions.
 */
import * as ns from '../lib';
import { Arr, size } from './reference';

export type FloatDtype = 'float32' | 'float64';
export const FLOAT_DTYPES: readonly FloatDtype[] = ['float32', 'float64'];

/** Tolerances against the float64 reference: float32 results loosely, float64 results tightly. */
export const TOL: Record<FloatDtype, { rtol: number; atol: number }> = {
  float32: { rtol: 2e-5, atol: 2e-5 },
  float64: { rtol: 1e-12, atol: 1e-12 },
};

/** A seeded generator of uniforms in [0, 1) (mulberry32): test data independent of the library's RNG. */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface RandOptions {
  lo?: number;
  hi?: number;
  /** Keep values at least this far from 0 (for ops with a kink there: relu, abs). */
  awayFromZero?: number;
}

/** Uniform random data of `shape` in [lo, hi), exactly representable in float32. */
export function rand(shape: number[], seed: number, { lo = -1, hi = 1, awayFromZero = 0 }: RandOptions = {}): Arr {
  const next = rng(seed);
  const data = new Float64Array(size(shape));
  for (let i = 0; i < data.length; i++) {
    let v = lo + (hi - lo) * next();
    if (Math.abs(v) < awayFromZero) v = v < 0 ? v - awayFromZero : v + awayFromZero;
    data[i] = Math.fround(v);
  }
  return { shape: [...shape], data };
}

/** A tensor holding `a` (converted to `dtype`). */
export function toTensor(a: Arr, dtype: ns.DType = 'float64', requiresGrad = false): ns.Tensor {
  return ns.tensor(a.data, a.shape, { dtype, requiresGrad });
}

/** The tensor's shape and elements as a reference array. */
export function fromTensor(t: ns.Tensor): Arr {
  return { shape: [...t.shape], data: Float64Array.from(t.dataSync()) };
}

/** Asserts |actual − expected| ≤ atol + rtol·|expected| element by element (and equal shapes). */
export function expectClose(actual: ns.Tensor | Arr, expected: Arr, tol: { rtol: number; atol: number }): void {
  const a = actual instanceof ns.Tensor ? fromTensor(actual) : actual;
  expect(a.shape).toEqual(expected.shape);
  const bad: string[] = [];
  for (let i = 0; i < expected.data.length; i++) {
    const x = a.data[i], y = expected.data[i];
    const ok = Number.isNaN(y) ? Number.isNaN(x) : x === y || Math.abs(x - y) <= tol.atol + tol.rtol * Math.abs(y);
    if (!ok && bad.length < 5) bad.push(`[${i}] got ${x}, expected ${y}`);
  }
  expect(bad).toEqual([]);
}

/**
 * Runs `op` on tensors of `dtype` built from `inputs` and compares with `ref` on the same values in
 * float64 (inputs are float32-representable, so both see identical operands).
 */
export function checkForward(dtype: FloatDtype, inputs: Arr[], op: (...xs: ns.Tensor[]) => ns.Tensor,
                             ref: (...xs: Arr[]) => Arr, tol = TOL[dtype]): void {
  ns.tidy(() => {
    const out = op(...inputs.map((a) => toTensor(a, dtype)));
    expect(out.dtype).toBe(dtype);
    expectClose(out, ref(...inputs), tol);
  });
}

type ErrorClass = typeof Error | typeof TypeError | typeof RangeError;

/**
 * Asserts that `fn` throws exactly `cls` (not a subclass: Error means plain Error) with a message
 * matching `message`. Classes are compared by name so that errors from another realm (the native
 * addon's) count.
 */
export function expectError(fn: () => unknown, cls: ErrorClass, message: RegExp | string): void {
  let thrown: unknown = undefined;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  expect(thrown).toBeDefined();
  const err = thrown as Error;
  expect(Object.getPrototypeOf(err)?.constructor?.name).toBe(cls.name);
  if (typeof message === 'string') expect(err.message).toBe(message);
  else expect(err.message).toMatch(message);
}

/** One error case of a table: a title, the call, the expected class and message. */
export type ErrorCase = [string, () => unknown, ErrorClass, RegExp | string];

/** Registers one test per error case. */
export function describeErrors(title: string, cases: ErrorCase[]): void {
  describe(title, () => {
    test.each(cases)('%s', (_name, fn, cls, message) => expectError(fn, cls, message));
  });
}

/** A disposed tensor of `shape`, for error cases. */
export function disposed(shape: number[] = [2, 2], dtype: ns.DType = 'float32'): ns.Tensor {
  const t = ns.zeros(shape, { dtype });
  t.dispose();
  return t;
}

/** Runs `fn` with the kernels on `threads` threads, then restores the previous count. */
export function withThreads<T>(threads: number, fn: () => T): T {
  const previous = ns.getNumThreads();
  ns.setNumThreads(threads);
  try {
    return fn();
  } finally {
    ns.setNumThreads(previous);
  }
}

/** int32 labels. */
export const labels = (values: number[]): ns.Tensor => ns.tensor(Int32Array.from(values), [values.length]);

/**
 * Full garbage collections now (V8's gc, exposed at run time), so that memory counts start from live tensors only.
 * Twice: objects freed by the first collection's finalizers (a tensor's storage, its buffer handle) can make others
 * unreachable only for the next one.
 */
export function collectGarbage(): void {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require('v8').setFlagsFromString('--expose-gc');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const gc = require('vm').runInNewContext('gc') as () => void;
  gc();
  gc();
}

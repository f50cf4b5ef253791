/**
 * Creating tensors: from data, constants, ranges and seeded random numbers.
 */
import { RandomKind } from '../backend/native.generated';
import { backendFor, defaultDevice } from '../backend/backend';
import { backendOf } from '../backend/context';
import { dtypeOf } from '../backend/storage';
import { DType, Tensor, Device, TypedArray, formatShape, sizeOf } from '../tensor';
import { checkInt, checkNumber, checkOptions, checkShape, checkTensor } from './util';

/** Options of the creation functions. */
export interface TensorOptions {
  /** Element type (default float32, or the typed array's own type). */
  dtype?: DType;
  /** Record operations on this tensor for autograd. */
  requiresGrad?: boolean;
  /** Device (default: ns.defaultDevice(), 'cuda' where a GPU is usable unless NEURAL_SIMILARITY_DEVICE says otherwise). */
  device?: Device;
}

const DTYPES: readonly DType[] = ['float32', 'float64', 'int32'];

const TENSOR_OPTIONS = ['dtype', 'requiresGrad', 'device'] as const;

function resolveOptions(op: string, options: TensorOptions | undefined, fallback: DType,
                        keys: readonly string[] = TENSOR_OPTIONS): Required<TensorOptions> {
  const o = checkOptions(op, options, keys);
  const dtype = o.dtype ?? fallback;
  if (!DTYPES.includes(dtype)) throw new TypeError(`${op}: expected dtype to be one of ${DTYPES.join(', ')} but got ${String(o.dtype)}`);
  const device = o.device ?? defaultDevice();
  if (device !== 'cpu' && device !== 'cuda') throw new TypeError(`${op}: expected device to be 'cpu' or 'cuda' but got ${String(device)}`);
  backendFor(op, device);
  const requiresGrad = o.requiresGrad ?? false;
  if (typeof requiresGrad !== 'boolean') throw new TypeError(`${op}: expected requiresGrad to be a boolean but got ${typeof requiresGrad}`);
  if (requiresGrad && dtype === 'int32') throw new TypeError(`${op}: requiresGrad needs a float dtype but got int32`);
  return { dtype, device, requiresGrad };
}

function finish(t: Tensor, o: Required<TensorOptions>): Tensor {
  if (o.requiresGrad) t.requiresGrad = true;
  return t;
}

/** Flattens nested number arrays, inferring the shape; throws on ragged or non-numeric input. */
function flatten(op: string, data: unknown): { values: number[]; shape: number[] } {
  const shape: number[] = [];
  for (let level: unknown = data; Array.isArray(level); level = level[0]) shape.push(level.length);
  const values: number[] = [];
  const walk = (v: unknown, dim: number): void => {
    if (dim === shape.length) {
      if (typeof v !== 'number') throw new TypeError(`${op}: expected numbers but found ${v === null ? 'null' : typeof v}`);
      values.push(v);
      return;
    }
    if (!Array.isArray(v) || v.length !== shape[dim]) {
      throw new RangeError(`${op}: expected a regular nested array but dimension ${dim} has inconsistent lengths`);
    }
    for (const item of v) walk(item, dim + 1);
  };
  walk(data, 0);
  return { values, shape };
}

/**
 * A tensor holding a copy of `data`. `shape` defaults to the data's own (a flat array gives 1-D,
 * nested arrays give their nesting, a number gives a 0-D tensor).
 */
export function tensor(data: TypedArray | number[] | number | unknown[], shape?: readonly number[],
                       options?: TensorOptions): Tensor {
  const op = 'tensor';
  let values: TypedArray | number[];
  let inferred: number[];
  if (ArrayBuffer.isView(data)) {
    if (!(data instanceof Float32Array || data instanceof Float64Array || data instanceof Int32Array)) {
      throw new TypeError(`${op}: expected a Float32Array, Float64Array, Int32Array, number or array of numbers but got ${(data as object).constructor.name}`);
    }
    values = data;
    inferred = [data.length];
  } else if (typeof data === 'number') {
    values = [data];
    inferred = [];
  } else if (Array.isArray(data)) {
    ({ values, shape: inferred } = flatten(op, data));
  } else {
    throw new TypeError(`${op}: expected a Float32Array, Float64Array, Int32Array, number or array of numbers but got ${data === null ? 'null' : typeof data}`);
  }
  const finalShape = shape === undefined ? inferred : checkShape(op, 'shape', shape);
  if (sizeOf(finalShape) !== values.length) {
    throw new RangeError(`${op}: expected ${sizeOf(finalShape)} values for shape ${formatShape(finalShape)} but got ${values.length}`);
  }
  const o = resolveOptions(op, options, ArrayBuffer.isView(values) ? dtypeOf(values) : 'float32');
  return finish(Tensor.fromHost(values, finalShape, o.dtype, o.device), o);
}

function filled(op: string, shape: readonly number[], value: number, options?: TensorOptions): Tensor {
  checkShape(op, 'shape', shape);
  if (typeof value !== 'number') throw new TypeError(`${op}: expected value to be a number but got ${typeof value}`);
  const o = resolveOptions(op, options, 'float32');
  const t = Tensor.empty(shape, o.dtype, o.device, op);
  if (t.size > 0) backendOf(op, t).run('fill', value, t.buffer);
  return finish(t, o);
}

/** A tensor of `shape` filled with `value`. */
export function full(shape: readonly number[], value: number, options?: TensorOptions): Tensor {
  return filled('full', shape, value, options);
}

/** A tensor of zeros. */
export function zeros(shape: readonly number[], options?: TensorOptions): Tensor {
  return filled('zeros', shape, 0, options);
}

/** A tensor of ones. */
export function ones(shape: readonly number[], options?: TensorOptions): Tensor {
  return filled('ones', shape, 1, options);
}

/** Zeros with the shape, dtype and device of `t`. */
export function zerosLike(t: Tensor): Tensor {
  checkTensor('zerosLike', 't', t);
  return full(t.shape, 0, { dtype: t.dtype, device: t.device });
}

/** Ones with the shape, dtype and device of `t`. */
export function onesLike(t: Tensor): Tensor {
  checkTensor('onesLike', 't', t);
  return full(t.shape, 1, { dtype: t.dtype, device: t.device });
}

/** Values start, start + step, … below end (like Python's range); float32 unless dtype says otherwise. */
export function arange(start: number, end?: number, step = 1, options?: TensorOptions): Tensor {
  if (end === undefined) [start, end] = [0, start];
  checkNumber('arange', 'start', start);
  checkNumber('arange', 'end', end);
  checkNumber('arange', 'step', step);
  if (step === 0) throw new RangeError('arange: expected a non-zero step but got 0');
  const count = Math.max(0, Math.ceil((end - start) / step));
  checkShape('arange', 'shape', [count]);
  const o = resolveOptions('arange', options, 'float32');
  const values = Float64Array.from({ length: count }, (_, i) => start + i * step);
  return finish(Tensor.fromHost(values, [count], o.dtype, o.device), o);
}

/** A 2-D identity matrix. */
export function eye(n: number, options?: TensorOptions): Tensor {
  checkInt('eye', 'n', n);
  checkShape('eye', 'shape', [n, n]);
  const o = resolveOptions('eye', options, 'float32');
  const values = new Float64Array(n * n);
  for (let i = 0; i < n; i++) values[i * n + i] = 1;
  return finish(Tensor.fromHost(values, [n, n], o.dtype, o.device), o);
}

// The global generator: a Philox key and the next counter (see native/random.cc).
const generator = { seed: 0x5eed, offset: 0 };

/** Seeds the global random generator (randn, rand, dropout, initialisers). */
export function manualSeed(seed: number): void {
  checkInt('manualSeed', 'seed', seed);
  if (seed > Number.MAX_SAFE_INTEGER) throw new RangeError(`manualSeed: expected a seed below 2^53 but got ${seed}`);
  generator.seed = seed;
  generator.offset = 0;
}

/** The global generator's state (for checkpoints): its seed and the next counter. */
export function rngState(): { seed: number; offset: number } {
  return { ...generator };
}

/** Restores a state from rngState(), so that a resumed run draws the numbers the uninterrupted one would. */
export function setRngState(state: { seed: number; offset: number }): void {
  if (typeof state !== 'object' || state === null) throw new TypeError(`setRngState: expected { seed, offset } but got ${String(state)}`);
  checkInt('setRngState', 'seed', state.seed);
  checkInt('setRngState', 'offset', state.offset);
  generator.seed = state.seed;
  generator.offset = state.offset;
}

/** Fills the float tensor `out` (in place) from the global generator and advances it. @internal */
export function fillRandom(kind: number, a: number, b: number, out: Tensor): void {
  if (out.size > 0) backendOf('random', out).run('random', kind, generator.seed, generator.offset, a, b, out.buffer);
  generator.offset += Math.ceil(out.size / 4);
}

function random(op: string, kind: number, shape: readonly number[], a: number, b: number, options: TensorOptions | undefined,
                range: readonly string[]): Tensor {
  checkShape(op, 'shape', shape);
  const o = resolveOptions(op, options, 'float32', [...TENSOR_OPTIONS, ...range]);
  if (o.dtype === 'int32') throw new TypeError(`${op}: expected a float dtype but got int32`);
  const t = Tensor.empty(shape, o.dtype, o.device, op);
  fillRandom(kind, a, b, t);
  return finish(t, o);
}

/** Standard normal samples (mean 0, std 1), or N(mean, std²). */
export function randn(shape: readonly number[], options?: TensorOptions & { mean?: number; std?: number }): Tensor {
  const mean = checkNumber('randn', 'mean', options?.mean ?? 0);
  const std = checkNumber('randn', 'std', options?.std ?? 1, 0);
  return random('randn', RandomKind.normal, shape, mean, std, options, ['mean', 'std']);
}

/** Uniform samples in [low, high) (default [0, 1)). */
export function rand(shape: readonly number[], options?: TensorOptions & { low?: number; high?: number }): Tensor {
  const low = checkNumber('rand', 'low', options?.low ?? 0);
  const high = checkNumber('rand', 'high', options?.high ?? 1);
  if (!(high > low)) throw new RangeError(`rand: expected high > low but got low ${low}, high ${high}`);
  return random('rand', RandomKind.uniform, shape, low, high, options, ['low', 'high']);
}

/**
 * Argument checks shared by the ops. Every message names the op and says what was expected and what
 * came: "conv2d: expected x to be a 4-D tensor [N, C, H, W] but got shape [3, 4]".
 */
import { Device, Tensor, formatShape, sizeOf, DType } from '../tensor';

/** A tensor, or a plain number standing for a 0-D tensor of the other operand's dtype. */
export type TensorLike = Tensor | number;

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (value instanceof Tensor) return `a tensor of shape ${formatShape(value.shape)}`;
  if (typeof value === 'number') return `the number ${value}`;
  if (typeof value === 'object') return `an object (${(value as object).constructor?.name ?? 'Object'})`;
  return typeof value;
}

/** Throws TypeError unless `value` is a live Tensor. */
export function checkTensor(op: string, name: string, value: unknown): Tensor {
  if (!(value instanceof Tensor)) throw new TypeError(`${op}: expected ${name} to be a Tensor but got ${describe(value)}`);
  if (value.isDisposed) throw new Error(`${op}: ${name} (shape ${formatShape(value.shape)}) is disposed`);
  return value;
}

/** Throws TypeError unless `t` has a float dtype. */
export function checkFloat(op: string, name: string, t: Tensor): Tensor {
  if (t.dtype === 'int32') throw new TypeError(`${op}: expected ${name} to be float32 or float64 but got int32`);
  return t;
}

/** A live float tensor. */
export function floatTensor(op: string, name: string, value: unknown): Tensor {
  return checkFloat(op, name, checkTensor(op, name, value));
}

/** Throws RangeError unless `t` has `rank` dimensions; `layout` names them, e.g. "[N, C, H, W]". */
export function checkRank(op: string, name: string, t: Tensor, rank: number, layout = ''): void {
  if (t.rank !== rank) {
    throw new RangeError(`${op}: expected ${name} to be a ${rank}-D tensor${layout ? ' ' + layout : ''} but got shape ${formatShape(t.shape)}`);
  }
}

/** Throws TypeError unless both tensors have the same dtype. */
export function checkSameDtype(op: string, a: Tensor, aName: string, b: Tensor, bName: string): void {
  if (a.dtype !== b.dtype) {
    throw new TypeError(`${op}: expected ${bName} to have dtype ${a.dtype} (as ${aName}) but got ${b.dtype}`);
  }
}

/** A non-negative (or ≥ min) integer. */
export function checkInt(op: string, name: string, value: unknown, min = 0): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new RangeError(`${op}: expected ${name} to be an integer ≥ ${min} but got ${typeof value === 'number' ? value : describe(value)}`);
  }
  return value;
}

/** A finite number, optionally within [min, max]. */
export function checkNumber(op: string, name: string, value: unknown, min = -Infinity, max = Infinity): number {
  if (typeof value !== 'number' || Number.isNaN(value) || !Number.isFinite(value) || value < min || value > max) {
    const range = min === -Infinity && max === Infinity ? 'a finite number' : `a number in [${min}, ${max}]`;
    throw new RangeError(`${op}: expected ${name} to be ${range} but got ${typeof value === 'number' ? value : describe(value)}`);
  }
  return value;
}

/** A boolean (undefined → fallback). */
export function checkBool(op: string, name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw new TypeError(`${op}: expected ${name} to be a boolean but got ${describe(value)}`);
  return value;
}

/** `number | [h, w]` → [h, w] of integers ≥ min. */
export function checkPair(op: string, name: string, value: unknown, fallback: number, min: number): [number, number] {
  if (value === undefined) return [fallback, fallback];
  const pair = typeof value === 'number' ? [value, value] : value;
  if (!Array.isArray(pair) || pair.length !== 2) {
    throw new TypeError(`${op}: expected ${name} to be a number or a pair [h, w] but got ${describe(value)}`);
  }
  return [checkInt(op, `${name}[0]`, pair[0], min), checkInt(op, `${name}[1]`, pair[1], min)];
}

/**
 * Throws TypeError unless `options` is undefined or a plain object whose keys are all among `keys` (a misspelt
 * option is an error: "conv2d: unknown option 'pading' (expected bias, stride, padding, dilation or groups)");
 * returns it (or {}).
 */
export function checkOptions<T extends object>(op: string, options: T | undefined, keys: readonly string[]): T {
  if (options === undefined) return {} as T;
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new TypeError(`${op}: expected options to be an object but got ${describe(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (!keys.includes(key)) {
      const expected = keys.length > 1 ? `${keys.slice(0, -1).join(', ')} or ${keys[keys.length - 1]}` : keys.join('');
      throw new TypeError(`${op}: unknown option '${key}' (expected ${expected})`);
    }
  }
  return options;
}

/** Normalises a possibly negative axis of a rank-`rank` tensor. */
export function normalizeAxis(op: string, axis: unknown, rank: number): number {
  if (typeof axis !== 'number' || !Number.isInteger(axis) || axis < -rank || axis >= Math.max(rank, 1)) {
    throw new RangeError(`${op}: expected an axis in [${-rank}, ${Math.max(rank - 1, 0)}] but got ${typeof axis === 'number' ? axis : describe(axis)}`);
  }
  return axis < 0 ? axis + rank : axis;
}

/** Most elements a tensor can hold (the longest typed array). */
const MAX_ELEMENTS = 2 ** 32;

/** Validates a shape: an array of non-negative integers, with at most MAX_ELEMENTS elements in all. */
export function checkShape(op: string, name: string, shape: unknown): number[] {
  if (!Array.isArray(shape)) throw new TypeError(`${op}: expected ${name} to be an array of integers but got ${describe(shape)}`);
  shape.forEach((d, i) => checkInt(op, `${name}[${i}]`, d));
  if (sizeOf(shape) > MAX_ELEMENTS) {
    throw new RangeError(`${op}: expected at most ${MAX_ELEMENTS} elements but got shape ${formatShape(shape)}`);
  }
  return shape as number[];
}

/** Turns a number into a 0-D tensor of `dtype` on `device` (a tensor passes through). */
export function asTensor(op: string, name: string, value: TensorLike, dtype: DType, device: Device): Tensor {
  if (typeof value === 'number') {
    if (Number.isNaN(value) && dtype === 'int32') throw new RangeError(`${op}: expected ${name} to be a number but got NaN`);
    return Tensor.fromHost([value], [], dtype, device);
  }
  return checkTensor(op, name, value);
}

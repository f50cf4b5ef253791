/**
 * Tensor: a shape, a dtype, a device and a storage, plus the autograd fields (requiresGrad, grad,
 * gradFn). Operations live in lib/ops/ and are also reachable as methods (lib/ops/methods.ts).
 */
import { native, TypedArray } from './backend/native';
import { BYTES, DType, Storage, dtypeOf, allocate, forget, trackTensor, untrackTensor } from './memory';
import type { GradNode } from './autograd/node';
import { backward as runBackward, BackwardOptions } from './autograd/engine';

export type { DType } from './memory';
export type { TypedArray } from './backend/native';
/** Devices a tensor can live on. */
export type Device = 'cpu' | 'cuda';

let nextId = 1;

/** Number of elements of a shape. */
export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Row-major element strides of a shape. */
export function stridesOf(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i];
  }
  return strides;
}

/** `[2,3]` → "[2, 3]", for messages. */
export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/** A dense, row-major n-dimensional array of float32, float64 or int32 elements. */
export class Tensor {
  /** Unique id (debugging, graph bookkeeping). */
  readonly id = nextId++;
  /** Sizes of the dimensions. */
  readonly shape: readonly number[];
  /** Element type. */
  readonly dtype: DType;
  /** Where the elements live. */
  readonly device: Device = 'cpu';
  /** Gradient accumulated by `backward()` (a leaf with requiresGrad only). */
  grad: Tensor | null = null;
  /** The operation that produced this tensor, when it is part of a recorded graph. @internal */
  gradFn: GradNode | null = null;
  /** @internal */
  storage: Storage | null;
  private requiresGradFlag = false;

  /** @internal Use `ns.tensor()` and the other creation functions. */
  constructor(storage: Storage, shape: readonly number[], dtype: DType) {
    this.storage = storage.retain();
    this.shape = Object.freeze([...shape]);
    this.dtype = dtype;
    trackTensor(this);
  }

  /** Wraps a typed array (not copied) as a tensor of the given shape. @internal */
  static fromArray(data: TypedArray, shape: readonly number[]): Tensor {
    return new Tensor(new Storage(data), shape, dtypeOf(data));
  }

  /** A tensor of `shape` whose elements are unspecified (every kernel writing it overwrites them all). @internal */
  static empty(shape: readonly number[], dtype: DType): Tensor {
    return Tensor.fromArray(allocate(dtype, sizeOf(shape)), shape);
  }

  /** Number of elements. */
  get size(): number {
    return sizeOf(this.shape);
  }

  /** Number of dimensions. */
  get rank(): number {
    return this.shape.length;
  }

  /** Bytes of element storage. */
  get byteLength(): number {
    return this.size * BYTES[this.dtype];
  }

  /** Whether gradients flow to this tensor. Settable on leaves (tensors no op produced) of float dtype. */
  get requiresGrad(): boolean {
    return this.requiresGradFlag;
  }
  set requiresGrad(value: boolean) {
    if (typeof value !== 'boolean') {
      throw new TypeError(`requiresGrad: expected a boolean but got ${typeof value}`);
    }
    if (value && this.dtype === 'int32') {
      throw new TypeError('requiresGrad: expected a float32 or float64 tensor but got int32 (integers have no gradient)');
    }
    if (!value && this.gradFn) {
      throw new Error('requiresGrad: cannot be turned off on a tensor computed by an op; use detach()');
    }
    this.requiresGradFlag = value;
  }

  /** Marks an op's output as part of the graph. @internal */
  setGradFn(node: GradNode): void {
    this.gradFn = node;
    this.requiresGradFlag = true;
  }

  /** Whether dispose() has been called. */
  get isDisposed(): boolean {
    return this.storage === null;
  }

  /** The elements, not copied. Throws when the tensor is disposed. @internal */
  get values(): TypedArray {
    const data = this.storage?.data;
    if (!data) throw new Error(`Tensor ${formatShape(this.shape)} (id ${this.id}) is disposed`);
    return data;
  }

  /** A copy of the elements in row-major order. */
  dataSync(): TypedArray {
    return this.values.slice();
  }

  /** A copy of the elements, as a promise (for parity with device tensors). */
  async data(): Promise<TypedArray> {
    return this.dataSync();
  }

  /** The value of a one-element tensor. */
  item(): number {
    if (this.size !== 1) {
      throw new RangeError(`item: expected a tensor with one element but got shape ${formatShape(this.shape)}`);
    }
    return this.values[0];
  }

  /** The elements as nested arrays following the shape. */
  toArray(): unknown {
    const data = this.values;
    const build = (dim: number, offset: number): unknown => {
      if (dim === this.shape.length) return data[offset];
      const stride = sizeOf(this.shape.slice(dim + 1));
      return Array.from({ length: this.shape[dim] }, (_, i) => build(dim + 1, offset + i * stride));
    };
    return build(0, 0);
  }

  /**
   * Back-propagates from this tensor: accumulates d(this)/d(leaf) · grad into `.grad` of every leaf that
   * requires grad. `grad` defaults to 1 for a one-element tensor and is required otherwise.
   */
  backward(grad?: Tensor, options?: BackwardOptions): void {
    runBackward(this, grad, options);
  }

  /** A tensor sharing this one's elements, outside the graph. */
  detach(): Tensor {
    return new Tensor(this.storageOrThrow('detach'), this.shape, this.dtype);
  }

  /** Frees the elements now (they return to the pool). Idempotent. */
  dispose(): void {
    if (!this.storage) return;
    this.storage.release();
    this.storage = null;
    this.gradFn = null;
    untrackTensor(this);
    forget(this);
  }

  /** @internal */
  storageOrThrow(op: string): Storage {
    if (!this.storage) throw new Error(`${op}: tensor ${formatShape(this.shape)} (id ${this.id}) is disposed`);
    return this.storage;
  }

  /** A short description: shape, dtype and the first elements. */
  toString(): string {
    if (!this.storage) return `Tensor(disposed, shape=${formatShape(this.shape)}, dtype=${this.dtype})`;
    const head = Array.from(this.values.subarray(0, 8)).map((v) => +v.toPrecision(6));
    return `Tensor(shape=${formatShape(this.shape)}, dtype=${this.dtype}, values=[${head.join(', ')}${this.size > 8 ? ', …' : ''}])`;
  }
}

/** Copies a typed array into a fresh tensor of the given dtype (converting when they differ). @internal */
export function tensorFromTyped(data: TypedArray, shape: readonly number[], dtype: DType): Tensor {
  const out = allocate(dtype, data.length);
  if (dtypeOf(data) === dtype) out.set(data);
  else native.cast(data, out);
  return Tensor.fromArray(out, shape);
}

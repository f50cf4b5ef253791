/**
 * Tensor: a shape, a dtype, a device and a storage, plus the autograd fields (requiresGrad, grad, gradFn).
 * A leaf module: it imports no op and no tape code. Operations live in lib/ops/ and are installed as methods
 * (lib/ops/methods.ts), `backward` included.
 */
import { Backend, backendFor, defaultDevice } from './backend/backend';
import { Storage, collectGarbage, copyStorage } from './backend/storage';
import { BYTES, Device, DType, NativeBuffer, TypedArray } from './backend/types';
import { trackTensor, untrackTensor } from './memory';
import type { GradNode } from './autograd/node';

export type { DType, Device, TypedArray } from './backend/types';

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

/** A dense, row-major n-dimensional array of float32, float64 or int32 elements on one device. */
export class Tensor {
  /** Unique id (debugging, graph bookkeeping). */
  readonly id = nextId++;
  /** Sizes of the dimensions. */
  readonly shape: readonly number[];
  /** Element type. */
  readonly dtype: DType;
  /** Gradient accumulated by `backward()` (a leaf with requiresGrad only). */
  grad: Tensor | null = null;
  /** The operation that produced this tensor, when it is part of a recorded graph. @internal */
  gradFn: GradNode | null = null;
  /** @internal */
  storage: Storage | null;
  private requiresGradFlag = false;
  private home: Device;

  /** @internal Use `ns.tensor()` and the other creation functions. */
  constructor(storage: Storage, shape: readonly number[], dtype: DType) {
    this.storage = storage.retain();
    this.shape = Object.freeze([...shape]);
    this.dtype = dtype;
    this.home = storage.backend.device;
    trackTensor(this);
  }

  /**
   * A tensor of `shape` on `device` whose elements are unspecified (every kernel writing it overwrites them all).
   * `op` names the caller in an out-of-memory error. @internal
   */
  static empty(shape: readonly number[], dtype: DType, device: Device = defaultDevice(), op = 'empty'): Tensor {
    const backend = backendFor(op, device);
    let storage: Storage;
    try {
      storage = new Storage(backend, dtype, sizeOf(shape));
    } catch (err) {
      // Device memory held only by unreachable tensors comes back in a collection (their finalizers free it):
      // collect once and retry before giving up, as the device allocator itself retries after freeing its cache.
      if ((err as { code?: string }).code !== 'ERR_CUDA_OOM' || !collectGarbage()) throw renameError(op, err);
      try {
        storage = new Storage(backend, dtype, sizeOf(shape));
      } catch (again) {
        throw renameError(op, again);
      }
    }
    return new Tensor(storage, shape, dtype);
  }

  /** A tensor holding a copy of host data (converted to `dtype`). @internal */
  static fromHost(data: TypedArray | readonly number[], shape: readonly number[], dtype: DType,
                  device: Device = defaultDevice()): Tensor {
    return new Tensor(Storage.fromHost(backendFor('tensor', device), data, dtype), shape, dtype);
  }

  /** Where the elements live. */
  get device(): Device {
    return this.home;
  }

  /**
   * Moves the elements to `device` in place (this tensor keeps its identity, so modules, optimisers and their
   * maps that hold it follow). For parameters and state; not recorded by autograd. @internal
   */
  moveTo(device: Device): void {
    const old = this.storageOrThrow('to');
    if (old.backend.device === device) return;
    const moved = new Storage(backendFor('to', device), this.dtype, old.length).retain();
    copyStorage(old, moved);
    old.release();
    this.storage = moved;
    this.home = device;
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

  /** The device buffer holding the elements. Throws when the tensor is disposed. @internal */
  get buffer(): NativeBuffer {
    return this.liveStorage().buffer!;
  }

  private liveStorage(): Storage {
    if (!this.storage?.buffer) throw new Error(`Tensor ${formatShape(this.shape)} (id ${this.id}) is disposed`);
    return this.storage;
  }

  /** The backend of the tensor's device. @internal */
  get backend(): Backend {
    return this.storageOrThrow('backend').backend;
  }

  /** A host copy of the elements in row-major order (waits for queued device work). */
  dataSync(): TypedArray {
    return this.liveStorage().read(0, this.size);
  }

  /** A host copy of the elements, as a promise: the wait for a device happens off the event loop. */
  async data(): Promise<TypedArray> {
    return this.liveStorage().readAsync(0, this.size);
  }

  /** The value of a one-element tensor. */
  item(): number {
    if (this.size !== 1) {
      throw new RangeError(`item: expected a tensor with one element but got shape ${formatShape(this.shape)}`);
    }
    return this.liveStorage().read(0, 1)[0];
  }

  /** The elements as nested arrays following the shape. */
  toArray(): unknown {
    const data = this.dataSync();
    const build = (dim: number, offset: number): unknown => {
      if (dim === this.shape.length) return data[offset];
      const stride = sizeOf(this.shape.slice(dim + 1));
      return Array.from({ length: this.shape[dim] }, (_, i) => build(dim + 1, offset + i * stride));
    };
    return build(0, 0);
  }

  /** A tensor sharing this one's elements, outside the graph. */
  detach(): Tensor {
    return new Tensor(this.storageOrThrow('detach'), this.shape, this.dtype);
  }

  /** Frees the elements now (they return to the device's cache). Idempotent. */
  dispose(): void {
    if (!this.storage) return;
    this.storage.release();
    this.storage = null;
    this.gradFn = null;
    untrackTensor(this);
  }

  /** @internal */
  storageOrThrow(op: string): Storage {
    if (!this.storage) throw new Error(`${op}: tensor ${formatShape(this.shape)} (id ${this.id}) is disposed`);
    return this.storage;
  }

  /** A short description: shape, dtype, device and the first elements. */
  toString(): string {
    if (!this.storage) return `Tensor(disposed, shape=${formatShape(this.shape)}, dtype=${this.dtype})`;
    const head = Array.from(this.storage.read(0, Math.min(8, this.size))).map((v) => +v.toPrecision(6));
    const where = this.device === 'cpu' ? '' : `, device=${this.device}`;
    return `Tensor(shape=${formatShape(this.shape)}, dtype=${this.dtype}${where}, values=[${head.join(', ')}${this.size > 8 ? ', …' : ''}])`;
  }
}

/**
 * An error from the addon, renamed for the op that called it: "<op>: <what the addon said>" (the addon's own
 * prefix, the entry point's name, is dropped), with its class and `code` kept. @internal
 */
export function renameError(op: string, err: unknown): unknown {
  // Errors made by the addon come from the main realm: tell them by shape, not by instanceof.
  if (typeof err !== 'object' || err === null || typeof (err as Error).message !== 'string') return err;
  const message = (err as Error).message;
  const colon = message.indexOf(': ');
  const rest = colon >= 0 ? message.slice(colon + 2) : message;
  const renamed = new ((err as Error).constructor as ErrorConstructor)(`${op}: ${rest}`);
  const code = (err as { code?: unknown }).code;
  if (code !== undefined) (renamed as { code?: unknown }).code = code;
  return renamed;
}

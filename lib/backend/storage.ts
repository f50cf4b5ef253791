/**
 * Storage: the elements of one or more tensors (views share it) in a device buffer, reference-counted; the
 * buffer goes back to its device's cache when the last tensor is disposed, or when it is garbage-collected (the
 * addon's finalizer returns it synchronously, so a loop without tidy still recycles memory). Also the host-side
 * conversions tensors are built from.
 */
import { Backend } from './backend';
import { native } from './native';
import { insideTidy } from '../memory';
import { Device as DeviceCode } from './native.generated';
import { BYTES, DType, NativeBuffer, TypedArray } from './types';

const ARRAY_TYPES = { float32: Float32Array, float64: Float64Array, int32: Int32Array } as const;

/** The dtype of a typed array. */
export function dtypeOf(a: TypedArray): DType {
  return a instanceof Float32Array ? 'float32' : a instanceof Float64Array ? 'float64' : 'int32';
}

/** `data` as a typed array of `dtype` (the same array when it already is one; float → int32 truncates). */
export function convertHost(data: TypedArray | readonly number[], dtype: DType): TypedArray {
  if (ArrayBuffer.isView(data) && dtypeOf(data as TypedArray) === dtype) return data as TypedArray;
  const out = new ARRAY_TYPES[dtype](data.length);
  for (let i = 0; i < data.length; i++) out[i] = dtype === 'int32' ? Math.trunc(data[i]) : data[i];
  return out;
}

let gc: (() => void) | null | undefined;

/** Runs a full garbage collection when the engine lets us (V8's gc, exposed on first use); false otherwise. */
export function collectGarbage(): boolean {
  if (gc === undefined) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      require('v8').setFlagsFromString('--expose-gc');
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      gc = require('vm').runInNewContext('gc') as () => void;
    } catch {
      gc = null;
    }
  }
  if (!gc) return false;
  gc();
  return true;
}

// Bytes allocated outside tidy scopes since the last collection and not disposed: storage a loop without tidy
// leaves to the garbage collector. When it passes max(64 MiB, half of what was live after the last collection), a
// collection runs (its finalizers return the unreachable storage to the pools), so such a loop holds at most about
// twice what a tidy one does. Inside tidy, storage is freed when the scope ends: nothing is counted there (a step's
// own intermediates, alive until then, must not trigger collections).
const PRESSURE_MIN_BYTES = 64 * 2 ** 20;
let undisposedBytes = 0;
let liveAfterCollection = 0;

function noteAllocation(bytes: number): void {
  if (insideTidy()) return;
  undisposedBytes += bytes;
  if (undisposedBytes > Math.max(PRESSURE_MIN_BYTES, liveAfterCollection / 2) && collectGarbage()) {
    undisposedBytes = 0;
    // Exact right after the collection: the addon's finalizers ran inside it.
    liveAfterCollection = native.memoryStats(DeviceCode.cpu).allocatedBytes + native.memoryStats(DeviceCode.cuda).allocatedBytes;
  }
}

/** A device buffer shared by the tensors that view it. @internal */
export class Storage {
  private refs = 0;
  private handle: NativeBuffer | null;
  constructor(readonly backend: Backend, readonly dtype: DType, readonly length: number, buffer?: NativeBuffer) {
    this.handle = buffer ?? backend.alloc(dtype, length);
    noteAllocation(length * BYTES[dtype]);
  }
  /** A storage holding a copy of host data. */
  static fromHost(backend: Backend, data: TypedArray | readonly number[], dtype: DType): Storage {
    const typed = convertHost(data, dtype);
    const s = new Storage(backend, dtype, typed.length);
    if (typed.length) backend.write(s.handle!, 0, typed);
    return s;
  }
  get buffer(): NativeBuffer | null {
    return this.handle;
  }
  /** A host copy of elements [offset, offset + length) (waits for queued device work). */
  read(offset: number, length: number): TypedArray {
    const out = new ARRAY_TYPES[this.dtype](length);
    if (length > 0) this.backend.read(this.buffer!, offset, out);
    return out;
  }
  /** Likewise as a promise, the wait happening off the event loop. */
  async readAsync(offset: number, length: number): Promise<TypedArray> {
    const out = new ARRAY_TYPES[this.dtype](length);
    if (length > 0) await this.backend.readAsync(this.buffer!, offset, out);
    return out;
  }
  get byteLength(): number {
    return this.length * BYTES[this.dtype];
  }
  retain(): this {
    this.refs++;
    return this;
  }
  release(): void {
    if (--this.refs > 0 || !this.handle) return;
    this.backend.free(this.handle);
    this.handle = null;
    undisposedBytes = Math.max(0, undisposedBytes - this.byteLength);
  }
}

/** dst = src, element for element, across devices too (same dtype and length). */
export function copyStorage(src: Storage, dst: Storage): void {
  if (src.length === 0) return;
  native.copyBuffer(src.buffer!, dst.buffer!);
}

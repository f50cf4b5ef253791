/**
 * Host memory for CPU tensors: a caching pool of typed arrays (so steady-state training reuses buffers
 * instead of touching fresh pages every step), reference-counted storages shared by views, the live
 * counters behind `memory()`, and `tidy` scopes.
 */
import { native, TypedArray } from './backend/native';

/** Element types of tensors. */
export type DType = 'float32' | 'float64' | 'int32';

const ARRAY_TYPES = { float32: Float32Array, float64: Float64Array, int32: Int32Array } as const;

/** Bytes per element of each dtype. */
export const BYTES: Record<DType, number> = { float32: 4, float64: 8, int32: 4 };

/** The dtype of a typed array. */
export function dtypeOf(a: TypedArray): DType {
  return a instanceof Float32Array ? 'float32' : a instanceof Float64Array ? 'float64' : 'int32';
}

// Released buffers by dtype and length, and all of them in release order (oldest first). Bounded: past
// the cap, the oldest are left to the GC, so that a phase with other shapes does not pin memory forever.
const pool = new Map<string, TypedArray[]>();
const released = new Set<TypedArray>();
let pooledBytes = 0;
const POOL_CAP_BYTES = Number(process.env.NEURAL_SIMILARITY_POOL_BYTES ?? 2 ** 31);

const poolKey = (dtype: DType, length: number): string => `${dtype}:${length}`;

// Fresh buffers this large ask for transparent huge pages (Linux), whose first touch is about ten times
// faster than that of 4 KiB pages; NEURAL_SIMILARITY_HUGE_PAGES=0 turns this off.
const HUGE_PAGES = process.env.NEURAL_SIMILARITY_HUGE_PAGES !== '0';
const HUGE_PAGE_MIN_BYTES = 4 << 20;

/**
 * A buffer of `length` elements whose first one sits on a 64-byte boundary (a cache line, so that the
 * kernels' 16-float vectors never straddle two lines; the system allocator returns addresses 16 bytes past
 * one). Its contents are arbitrary: callers overwrite every element.
 */
export function allocate(dtype: DType, length: number): TypedArray {
  const reused = pool.get(poolKey(dtype, length))?.pop();
  if (reused) {
    released.delete(reused);
    pooledBytes -= reused.byteLength;
    return reused;
  }
  const buffer = new ArrayBuffer(length * BYTES[dtype] + 64);
  if (HUGE_PAGES && buffer.byteLength >= HUGE_PAGE_MIN_BYTES) native.adviseHugePages(buffer);
  return new ARRAY_TYPES[dtype](buffer, native.cacheLineOffset(buffer), length);
}

/** Returns a buffer to the pool, evicting the oldest pooled buffers beyond the cap. */
function recycle(data: TypedArray): void {
  if (data.length === 0 || data.byteLength > POOL_CAP_BYTES) return;
  for (const old of released) {
    if (pooledBytes + data.byteLength <= POOL_CAP_BYTES) break;
    const list = pool.get(poolKey(dtypeOf(old), old.length))!;
    list.splice(list.indexOf(old), 1);
    released.delete(old);
    pooledBytes -= old.byteLength;
  }
  const key = poolKey(dtypeOf(data), data.length);
  let list = pool.get(key);
  if (!list) pool.set(key, (list = []));
  list.push(data);
  released.add(data);
  pooledBytes += data.byteLength;
}

let liveTensors = 0;
let liveBytes = 0;
// Tensors and storages that are garbage-collected without dispose() still leave the counters.
const tensorRegistry = new FinalizationRegistry<null>(() => {
  liveTensors--;
});
const storageRegistry = new FinalizationRegistry<number>((bytes) => {
  liveBytes -= bytes;
});

/** The elements of one or more tensors (views share it); returned to the pool when the last one goes. */
export class Storage {
  refs = 0;
  constructor(public data: TypedArray | null) {
    liveBytes += data!.byteLength;
    storageRegistry.register(this, data!.byteLength, this);
  }
  retain(): this {
    this.refs++;
    return this;
  }
  release(): void {
    if (--this.refs > 0 || !this.data) return;
    liveBytes -= this.data.byteLength;
    storageRegistry.unregister(this);
    recycle(this.data);
    this.data = null;
  }
}

/** Counts a new tensor (and forgets it when it is collected without dispose). */
export function trackTensor(t: object): void {
  liveTensors++;
  tensorRegistry.register(t, null, t);
  const scope = scopes[scopes.length - 1];
  if (scope) scope.add(t as Disposable);
}

/** Called by dispose(): the tensor leaves the counters now rather than at collection. */
export function untrackTensor(t: object): void {
  liveTensors--;
  tensorRegistry.unregister(t);
}

/** What `memory()` reports. */
export interface MemoryInfo {
  /** Tensors created and neither disposed nor garbage-collected. */
  numTensors: number;
  /** Bytes of those tensors' storages (views share one storage). */
  numBytes: number;
  /** Bytes of released buffers kept for reuse. */
  pooledBytes: number;
  /** Native scratch memory the kernels keep cached for reuse. */
  nativeCachedBytes: number;
  /** Native scratch memory in use right now (0 between calls). */
  nativeInUseBytes: number;
}

/** Live tensors and bytes, pooled and native memory. */
export function memory(): MemoryInfo {
  const info = native.runtimeInfo();
  return {
    numTensors: liveTensors,
    numBytes: liveBytes,
    pooledBytes,
    nativeCachedBytes: info.workspaceCachedBytes,
    nativeInUseBytes: info.workspaceInUseBytes,
  };
}

/** Drops every cached buffer (host pool and native scratch). */
export function emptyCache(): void {
  pool.clear();
  released.clear();
  pooledBytes = 0;
  native.workspaceTrim();
}

interface Disposable {
  dispose(): void;
  readonly isDisposed: boolean;
}

const scopes: Set<Disposable>[] = [];

/** Removes a tensor from every open `tidy` scope, so it outlives them. */
export function keep<T extends Disposable>(t: T): T {
  for (const scope of scopes) scope.delete(t);
  return t;
}

function collect(value: unknown, into: Set<unknown>, depth = 0): void {
  if (value === null || typeof value !== 'object' || depth > 8) return;
  if (typeof (value as Disposable).dispose === 'function' && 'isDisposed' in (value as object)) {
    into.add(value);
    return;
  }
  const items = Array.isArray(value) ? value : value instanceof Map ? [...value.values()] : Object.values(value);
  for (const v of items) collect(v, into, depth + 1);
}

/**
 * Runs `fn` and disposes every tensor created inside it except those it returns (directly or inside
 * arrays, maps and plain objects) and those passed to `keep`. Returned tensors move to the enclosing
 * scope. `fn` must be synchronous.
 */
export function tidy<T>(fn: () => T): T {
  const scope = new Set<Disposable>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (err) {
    scopes.pop();
    for (const t of scope) t.dispose();
    throw err;
  }
  scopes.pop();
  if (result instanceof Promise) {
    for (const t of scope) t.dispose();
    throw new TypeError('tidy: expected a synchronous function but got one that returned a Promise');
  }
  const kept = new Set<unknown>();
  collect(result, kept);
  const parent = scopes[scopes.length - 1];
  for (const t of scope) {
    if (kept.has(t)) parent?.add(t);
    else t.dispose();
  }
  return result;
}

/** Called on dispose so that a disposed tensor is no longer held by its scopes. */
export function forget(t: Disposable): void {
  for (let i = scopes.length - 1; i >= 0; i--) scopes[i].delete(t);
}

/**
 * Memory bookkeeping: the live-tensor count and byte counts behind `memory()` (exact even in a synchronous loop
 * that never disposes: the addon counts tensors and buffers and its finalizers run inside garbage collection),
 * the caches, and `tidy` scopes.
 */
import { native } from './backend/native';
import { cpu, backendFor, cudaUnavailableReason, runtimeInfo } from './backend/backend';

/** Counts a new tensor (the addon forgets it when it is collected without dispose) and adds it to the open scope. */
export function trackTensor(t: object): void {
  native.trackTensor(t);
  const scope = scopes[scopes.length - 1];
  if (scope) scope.add(t as Disposable);
}

/** Called by dispose(): the tensor leaves the count and its scopes now rather than at collection. */
export function untrackTensor(t: object): void {
  native.untrackTensor(t);
  for (let i = scopes.length - 1; i >= 0; i--) scopes[i].delete(t as Disposable);
}

/** Bytes a device's allocator holds. */
export interface DeviceMemoryInfo {
  /** Bytes of tensor storage in use. */
  allocatedBytes: number;
  /** Bytes cached for reuse. */
  cachedBytes: number;
  /** Most bytes in use at once since start. */
  peakAllocatedBytes: number;
  /** Allocations served since start, and those that needed fresh memory from the system (malloc, cudaMalloc). */
  allocations: number;
  freshAllocations: number;
}

/** What `memory()` reports. */
export interface MemoryInfo {
  /** Tensors created and neither disposed nor garbage-collected. */
  numTensors: number;
  /** Bytes of tensor storage in use, on every device (views share one storage). */
  numBytes: number;
  /** Bytes of released CPU storage kept for reuse. */
  pooledBytes: number;
  /** Native CPU scratch memory the kernels keep cached for reuse. */
  nativeCachedBytes: number;
  /** Native CPU scratch memory in use right now (0 between calls). */
  nativeInUseBytes: number;
  /** The CPU allocator. */
  cpu: DeviceMemoryInfo;
  /** The CUDA allocator, when a GPU is in use. */
  cuda?: DeviceMemoryInfo;
}

function deviceInfo(device: 'cpu' | 'cuda'): DeviceMemoryInfo {
  const s = (device === 'cpu' ? cpu : backendFor('memory', device)).memoryStats();
  return {
    allocatedBytes: s.allocatedBytes, cachedBytes: s.cachedBytes, peakAllocatedBytes: s.peakAllocatedBytes,
    allocations: s.allocCount, freshAllocations: s.freshAllocCount,
  };
}

/** Live tensors and bytes, per device, and the caches. */
export function memory(): MemoryInfo {
  const info = runtimeInfo();
  const cpuInfo = deviceInfo('cpu');
  const cudaInfo = cudaUnavailableReason() === null ? deviceInfo('cuda') : undefined;
  return {
    numTensors: native.liveTensors(),
    numBytes: cpuInfo.allocatedBytes + (cudaInfo?.allocatedBytes ?? 0),
    pooledBytes: cpuInfo.cachedBytes,
    nativeCachedBytes: info.workspaceCachedBytes,
    nativeInUseBytes: info.workspaceInUseBytes,
    cpu: cpuInfo,
    ...(cudaInfo ? { cuda: cudaInfo } : {}),
  };
}

/** Drops every cached buffer (the CPU pool and scratch memory, and CUDA's cached blocks). */
export function emptyCache(): void {
  cpu.emptyCache();
  if (cudaUnavailableReason() === null) backendFor('emptyCache', 'cuda').emptyCache();
}

interface Disposable {
  dispose(): void;
  readonly isDisposed: boolean;
}

const scopes: Set<Disposable>[] = [];

/** Whether a `tidy` scope is open (its tensors are disposed when it ends). @internal */
export function insideTidy(): boolean {
  return scopes.length > 0;
}

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

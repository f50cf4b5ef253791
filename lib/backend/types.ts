/**
 * Types of the seam between ops and backends: devices, element types, host arrays and the opaque handles of
 * device buffers.
 */

/** Devices a tensor can live on. */
export type Device = 'cpu' | 'cuda';
/** Element types of tensors. */
export type DType = 'float32' | 'float64' | 'int32';
/** Host arrays of the element types. */
export type TypedArray = Float32Array | Float64Array | Int32Array;

/** A buffer of elements on some device, owned by the addon (opaque to TypeScript). */
export interface NativeBuffer {
  readonly __nativeBuffer: unique symbol;
}

/** What a device's allocator holds. */
export interface DeviceMemoryStats {
  /** Whether the backend is usable in this process. */
  available: boolean;
  /** Bytes in buffers handed out and not yet freed. */
  allocatedBytes: number;
  /** Bytes held for reuse. */
  cachedBytes: number;
  /** Most allocated bytes at once since start. */
  peakAllocatedBytes: number;
  /** Allocations served, and those that needed fresh memory from the system. */
  allocCount: number;
  freshAllocCount: number;
}

/** What the addon says about the machine. */
export interface RuntimeInfo {
  threads: number;
  isa: 'avx512' | 'avx2' | 'portable';
  workspaceCachedBytes: number;
  workspaceInUseBytes: number;
  cuda: {
    compiled: boolean;
    devices: number;
    device?: string;
    computeCapability?: string;
    totalMemory?: number;
    multiprocessors?: number;
    driverVersion?: number;
    runtimeVersion?: number;
    allowTF32?: boolean;
    reason: string;
  };
}

/** Bytes per element of each dtype. */
export const BYTES: Record<DType, number> = { float32: 4, float64: 8, int32: 4 };

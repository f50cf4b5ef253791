/**
 * Which backend runs the ops, and why.
 */
import { defaultDevice, runtimeInfo } from './backend';

/** What `backendInfo()` reports. */
export interface BackendInfo {
  /** The default device: where tensors are created when no device is given. */
  backend: 'cpu' | 'cuda';
  /** Whether this binary contains CUDA kernels. */
  cudaCompiled: boolean;
  /** The CUDA device, when one is usable: its name. */
  device?: string;
  /** Its compute capability ("9.0"), memory in bytes and multiprocessors. */
  computeCapability?: string;
  totalMemory?: number;
  multiprocessors?: number;
  /** CUDA driver and runtime versions (e.g. 13000 for 13.0; the driver's is 0 without a driver). */
  driverVersion?: number;
  runtimeVersion?: number;
  /** Why CUDA is or is not used. */
  reason: string;
  /** CPU threads the kernels use (NEURAL_SIMILARITY_THREADS overrides the default of one per core). */
  threads: number;
  /** The CPU GEMM micro-kernel chosen for this processor. */
  cpuKernel: 'avx512' | 'avx2' | 'portable';
}

/** The backend in use and the reason for the choice. */
export function backendInfo(): BackendInfo {
  const info = runtimeInfo();
  const { cuda } = info;
  const backend = defaultDevice();
  const usable = cuda.devices > 0;
  const why = backend === 'cuda' ? `${cuda.reason}; tensors are created on it by default`
    : usable ? `${cuda.reason}; the default device is the CPU (NEURAL_SIMILARITY_DEVICE=cpu or setDefaultDevice)`
      : `${cuda.reason}; using the CPU`;
  return {
    backend,
    cudaCompiled: cuda.compiled,
    ...(usable ? {
      device: cuda.device, computeCapability: cuda.computeCapability, totalMemory: cuda.totalMemory,
      multiprocessors: cuda.multiprocessors,
    } : {}),
    ...(cuda.compiled ? { driverVersion: cuda.driverVersion, runtimeVersion: cuda.runtimeVersion } : {}),
    reason: why,
    threads: info.threads,
    cpuKernel: info.isa,
  };
}

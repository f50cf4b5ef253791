/**
 * Which backend runs the ops, and why.
 */
import { native } from './native';

/** What `backendInfo()` reports. */
export interface BackendInfo {
  /** The backend ops run on. */
  backend: 'cpu' | 'cuda';
  /** Whether this binary contains CUDA kernels. */
  cudaCompiled: boolean;
  /** The CUDA device, when one was found. */
  device?: string;
  /** Why this backend was chosen. */
  reason: string;
  /** CPU threads the kernels use (NEURAL_SIMILARITY_THREADS overrides the default of one per core). */
  threads: number;
  /** The CPU GEMM micro-kernel chosen for this processor. */
  cpuKernel: 'avx512' | 'avx2' | 'portable';
}

/** The backend in use and the reason for the choice. */
export function backendInfo(): BackendInfo {
  const info = native.runtimeInfo();
  const base = { cudaCompiled: info.cudaCompiled, threads: info.threads, cpuKernel: info.isa };
  if (info.cudaDevices > 0) {
    return {
      backend: 'cpu', ...base, device: info.cudaDevice,
      reason: `${info.cudaReason}; this version runs every op on the CPU (the CUDA op kernels are not part of it yet)`,
    };
  }
  return { backend: 'cpu', ...base, reason: `${info.cudaReason}; using the CPU` };
}

/** Why tensors cannot be placed on 'cuda' in this process. @internal */
export function cudaUnavailableReason(): string {
  return backendInfo().reason;
}

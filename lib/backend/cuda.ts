/**
 * ns.cuda and ns.backends.cuda: what PyTorch users reach for (is the GPU there, how much memory is held, empty
 * the cache, TF32 or strict FP32).
 */
import { native } from './native';
import { backendFor, cudaUnavailableReason, runtimeInfo } from './backend';

/** Whether a usable CUDA device is present (and this binary has CUDA kernels). */
export function isAvailable(): boolean {
  return cudaUnavailableReason() === null;
}

/** Returns the CUDA allocator's cached blocks that are not in use to the driver (a no-op without a GPU). */
export function emptyCache(): void {
  if (isAvailable()) backendFor('cuda.emptyCache', 'cuda').emptyCache();
}

/** Bytes the CUDA allocator has handed out and not yet taken back (0 without a GPU). */
export function memoryAllocated(): number {
  return isAvailable() ? backendFor('cuda.memoryAllocated', 'cuda').memoryStats().allocatedBytes : 0;
}

/** Bytes the CUDA allocator holds for reuse (0 without a GPU). */
export function memoryCached(): number {
  return isAvailable() ? backendFor('cuda.memoryCached', 'cuda').memoryStats().cachedBytes : 0;
}

/** Waits until every queued CUDA kernel has finished (a no-op without a GPU). */
export function synchronize(): void {
  if (isAvailable()) backendFor('cuda.synchronize', 'cuda').synchronize();
}

/** The device's name, when there is one. */
export function deviceName(): string | undefined {
  return runtimeInfo().cuda.device;
}

/**
 * ns.backends.cuda.allowTF32: float32 convolutions and matrix products on the GPU may use TF32 tensor cores
 * (default true, about 10 bits of mantissa in the products, float32 accumulation), as PyTorch's
 * torch.backends.cuda.matmul.allow_tf32 / cudnn.allow_tf32. false selects strict FP32.
 */
export const backends = {
  cuda: {
    get allowTF32(): boolean {
      return runtimeInfo().cuda.allowTF32 ?? true;
    },
    set allowTF32(value: boolean) {
      if (typeof value !== 'boolean') throw new TypeError(`backends.cuda.allowTF32: expected a boolean but got ${typeof value}`);
      native.cudaSetAllowTF32(value ? 1 : 0);
    },
  },
};

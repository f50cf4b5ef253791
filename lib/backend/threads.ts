/**
 * The CPU kernels' thread count.
 */
import { native } from './native';

/** Sets the number of threads the CPU kernels use (the calling thread included). */
export function setNumThreads(threads: number): void {
  if (typeof threads !== 'number' || !Number.isInteger(threads) || threads < 1 || threads > 1024) {
    throw new RangeError(`setNumThreads: expected an integer in [1, 1024] but got ${String(threads)}`);
  }
  native.setNumThreads(threads);
}

/** The number of threads the CPU kernels use. */
export function getNumThreads(): number {
  return native.runtimeInfo().threads;
}

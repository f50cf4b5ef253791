/**
 * backendOf: how an op finds the backend of its inputs (refusing inputs on different devices) and runs its kernels,
 * with every error the addon raises renamed for the op.
 */
import { Backend, backendFor, KernelName, Kernels } from './backend';
import { Device, DType } from './types';
import { Tensor, formatShape, renameError } from '../tensor';

/** An op's view of its device: its kernels, and fresh outputs on it. */
export class OpContext {
  constructor(readonly op: string, readonly backend: Backend) {}

  get device(): Device {
    return this.backend.device;
  }

  /** Runs a kernel of the device's table; errors say "<op>: …" (and `kernel 'x' is not implemented…`). */
  run<K extends KernelName>(name: K, ...args: Parameters<Kernels[K]>): ReturnType<Kernels[K]> {
    const kernel = this.backend.kernels[name] as (...a: Parameters<Kernels[K]>) => ReturnType<Kernels[K]>;
    try {
      return kernel(...args);
    } catch (err) {
      throw renameError(this.op, err);
    }
  }

  /** A tensor of `shape` on this device, elements unspecified (the kernel writing it overwrites them all). */
  empty(shape: readonly number[], dtype: DType): Tensor {
    return Tensor.empty(shape, dtype, this.device, this.op);
  }
}

/**
 * The backend of an op's tensor inputs (null and undefined are skipped): a TypeError naming the op when they
 * live on different devices. With no tensor at all, the CPU.
 */
export function backendOf(op: string, ...inputs: (Tensor | null | undefined)[]): OpContext {
  let first: Tensor | null = null;
  for (const t of inputs) {
    if (!t) continue;
    if (!first) first = t;
    else if (t.device !== first.device) {
      throw new TypeError(`${op}: expected every tensor on one device but got ${formatShape(first.shape)} on '${first.device}' and ${formatShape(t.shape)} on '${t.device}'`);
    }
  }
  return new OpContext(op, backendFor(op, first ? first.device : 'cpu'));
}

/**
 * The Backend seam: a device's memory (allocate, free, write from host, read to host, synchronise) and its typed
 * table of kernels. One backend per device; both run the addon's entry points, which dispatch on the device of
 * their buffers. The only code that touches host arrays or device handles is in lib/backend/.
 */
import { native } from './native';
import { Device as DeviceCode, Dtype as DtypeCode, NativeEntryPoints } from './native.generated';
import { Device, DeviceMemoryStats, DType, NativeBuffer, RuntimeInfo, TypedArray } from './types';

/** Entry points that are not kernels (runtime, memory, bookkeeping). */
type RuntimeEntry = 'runtimeInfo' | 'setNumThreads' | 'workspaceTrim' | 'workspacePeak' | 'cudaSetAllowTF32' | 'alloc' |
  'free' | 'write' | 'read' | 'readAsync' | 'copyBuffer' | 'synchronize' | 'memoryStats' | 'emptyCache' | 'trackTensor' |
  'untrackTensor' | 'liveTensors';
/** Names of the kernels of a backend's table. */
export type KernelName = Exclude<keyof NativeEntryPoints, RuntimeEntry>;
/** A backend's typed table of kernels. */
export type Kernels = Pick<NativeEntryPoints, KernelName>;

/** A device's memory and kernels. */
export interface Backend {
  readonly device: Device;
  readonly kernels: Kernels;
  /** A buffer of `length` elements (contents unspecified). */
  alloc(dtype: DType, length: number): NativeBuffer;
  /** Returns a buffer's memory to the device's cache now. */
  free(buffer: NativeBuffer): void;
  /** buffer[offset, offset + data.length) = data. */
  write(buffer: NativeBuffer, offset: number, data: TypedArray): void;
  /** dst = buffer[offset, offset + dst.length), once the work queued before has finished. */
  read(buffer: NativeBuffer, offset: number, dst: TypedArray): void;
  /** Likewise without blocking the event loop (dst is written when the promise settles). */
  readAsync(buffer: NativeBuffer, offset: number, dst: TypedArray): Promise<void>;
  /** Waits for every queued kernel. */
  synchronize(): void;
  memoryStats(): DeviceMemoryStats;
  /** Returns cached memory that is not in use to the system. */
  emptyCache(): void;
}

class NativeBackend implements Backend {
  private readonly code: number;
  constructor(readonly device: Device) {
    this.code = DeviceCode[device];
  }
  get kernels(): Kernels {
    return native;
  }
  alloc(dtype: DType, length: number): NativeBuffer {
    return native.alloc(this.code, DtypeCode[dtype], length);
  }
  free(buffer: NativeBuffer): void {
    native.free(buffer);
  }
  write(buffer: NativeBuffer, offset: number, data: TypedArray): void {
    native.write(buffer, offset, data);
  }
  read(buffer: NativeBuffer, offset: number, dst: TypedArray): void {
    native.read(buffer, offset, dst);
  }
  readAsync(buffer: NativeBuffer, offset: number, dst: TypedArray): Promise<void> {
    return native.readAsync(buffer, offset, dst);
  }
  synchronize(): void {
    native.synchronize(this.code);
  }
  memoryStats(): DeviceMemoryStats {
    return native.memoryStats(this.code);
  }
  emptyCache(): void {
    native.emptyCache(this.code);
  }
}

/** The CPU backend (always present). */
export const cpu: Backend = new NativeBackend('cpu');
let cudaBackend: Backend | null = null;
let runtime: RuntimeInfo | null = null;

/** What the addon says about the machine (the devices queried once; threads and flags read fresh). @internal */
export function runtimeInfo(): RuntimeInfo {
  const now = native.runtimeInfo();
  runtime ??= now;
  return { ...now, cuda: { ...runtime.cuda, allowTF32: now.cuda.allowTF32 } };
}

/** Why 'cuda' cannot be used in this process, or null when it can. */
export function cudaUnavailableReason(): string | null {
  const { cuda } = runtimeInfo();
  return cuda.devices > 0 ? null : cuda.reason;
}

/** The backend of a device; an Error naming `op` and the reason when the device is not usable. */
export function backendFor(op: string, device: Device): Backend {
  if (device === 'cpu') return cpu;
  const reason = cudaUnavailableReason();
  if (reason !== null) throw new Error(`${op}: device 'cuda' is not available: ${reason}`);
  return (cudaBackend ??= new NativeBackend('cuda'));
}

let defaultDeviceChoice: Device | null = null;

/**
 * The device tensors are created on when none is given: NEURAL_SIMILARITY_DEVICE=cpu|cuda|auto (default auto:
 * 'cuda' when a usable GPU is present, else 'cpu'), or what setDefaultDevice chose.
 */
export function defaultDevice(): Device {
  if (defaultDeviceChoice) return defaultDeviceChoice;
  const env = (process.env.NEURAL_SIMILARITY_DEVICE ?? 'auto').toLowerCase();
  if (env !== 'cpu' && env !== 'cuda' && env !== 'auto') {
    throw new TypeError(`NEURAL_SIMILARITY_DEVICE: expected 'cpu', 'cuda' or 'auto' but got '${env}'`);
  }
  if (env === 'cuda') backendFor('NEURAL_SIMILARITY_DEVICE', 'cuda');
  defaultDeviceChoice = env === 'auto' ? (cudaUnavailableReason() === null ? 'cuda' : 'cpu') : env;
  return defaultDeviceChoice;
}

/** Sets the device tensors are created on when none is given. */
export function setDefaultDevice(device: Device): void {
  if (device !== 'cpu' && device !== 'cuda') {
    throw new TypeError(`setDefaultDevice: expected 'cpu' or 'cuda' but got ${String(device)}`);
  }
  backendFor('setDefaultDevice', device);
  defaultDeviceChoice = device;
}

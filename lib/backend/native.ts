/**
 * Loading the native addon and the typed surface of its entry points (native/binding.cc).
 * The binding checks every argument again; lib/ops/ checks first, with messages in terms of tensors.
 */
import * as path from 'path';

/** The element storage of a CPU tensor. */
export type TypedArray = Float32Array | Float64Array | Int32Array;
/** Integers passed as a list (shapes, strides). */
type Ints = readonly number[];

/** Runtime facts the addon reports. */
export interface RuntimeInfo {
  threads: number;
  isa: 'avx512' | 'avx2' | 'portable';
  workspaceCachedBytes: number;
  workspaceInUseBytes: number;
  cudaCompiled: boolean;
  cudaDevices: number;
  cudaDevice?: string;
  cudaReason: string;
}

/** The native entry points; argument order mirrors native/kernels.h. */
export interface NativeBinding {
  runtimeInfo(): RuntimeInfo;
  setNumThreads(threads: number): void;
  workspaceTrim(): void;
  workspacePeak(reset: number): number;
  cacheLineOffset(buffer: ArrayBuffer): number;
  adviseHugePages(buffer: ArrayBuffer): number;
  unary(op: number, x: TypedArray, y: TypedArray, alpha: number): void;
  unaryBackward(op: number, x: TypedArray, y: TypedArray, dy: TypedArray, dx: TypedArray, alpha: number): void;
  binary(op: number, shape: Ints, strideA: Ints, strideB: Ints, a: TypedArray, b: TypedArray, out: TypedArray): void;
  copy(shape: Ints, src: TypedArray, srcOffset: number, srcStrides: Ints, dst: TypedArray, dstOffset: number,
       dstStrides: Ints): void;
  cast(src: TypedArray, dst: TypedArray): void;
  reduce(op: number, outer: number, r: number, inner: number, x: TypedArray, y: TypedArray, scale: number): void;
  argmax(outer: number, r: number, inner: number, x: TypedArray, out: Int32Array): void;
  softmax(isLog: number, outer: number, dim: number, inner: number, x: TypedArray, y: TypedArray): void;
  softmaxBackward(isLog: number, outer: number, dim: number, inner: number, y: TypedArray, dy: TypedArray,
                  dx: TypedArray): void;
  matmul(batch: number, m: number, n: number, k: number, a: TypedArray, aBs: number, aRs: number, aCs: number,
         b: TypedArray, bBs: number, bRs: number, bCs: number, c: TypedArray, accumulate: number): void;
  conv2dForward(dims: Ints, x: TypedArray, w: TypedArray, bias: TypedArray | null, y: TypedArray): void;
  conv2dBackwardInput(dims: Ints, dy: TypedArray, w: TypedArray, dx: TypedArray): void;
  conv2dBackwardWeight(dims: Ints, x: TypedArray, dy: TypedArray, dw: TypedArray, dbias: TypedArray | null): void;
  similarityFold(spatial: number, rows: number, k: number, w: TypedArray, m: TypedArray, out: TypedArray): void;
  similarityStaticBackwardWeight(dims: Ints, spatial: number, x: TypedArray, dy: TypedArray, w: TypedArray,
                                 m: TypedArray, dw: TypedArray | null, dm: TypedArray | null,
                                 dbias: TypedArray | null): void;
  similarityConv2dForward(dims: Ints, spatial: number, x: TypedArray, w: TypedArray, m: TypedArray,
                          bias: TypedArray | null, y: TypedArray): void;
  similarityConv2dBackward(dims: Ints, spatial: number, x: TypedArray, w: TypedArray, m: TypedArray, dy: TypedArray,
                           dx: TypedArray | null, dw: TypedArray | null, dm: TypedArray | null,
                           dbias: TypedArray | null): void;
  maxPool2d(dims: Ints, x: TypedArray, y: TypedArray, argmax: Int32Array): void;
  maxPool2dBackward(dims: Ints, dy: TypedArray, argmax: Int32Array, dx: TypedArray): void;
  avgPool2d(dims: Ints, countIncludePad: number, x: TypedArray, y: TypedArray): void;
  avgPool2dBackward(dims: Ints, countIncludePad: number, dy: TypedArray, dx: TypedArray): void;
  batchNormForward(n: number, c: number, hw: number, x: TypedArray, gamma: TypedArray | null, beta: TypedArray | null,
                   eps: number, y: TypedArray, mean: TypedArray, invstd: TypedArray, varUnbiased: TypedArray): void;
  batchNormBackward(n: number, c: number, hw: number, x: TypedArray, dy: TypedArray, gamma: TypedArray | null,
                    mean: TypedArray, invstd: TypedArray, dx: TypedArray, dgamma: TypedArray | null,
                    dbeta: TypedArray | null): void;
  random(kind: number, seed: number, offset: number, a: number, b: number, out: TypedArray): void;
  sgdStep(param: TypedArray, grad: TypedArray, momentumBuf: TypedArray | null, lr: number, momentum: number,
          dampening: number, weightDecay: number, nesterov: number, firstStep: number): void;
  adamStep(param: TypedArray, grad: TypedArray, expAvg: TypedArray, expAvgSq: TypedArray, lr: number, beta1: number,
           beta2: number, eps: number, weightDecay: number, decoupled: number, step: number): void;
}

/** Op codes shared with native/kernels.h. */
export const UnaryOp = { neg: 0, exp: 1, log: 2, sqrt: 3, tanh: 4, sigmoid: 5, relu: 6, abs: 7, pow: 8 } as const;
export const BinaryOp = {
  add: 0, sub: 1, mul: 2, div: 3, pow: 4, maximum: 5, minimum: 6, eq: 7, ne: 8, lt: 9, le: 10, gt: 11, ge: 12,
} as const;
export const ReduceOp = { sum: 0, max: 1, min: 2 } as const;
export const RandomKind = { uniform: 0, normal: 1, bernoulli: 2 } as const;

/** The package root: where package.json, build/ and prebuilds/ live (dist/lib/backend → ../../..). */
export const packageRoot = path.resolve(__dirname, '..', '..', ...(path.basename(path.resolve(__dirname, '..', '..')) === 'dist' ? ['..'] : []));

function load(): NativeBinding {
  // node-gyp-build picks prebuilds/<platform>-<arch>/ first, then build/Release (node-gyp or cmake-js).
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const nodeGypBuild = require('node-gyp-build') as (dir: string) => NativeBinding;
  return nodeGypBuild(packageRoot);
}

/** The loaded addon. */
export const native: NativeBinding = load();

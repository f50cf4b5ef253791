/**
 * neural-similarity: tensors, autograd, layers and fast convolution kernels for Node.js, with neural
 * similarity learning (Liu et al., NeurIPS 2019) as a first-class layer.
 *
 *   import * as ns from 'neural-similarity';
 *   const x = ns.randn([8, 3, 32, 32]);
 *   const y = ns.conv2d(x, w, { padding: 1 });
 */
import './ops/methods';

export { Tensor } from './tensor';
export type { DType, Device, TypedArray } from './tensor';
export { memory, tidy, keep, emptyCache } from './memory';
export type { MemoryInfo } from './memory';
export { noGrad, isGradEnabled } from './autograd/node';
export type { BackwardOptions } from './autograd/engine';
export { backendInfo } from './backend/info';
export { defaultDevice, setDefaultDevice } from './backend/backend';
export * as cuda from './backend/cuda';
export { backends } from './backend/cuda';
export type { BackendInfo } from './backend/info';
export { setNumThreads, getNumThreads } from './backend/threads';

export { tensor, zeros, ones, full, zerosLike, onesLike, arange, eye, randn, rand, manualSeed, rngState, setRngState } from './ops/creation';
export type { TensorOptions } from './ops/creation';
export {
  add, sub, mul, div, pow, maximum, minimum, eq, ne, lt, le, gt, ge, neg, exp, log, sqrt, tanh, sigmoid, relu, abs,
  square, clone, cast,
} from './ops/elementwise';
export { sum, mean, max, min, argmax } from './ops/reduce';
export type { Axes } from './ops/reduce';
export { reshape, flatten, squeeze, unsqueeze, permute, transpose, slice, concat, stack, broadcastTo, indexSelect } from './ops/shape';
export { matmul, linear } from './ops/matmul';
export { conv2d } from './ops/conv';
export { similarityConv2d, dynamicConv2d, similarityForm } from './ops/similarity';
export type { SimilarityConv2dOptions, SimilarityForm } from './ops/similarity';
export type { Conv2dOptions } from './ops/conv';
export { maxPool2d, avgPool2d, globalAvgPool2d } from './ops/pool';
export type { Pool2dOptions, AvgPool2dOptions } from './ops/pool';
export { batchNorm2d } from './ops/norm';
export type { BatchNormOptions } from './ops/norm';
export { softmax, logSoftmax, crossEntropy, mseLoss } from './ops/softmax';
export type { CrossEntropyOptions, Reduction } from './ops/softmax';
export { dropout } from './ops/dropout';
export { to } from './ops/transfer';
export type { TensorLike } from './ops/util';

export { saveFile, loadFile } from './io/safetensors';
export type { SafetensorsContents } from './io/safetensors';

export * as nn from './nn';
export * as optim from './optim';
export * as data from './data';
export * as train from './train';
export * as models from './models';
export * as fewshot from './fewshot';
export * as experiments from './experiments';
export * as report from './report';

/**
 * The ops as Tensor methods (x.add(y).relu().sum()), for chaining, and `backward`: installed here so that
 * lib/tensor.ts imports no op and no tape code. Each method is the op of the same name with `this` first.
 */
import { Device, DType, Tensor } from '../tensor';
import { backward, BackwardOptions, installGradientOps } from '../autograd/engine';
import { TensorLike } from './util';
import * as ew from './elementwise';
import * as red from './reduce';
import * as shp from './shape';
import { matmul } from './matmul';
import { softmax, logSoftmax } from './softmax';
import { to } from './transfer';
import { onesLike } from './creation';

declare module '../tensor' {
  interface Tensor {
    /**
     * Back-propagates from this tensor: accumulates d(this)/d(leaf) · grad into `.grad` of every leaf that
     * requires grad. `grad` defaults to 1 for a one-element tensor and is required otherwise.
     */
    backward(grad?: Tensor, options?: BackwardOptions): void;
    /** This tensor on `device` (itself when already there; a differentiable copy otherwise). */
    to(device: Device): Tensor;
    /** to('cpu'). */
    cpu(): Tensor;
    /** to('cuda'). */
    cuda(): Tensor;
    add(other: TensorLike): Tensor;
    sub(other: TensorLike): Tensor;
    mul(other: TensorLike): Tensor;
    div(other: TensorLike): Tensor;
    pow(exponent: TensorLike): Tensor;
    maximum(other: TensorLike): Tensor;
    minimum(other: TensorLike): Tensor;
    eq(other: TensorLike): Tensor;
    ne(other: TensorLike): Tensor;
    lt(other: TensorLike): Tensor;
    le(other: TensorLike): Tensor;
    gt(other: TensorLike): Tensor;
    ge(other: TensorLike): Tensor;
    neg(): Tensor;
    exp(): Tensor;
    log(): Tensor;
    sqrt(): Tensor;
    tanh(): Tensor;
    sigmoid(): Tensor;
    relu(): Tensor;
    abs(): Tensor;
    square(): Tensor;
    clone(): Tensor;
    cast(dtype: DType): Tensor;
    sum(axes?: red.Axes, keepDims?: boolean): Tensor;
    mean(axes?: red.Axes, keepDims?: boolean): Tensor;
    max(axes?: red.Axes, keepDims?: boolean): Tensor;
    min(axes?: red.Axes, keepDims?: boolean): Tensor;
    argmax(axis?: number, keepDims?: boolean): Tensor;
    reshape(shape: readonly number[]): Tensor;
    flatten(startAxis?: number, endAxis?: number): Tensor;
    squeeze(axis?: number): Tensor;
    unsqueeze(axis: number): Tensor;
    permute(dims: readonly number[]): Tensor;
    transpose(dim0?: number, dim1?: number): Tensor;
    slice(begin: readonly number[], size?: readonly number[]): Tensor;
    broadcastTo(shape: readonly number[]): Tensor;
    matmul(other: Tensor): Tensor;
    softmax(axis?: number): Tensor;
    logSoftmax(axis?: number): Tensor;
  }
}

const methods: Record<string, (...args: never[]) => Tensor> = {
  add: ew.add, sub: ew.sub, mul: ew.mul, div: ew.div, pow: ew.pow, maximum: ew.maximum, minimum: ew.minimum,
  eq: ew.eq, ne: ew.ne, lt: ew.lt, le: ew.le, gt: ew.gt, ge: ew.ge, neg: ew.neg, exp: ew.exp, log: ew.log,
  sqrt: ew.sqrt, tanh: ew.tanh, sigmoid: ew.sigmoid, relu: ew.relu, abs: ew.abs, square: ew.square,
  clone: ew.clone, cast: ew.cast, sum: red.sum, mean: red.mean, max: red.max, min: red.min, argmax: red.argmax,
  reshape: shp.reshape, flatten: shp.flatten, squeeze: shp.squeeze, unsqueeze: shp.unsqueeze,
  permute: shp.permute, transpose: shp.transpose, slice: shp.slice, broadcastTo: shp.broadcastTo,
  matmul, softmax, logSoftmax, to,
  cpu: (x: Tensor) => to(x, 'cpu'),
  cuda: (x: Tensor) => to(x, 'cuda'),
};

installGradientOps({ add: ew.add, onesLike });

Object.defineProperty(Tensor.prototype, 'backward', {
  value: function (this: Tensor, grad?: Tensor, options?: BackwardOptions): void {
    backward(this, grad, options);
  },
  writable: true,
  configurable: true,
});

for (const [name, fn] of Object.entries(methods)) {
  Object.defineProperty(Tensor.prototype, name, {
    value: function (this: Tensor, ...args: unknown[]) {
      return (fn as (...a: unknown[]) => Tensor)(this, ...args);
    },
    writable: true,
    configurable: true,
  });
}

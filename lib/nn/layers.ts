/**
 * The standard layers.
 */
import { Tensor, DType } from '../tensor';

const empty = (shape: number[], dtype: DType): Tensor => Tensor.empty(shape, dtype);
import { Module } from './module';
import { defaultWeight, uniform, fanIn } from './init';
import { linear } from '../ops/matmul';
import { conv2d } from '../ops/conv';
import { batchNorm2d } from '../ops/norm';
import { maxPool2d, avgPool2d, globalAvgPool2d, Pool2dOptions, AvgPool2dOptions } from '../ops/pool';
import { relu, sigmoid, tanh } from '../ops/elementwise';
import { flatten } from '../ops/shape';
import { dropout } from '../ops/dropout';
import { checkInt, checkNumber, checkOptions } from '../ops/util';
import { full } from '../ops/creation';

/** Options shared by layers that own weights. */
export interface LayerOptions {
  /** Add a learned bias (default true). */
  bias?: boolean;
  /** Parameter dtype (default float32). */
  dtype?: DType;
}

/** y = x · Wᵀ + b; x [..., inFeatures] → [..., outFeatures]. PyTorch's default initialisation. */
export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  constructor(readonly inFeatures: number, readonly outFeatures: number, options: LayerOptions = {}) {
    super();
    checkOptions('Linear', options, ['bias', 'dtype']);
    checkInt('Linear', 'inFeatures', inFeatures, 1);
    checkInt('Linear', 'outFeatures', outFeatures, 1);
    const dtype = options.dtype ?? 'float32';
    this.weight = this.registerParameter('weight', defaultWeight(empty([outFeatures, inFeatures], dtype)));
    this.bias = options.bias === false ? null
      : this.registerParameter('bias', uniform(empty([outFeatures], dtype), 1 / Math.sqrt(inFeatures)));
  }
  forward(x: Tensor): Tensor {
    return linear(x, this.weight, this.bias);
  }
}

/** Options of Conv2d. */
export interface Conv2dLayerOptions extends LayerOptions {
  stride?: number | [number, number];
  padding?: number | [number, number] | 'valid' | 'same';
  dilation?: number | [number, number];
  groups?: number;
}

/** 2-D convolution layer: [N, inChannels, H, W] → [N, outChannels, Ho, Wo]. */
export class Conv2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  constructor(readonly inChannels: number, readonly outChannels: number, readonly kernelSize: number | [number, number],
              readonly options: Conv2dLayerOptions = {}) {
    super();
    checkOptions('Conv2d', options, ['bias', 'dtype', 'stride', 'padding', 'dilation', 'groups']);
    checkInt('Conv2d', 'inChannels', inChannels, 1);
    checkInt('Conv2d', 'outChannels', outChannels, 1);
    const [kh, kw] = typeof kernelSize === 'number' ? [kernelSize, kernelSize] : kernelSize;
    checkInt('Conv2d', 'kernelSize', kh, 1);
    checkInt('Conv2d', 'kernelSize', kw, 1);
    const groups = checkInt('Conv2d', 'groups', options.groups ?? 1, 1);
    if (inChannels % groups || outChannels % groups) {
      throw new RangeError(`Conv2d: expected groups (${groups}) to divide inChannels (${inChannels}) and outChannels (${outChannels})`);
    }
    const dtype = options.dtype ?? 'float32';
    const w = defaultWeight(empty([outChannels, inChannels / groups, kh, kw], dtype));
    this.weight = this.registerParameter('weight', w);
    this.bias = options.bias === false ? null
      : this.registerParameter('bias', uniform(empty([outChannels], dtype), 1 / Math.sqrt(fanIn(w))));
  }
  forward(x: Tensor): Tensor {
    const { stride, padding, dilation, groups } = this.options;
    return conv2d(x, this.weight, { bias: this.bias, stride, padding, dilation, groups });
  }
}

/** Batch normalisation over channels with learned scale and shift and running statistics. */
export class BatchNorm2d extends Module {
  readonly weight: Tensor | null;
  readonly bias: Tensor | null;
  readonly runningMean: Tensor;
  readonly runningVar: Tensor;
  constructor(readonly numFeatures: number, readonly options: { eps?: number; momentum?: number; affine?: boolean; dtype?: DType } = {}) {
    super();
    checkOptions('BatchNorm2d', options, ['eps', 'momentum', 'affine', 'dtype']);
    checkInt('BatchNorm2d', 'numFeatures', numFeatures, 1);
    if (options.eps !== undefined) checkNumber('BatchNorm2d', 'eps', options.eps, 0);
    if (options.momentum !== undefined) checkNumber('BatchNorm2d', 'momentum', options.momentum, 0, 1);
    const dtype = options.dtype ?? 'float32';
    const affine = options.affine ?? true;
    this.weight = affine ? this.registerParameter('weight', full([numFeatures], 1, { dtype })) : null;
    this.bias = affine ? this.registerParameter('bias', full([numFeatures], 0, { dtype })) : null;
    this.runningMean = this.registerBuffer('runningMean', full([numFeatures], 0, { dtype }));
    this.runningVar = this.registerBuffer('runningVar', full([numFeatures], 1, { dtype }));
  }
  forward(x: Tensor): Tensor {
    return batchNorm2d(x, this.runningMean, this.runningVar, {
      weight: this.weight, bias: this.bias, training: this.training, momentum: this.options.momentum, eps: this.options.eps,
    });
  }
}

/** max(x, 0). */
export class ReLU extends Module {
  forward(x: Tensor): Tensor { return relu(x); }
}

/** Logistic sigmoid. */
export class Sigmoid extends Module {
  forward(x: Tensor): Tensor { return sigmoid(x); }
}

/** Hyperbolic tangent. */
export class Tanh extends Module {
  forward(x: Tensor): Tensor { return tanh(x); }
}

/** Max pooling layer. */
export class MaxPool2d extends Module {
  constructor(readonly kernelSize: number | [number, number], readonly options: Pool2dOptions = {}) {
    super();
    checkOptions('MaxPool2d', options, ['stride', 'padding', 'ceilMode']);
  }
  forward(x: Tensor): Tensor { return maxPool2d(x, this.kernelSize, this.options); }
}

/** Average pooling layer. */
export class AvgPool2d extends Module {
  constructor(readonly kernelSize: number | [number, number], readonly options: AvgPool2dOptions = {}) {
    super();
    checkOptions('AvgPool2d', options, ['stride', 'padding', 'ceilMode', 'countIncludePad']);
  }
  forward(x: Tensor): Tensor { return avgPool2d(x, this.kernelSize, this.options); }
}

/** Mean over H and W: [N, C, H, W] → [N, C]. */
export class GlobalAvgPool2d extends Module {
  forward(x: Tensor): Tensor { return globalAvgPool2d(x); }
}

/** Collapses all dimensions after the first: [N, ...] → [N, prod(...)]. */
export class Flatten extends Module {
  forward(x: Tensor): Tensor { return flatten(x, 1); }
}

/** Inverted dropout, active in training mode only. */
export class Dropout extends Module {
  constructor(readonly p = 0.5) {
    super();
    checkNumber('Dropout', 'p', p, 0, 1);
  }
  forward(x: Tensor): Tensor { return dropout(x, this.p, this.training); }
}

/** Applies modules in order. */
export class Sequential extends Module {
  private readonly layers: Module[];
  constructor(...layers: Module[]) {
    super();
    this.layers = layers.map((m, i) => this.registerModule(String(i), m));
  }
  forward(x: Tensor): Tensor {
    let y = x;
    for (const m of this.layers) y = m.forward(y);
    return y;
  }
  /** The i-th module. */
  at(i: number): Module {
    return this.layers[i];
  }
  get length(): number {
    return this.layers.length;
  }
}

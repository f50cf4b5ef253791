/**
 * Neural similarity layers (DESIGN.md §2): static and dynamic similarity convolutions, the cosine
 * (sphere) convolution their predictor uses, and the dynamic-filter baseline.
 */
import { Tensor, DType, sizeOf } from '../tensor';
import { Module } from './module';
import { BatchNorm2d, Conv2d, Linear } from './layers';
import { calculateGain, defaultWeight, fanIn, kaimingNormal, normal_, uniform_ } from './init';
import { ConvGeometry, convGeometry, convRepr, pyFloat, pyStr } from './util';
import { similarityConv2d, dynamicConv2d } from '../ops/similarity';
import { conv2d } from '../ops/conv';
import { add, div, mul, relu, sqrt, square } from '../ops/elementwise';
import { sum } from '../ops/reduce';
import { reshape } from '../ops/shape';
import { globalAvgPool2d } from '../ops/pool';
import { eye, full, ones } from '../ops/creation';
import { checkInt, checkNumber, checkOptions } from '../ops/util';
import { noGrad } from '../autograd/node';
import { assign, fill_ } from '../ops/transfer';

/** Convolution geometry shared by the layers here. */
export interface ConvGeometryOptions {
  stride?: number | [number, number];
  padding?: number | [number, number] | 'valid' | 'same';
  dilation?: number | [number, number];
  /** Add a learned bias (default true, except SphereConv2d). */
  bias?: boolean;
  /** Parameter dtype (default float32). */
  dtype?: DType;
}

/** Checks a layer's channel counts and kernel size; returns [kh, kw]. */
function layerKernel(op: string, inChannels: number, outChannels: number, k: number | [number, number]): [number, number] {
  checkInt(op, 'inChannels', inChannels, 1);
  checkInt(op, 'outChannels', outChannels, 1);
  const [kh, kw] = typeof k === 'number' ? [k, k] : k;
  return [checkInt(op, 'kernelSize', kh, 1), checkInt(op, 'kernelSize', kw, 1)];
}

/** Options of SimilarityConv2d. */
export interface SimilarityConv2dLayerOptions extends ConvGeometryOptions {
  /** The form of the learned M: 'diagonal' [K], 'spatial' [K, K] (default) or 'full' [C·K, C·K]. */
  form?: 'diagonal' | 'spatial' | 'full';
  /** Coefficient of the L2 penalty Σ M² that regularization() returns (default 5e-3 for 'spatial', else 0). */
  l2?: number;
}

/**
 * Static neural similarity convolution: y = wᵀ M x with one learned M per layer, initialised to the
 * identity (so the layer starts as a plain convolution). M folds into the weight at every call.
 */
export class SimilarityConv2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  /** The learned similarity matrix. */
  readonly m: Tensor;
  readonly form: 'diagonal' | 'spatial' | 'full';
  readonly l2: number;
  private readonly geometry: ConvGeometry;
  constructor(readonly inChannels: number, readonly outChannels: number, kernelSize: number | [number, number],
              readonly options: SimilarityConv2dLayerOptions = {}) {
    super();
    const op = 'SimilarityConv2d';
    checkOptions(op, options, ['stride', 'padding', 'dilation', 'bias', 'dtype', 'form', 'l2']);
    const [kh, kw] = layerKernel(op, inChannels, outChannels, kernelSize);
    const form = options.form ?? 'spatial';
    if (!['diagonal', 'spatial', 'full'].includes(form)) {
      throw new TypeError(`${op}: expected form 'diagonal', 'spatial' or 'full' but got ${String(form)}`);
    }
    this.form = form;
    this.l2 = checkNumber(op, 'l2', options.l2 ?? (form === 'spatial' ? 5e-3 : 0), 0);
    this.geometry = convGeometry(op, options);
    const dtype = options.dtype ?? 'float32';
    const taps = kh * kw;
    this.weight = this.registerParameter('weight', defaultWeight(Tensor.empty([outChannels, inChannels, kh, kw], dtype)));
    this.bias = options.bias === false ? null : this.registerParameter('bias', defaultBias(outChannels, this.weight));
    const m = form === 'diagonal' ? ones([taps], { dtype }) : eye(form === 'spatial' ? taps : inChannels * taps, { dtype });
    this.m = this.registerParameter('m', m);
  }
  forward(x: Tensor): Tensor {
    const { stride, padding, dilation } = this.options;
    return similarityConv2d(x, this.weight, this.m, { bias: this.bias, stride, padding, dilation });
  }
  /** l2 · Σ M², or null when l2 is 0. */
  override regularization(): Tensor | null {
    return this.l2 > 0 ? mul(sum(square(this.m)), this.l2) : null;
  }
  /** Conv2d's arguments, then "form='spatial'" and the L2 coefficient when not 0. */
  override extraRepr(): string {
    const [, , kh, kw] = this.weight.shape;
    const l2 = this.l2 > 0 ? `, l2=${pyFloat(this.l2)}` : '';
    return `${convRepr(this.inChannels, this.outChannels, [kh, kw], this.geometry, 1, this.bias !== null)}, form=${pyStr(this.form)}${l2}`;
  }
  /** The convolution's N·F·Ho·Wo·C·K plus folding M into the weight: F·C·K (diagonal), F·C·K² (spatial), F·(C·K)² (full). */
  override ownMacs(_input: readonly number[], output: readonly number[]): number {
    const perFilter = this.weight.size / this.outChannels, taps = perFilter / this.inChannels;
    const fold = this.form === 'diagonal' ? 1 : this.form === 'spatial' ? taps : perFilter;
    return sizeOf(output) * perFilter + this.weight.size * fold;
  }
}

/** PyTorch's default bias: U(±1/√fanIn) with the weight's fan-in. */
function defaultBias(outChannels: number, weight: Tensor): Tensor {
  const bound = 1 / Math.sqrt(fanIn(weight));
  return uniform_(Tensor.empty([outChannels], weight.dtype), -bound, bound);
}

/** Options of SphereConv2d. */
export interface SphereConv2dOptions extends ConvGeometryOptions {
  /** 'input' divides by the patch norm (default); 'full' also by the filter norm (cosine similarity). */
  norm?: 'input' | 'full';
  /** Added to Σ x² under the square root (default 1e-4). */
  eps?: number;
}

/**
 * Sphere (cosine) convolution: conv(x, w) / √(Σ_patch x² + eps), and / ‖w_f‖ too with norm 'full'.
 * The patch norm is a K-tap box filter over the channel-summed squares.
 */
export class SphereConv2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly norm: 'input' | 'full';
  readonly eps: number;
  private readonly box: Tensor;
  private readonly geometry: ConvGeometry;
  constructor(readonly inChannels: number, readonly outChannels: number, kernelSize: number | [number, number],
              readonly options: SphereConv2dOptions = {}) {
    super();
    const op = 'SphereConv2d';
    checkOptions(op, options, ['stride', 'padding', 'dilation', 'bias', 'dtype', 'norm', 'eps']);
    const [kh, kw] = layerKernel(op, inChannels, outChannels, kernelSize);
    const norm = options.norm ?? 'input';
    if (norm !== 'input' && norm !== 'full') throw new TypeError(`${op}: expected norm 'input' or 'full' but got ${String(norm)}`);
    this.norm = norm;
    this.eps = checkNumber(op, 'eps', options.eps ?? 1e-4, 0);
    this.geometry = convGeometry(op, options);
    const dtype = options.dtype ?? 'float32';
    this.weight = this.registerParameter('weight', kaimingNormal(Tensor.empty([outChannels, inChannels, kh, kw], dtype)));
    this.bias = options.bias ? this.registerParameter('bias', full([outChannels], 0, { dtype })) : null;
    this.box = this.registerBuffer('box', ones([1, 1, kh, kw], { dtype }), { persistent: false });
  }
  forward(x: Tensor): Tensor {
    const { stride, padding, dilation } = this.options;
    const geometry = { stride, padding, dilation };
    const y = conv2d(x, this.weight, geometry);
    const patchNorm = sqrt(add(conv2d(sum(square(x), 1, true), this.box, geometry), this.eps));
    let out = div(y, patchNorm);
    if (this.norm === 'full') {
      const wNorm = sqrt(add(sum(square(this.weight), [1, 2, 3]), 1e-12));
      out = div(out, reshape(wNorm, [1, this.outChannels, 1, 1]));
    }
    return this.bias ? add(out, reshape(this.bias, [1, this.outChannels, 1, 1])) : out;
  }
  /** Conv2d's arguments, then "norm='input'". */
  override extraRepr(): string {
    const [, , kh, kw] = this.weight.shape;
    return `${convRepr(this.inChannels, this.outChannels, [kh, kw], this.geometry, 1, this.bias !== null)}, norm=${pyStr(this.norm)}`;
  }
  /**
   * The convolution's N·F·Ho·Wo·C·K, the channel-summed squares N·C·H·W, the box filter N·Ho·Wo·K, and with
   * norm 'full' the filter norms F·C·K.
   */
  override ownMacs(input: readonly number[], output: readonly number[]): number {
    const perFilter = this.weight.size / this.outChannels, taps = perFilter / this.inChannels;
    const [n, , ho, wo] = output;
    return sizeOf(output) * perFilter + sizeOf(input) + n * ho * wo * taps + (this.norm === 'full' ? this.weight.size : 0);
  }
}

/** Options of DynamicSimilarityConv2d. */
export interface DynamicSimilarityConv2dOptions extends ConvGeometryOptions {
  /** 'diagonal' (M_p = diag(1 + g(x)), default) or 'spatial' (M_p = I + g(x), K×K). */
  form?: 'diagonal' | 'spatial';
  /** Predictor width h (default 64 for 'diagonal', 128 for 'spatial', as the authors used). */
  hidden?: number;
  /** Predictor's sphere normalisation: 'input' (default) or 'full'. */
  sphere?: 'input' | 'full';
  /** Scale of the predictor's last layer at initialisation, times He (default 0.001): g ≈ 0, M ≈ I. */
  initScale?: number;
}

/**
 * Dynamic neural similarity convolution: a predictor g reads the input (3×3 SphereConv2d C→h, BN, ReLU,
 * then a conv h→r with the main convolution's kernel, stride, padding and dilation, so its output is
 * Ho×Wo; BN for the diagonal form) and M_p = I + g(x)_p per sample and position; then the fused
 * similarityConv2d. With g = 0 the layer is exactly a plain convolution.
 */
export class DynamicSimilarityConv2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly form: 'diagonal' | 'spatial';
  readonly sphere: SphereConv2d;
  readonly bn1: BatchNorm2d;
  readonly head: Conv2d;
  readonly bn2: BatchNorm2d | null;
  /** Predictor width h. */
  readonly hidden: number;
  private readonly identity: Tensor;
  private readonly geometry: ConvGeometry;
  constructor(readonly inChannels: number, readonly outChannels: number, kernelSize: number | [number, number],
              readonly options: DynamicSimilarityConv2dOptions = {}) {
    super();
    const op = 'DynamicSimilarityConv2d';
    checkOptions(op, options, ['stride', 'padding', 'dilation', 'bias', 'dtype', 'form', 'hidden', 'sphere', 'initScale']);
    const [kh, kw] = layerKernel(op, inChannels, outChannels, kernelSize);
    const form = options.form ?? 'diagonal';
    if (form !== 'diagonal' && form !== 'spatial') throw new TypeError(`${op}: expected form 'diagonal' or 'spatial' but got ${String(form)}`);
    this.form = form;
    const hidden = checkInt(op, 'hidden', options.hidden ?? (form === 'diagonal' ? 64 : 128), 1);
    this.hidden = hidden;
    const initScale = checkNumber(op, 'initScale', options.initScale ?? 1e-3, 0);
    this.geometry = convGeometry(op, options);
    const dtype = options.dtype ?? 'float32';
    const taps = kh * kw, r = form === 'diagonal' ? taps : taps * taps;
    this.weight = this.registerParameter('weight', defaultWeight(Tensor.empty([outChannels, inChannels, kh, kw], dtype)));
    this.bias = options.bias === false ? null : this.registerParameter('bias', defaultBias(outChannels, this.weight));
    this.sphere = this.registerModule('sphere', new SphereConv2d(inChannels, hidden, 3, { padding: 1, norm: options.sphere ?? 'input', dtype }));
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(hidden, { dtype }));
    const { stride, padding, dilation } = options;
    this.head = this.registerModule('head', new Conv2d(hidden, r, [kh, kw], { stride, padding, dilation, bias: false, dtype }));
    normal_(this.head.weight, 0, (initScale * calculateGain('relu')) / Math.sqrt(fanIn(this.head.weight)));
    // The diagonal form normalises its prediction; its scale γ starts at initScale so that M ≈ I.
    this.bn2 = form === 'diagonal' ? this.registerModule('bn2', new BatchNorm2d(r, { dtype })) : null;
    if (this.bn2) fill_(this.bn2.weight!, initScale);
    const id = form === 'diagonal' ? ones([taps], { dtype }) : reshape(eye(taps, { dtype }), [taps * taps]);
    this.identity = this.registerBuffer('identity', reshape(id, [1, r, 1, 1]), { persistent: false });
  }

  /** The predicted similarity M = I + g(x): [N, K, Ho, Wo] (diagonal) or [N, K·K, Ho, Wo] (spatial). */
  predict(x: Tensor): Tensor {
    let g = this.head.forward(relu(this.bn1.forward(this.sphere.forward(x))));
    if (this.bn2) g = this.bn2.forward(g);
    return add(g, this.identity);
  }

  forward(x: Tensor): Tensor {
    const { stride, padding, dilation } = this.options;
    return similarityConv2d(x, this.weight, this.predict(x), { bias: this.bias, stride, padding, dilation });
  }
  /** Conv2d's arguments, then "form='diagonal', hidden=64"; the predictor's modules follow as children. */
  override extraRepr(): string {
    const [, , kh, kw] = this.weight.shape;
    return `${convRepr(this.inChannels, this.outChannels, [kh, kw], this.geometry, 1, this.bias !== null)}, form=${pyStr(this.form)}, hidden=${this.hidden}`;
  }
  /**
   * The convolution's N·F·Ho·Wo·C·K plus applying M_p to every patch: N·Ho·Wo·C·K (diagonal) or N·Ho·Wo·C·K²
   * (spatial). The predictor's modules count their own.
   */
  override ownMacs(_input: readonly number[], output: readonly number[]): number {
    const perFilter = this.weight.size / this.outChannels, taps = perFilter / this.inChannels;
    const [n, , ho, wo] = output;
    return sizeOf(output) * perFilter + n * ho * wo * perFilter * (this.form === 'diagonal' ? 1 : taps);
  }
}

/** Options of DynamicFilterConv2d. */
export interface DynamicFilterConv2dOptions extends ConvGeometryOptions {
  /** Width of the generator's hidden layer (default 64). */
  hidden?: number;
  /** Scale of the generator's output layer at initialisation (default 0.001): kernels start at the base. */
  initScale?: number;
}

/**
 * Dynamic filter network layer (the baseline of the paper): a generator (global average pool → Linear
 * C→hidden → ReLU → Linear hidden→F·C·kh·kw) produces a per-sample kernel offset that is added to a
 * learned base kernel; then dynamicConv2d.
 */
export class DynamicFilterConv2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly fc1: Linear;
  readonly fc2: Linear;
  /** Width of the generator's hidden layer. */
  readonly hidden: number;
  private readonly kernelShape: [number, number, number, number];
  private readonly geometry: ConvGeometry;
  constructor(readonly inChannels: number, readonly outChannels: number, kernelSize: number | [number, number],
              readonly options: DynamicFilterConv2dOptions = {}) {
    super();
    const op = 'DynamicFilterConv2d';
    checkOptions(op, options, ['stride', 'padding', 'dilation', 'bias', 'dtype', 'hidden', 'initScale']);
    const [kh, kw] = layerKernel(op, inChannels, outChannels, kernelSize);
    const hidden = checkInt(op, 'hidden', options.hidden ?? 64, 1);
    this.hidden = hidden;
    const initScale = checkNumber(op, 'initScale', options.initScale ?? 1e-3, 0);
    this.geometry = convGeometry(op, options);
    const dtype = options.dtype ?? 'float32';
    this.kernelShape = [outChannels, inChannels, kh, kw];
    this.weight = this.registerParameter('weight', defaultWeight(Tensor.empty(this.kernelShape, dtype)));
    this.bias = options.bias === false ? null : this.registerParameter('bias', defaultBias(outChannels, this.weight));
    this.fc1 = this.registerModule('fc1', new Linear(inChannels, hidden, { dtype }));
    this.fc2 = this.registerModule('fc2', new Linear(hidden, outChannels * inChannels * kh * kw, { dtype }));
    noGrad(() => {
      for (const t of [this.fc2.weight, this.fc2.bias!]) {
        const scaled = mul(t, initScale);
        assign(t, scaled);
        scaled.dispose();
      }
    });
  }

  /** The per-sample kernels [N, F, C, kh, kw]. */
  generate(x: Tensor): Tensor {
    const n = x.shape[0];
    const delta = reshape(this.fc2.forward(relu(this.fc1.forward(globalAvgPool2d(x)))), [n, ...this.kernelShape]);
    return add(reshape(this.weight, [1, ...this.kernelShape]), delta);
  }

  forward(x: Tensor): Tensor {
    const { stride, padding, dilation } = this.options;
    return dynamicConv2d(x, this.generate(x), { bias: this.bias, stride, padding, dilation });
  }
  /** Conv2d's arguments, then "hidden=64"; the generator's layers follow as children. */
  override extraRepr(): string {
    const [, , kh, kw] = this.weight.shape;
    return `${convRepr(this.inChannels, this.outChannels, [kh, kw], this.geometry, 1, this.bias !== null)}, hidden=${this.hidden}`;
  }
  /** The per-sample convolution's N·F·Ho·Wo·C·K; the generator's layers count their own. */
  override ownMacs(_input: readonly number[], output: readonly number[]): number {
    return sizeOf(output) * (this.weight.size / this.outChannels);
  }
}

/**
 * The standard layers, PyTorch-style: parameter names, layouts, defaults and reprs as PyTorch's.
 */
import { Tensor, DType, sizeOf } from '../tensor';
import { Module } from './module';
import { defaultWeight, fanIn, uniform_ } from './init';
import { gelu, leakyRelu, adaptiveAvgPool2d, AdaptiveSize, GeluApproximation } from './functional';
import { ConvGeometry, checkAdaptiveSize, convGeometry, convRepr, indent, pyBool, pyFloat, pyIntOrPair, pyStr } from './util';
import { linear } from '../ops/matmul';
import { conv2d } from '../ops/conv';
import { batchNorm2d } from '../ops/norm';
import { maxPool2d, avgPool2d, globalAvgPool2d, Pool2dOptions, AvgPool2dOptions } from '../ops/pool';
import { add, relu, sigmoid, tanh } from '../ops/elementwise';
import { flatten } from '../ops/shape';
import { dropout } from '../ops/dropout';
import { checkInt, checkNumber, checkOptions, checkPair, checkRank, checkTensor } from '../ops/util';
import { full, zeros } from '../ops/creation';
import { assign } from '../ops/transfer';
import { noGrad } from '../autograd/node';

/** Options shared by layers that own weights. */
export interface LayerOptions {
  /** Add a learned bias (default true). */
  bias?: boolean;
  /** Parameter dtype (default float32). */
  dtype?: DType;
}

/**
 * y = x · Wᵀ + b; x [..., inFeatures] → [..., outFeatures]. Parameters `weight` [out, in] and `bias` [out],
 * initialised as PyTorch's (U(±1/√inFeatures)).
 */
export class Linear extends Module {
  /** [outFeatures, inFeatures]. */
  readonly weight: Tensor;
  /** [outFeatures], or null without a bias. */
  readonly bias: Tensor | null;
  /**
   * @param inFeatures size of the input's last dimension
   * @param outFeatures size of the output's last dimension
   */
  constructor(readonly inFeatures: number, readonly outFeatures: number, options: LayerOptions = {}) {
    super();
    checkOptions('Linear', options, ['bias', 'dtype']);
    checkInt('Linear', 'inFeatures', inFeatures, 1);
    checkInt('Linear', 'outFeatures', outFeatures, 1);
    const dtype = options.dtype ?? 'float32';
    this.weight = this.registerParameter('weight', defaultWeight(Tensor.empty([outFeatures, inFeatures], dtype)));
    const bound = 1 / Math.sqrt(inFeatures);
    this.bias = options.bias === false ? null : this.registerParameter('bias', uniform_(Tensor.empty([outFeatures], dtype), -bound, bound));
  }
  forward(x: Tensor): Tensor {
    return linear(x, this.weight, this.bias);
  }
  /** "in_features=…, out_features=…, bias=…". */
  override extraRepr(): string {
    return `in_features=${this.inFeatures}, out_features=${this.outFeatures}, bias=${pyBool(this.bias !== null)}`;
  }
  /** One multiply-accumulate per input feature per output element. */
  override ownMacs(_input: readonly number[], output: readonly number[]): number {
    return sizeOf(output) * this.inFeatures;
  }
}

/** Options of Conv2d. */
export interface Conv2dLayerOptions extends LayerOptions {
  /** Step between output positions (default 1). */
  stride?: number | [number, number];
  /** Zeros added on each side (default 0), or 'valid' (none) or 'same' (output size = input size; stride 1). */
  padding?: number | [number, number] | 'valid' | 'same';
  /** Spacing between kernel taps (default 1). */
  dilation?: number | [number, number];
  /** Input channels and filters split into this many independent groups (default 1). */
  groups?: number;
}

/**
 * 2-D convolution layer: [N, inChannels, H, W] → [N, outChannels, Ho, Wo]. Parameters `weight`
 * [outChannels, inChannels/groups, kh, kw] and `bias` [outChannels], initialised as PyTorch's.
 */
export class Conv2d extends Module {
  /** [outChannels, inChannels / groups, kh, kw]. */
  readonly weight: Tensor;
  /** [outChannels], or null without a bias. */
  readonly bias: Tensor | null;
  private readonly geometry: ConvGeometry;
  /**
   * @param inChannels C of the input
   * @param outChannels F, the number of filters
   * @param kernelSize kh × kw: one number for both or [kh, kw]
   * @param options stride, padding, dilation, groups, bias and dtype, as given
   */
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
    this.geometry = convGeometry('Conv2d', options);
    const dtype = options.dtype ?? 'float32';
    const w = defaultWeight(Tensor.empty([outChannels, inChannels / groups, kh, kw], dtype));
    this.weight = this.registerParameter('weight', w);
    const bound = 1 / Math.sqrt(fanIn(w));
    this.bias = options.bias === false ? null : this.registerParameter('bias', uniform_(Tensor.empty([outChannels], dtype), -bound, bound));
  }
  forward(x: Tensor): Tensor {
    const { stride, padding, dilation, groups } = this.options;
    return conv2d(x, this.weight, { bias: this.bias, stride, padding, dilation, groups });
  }
  /** PyTorch's: "1, 16, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1)" and the non-default rest. */
  override extraRepr(): string {
    const [, , kh, kw] = this.weight.shape;
    return convRepr(this.inChannels, this.outChannels, [kh, kw], this.geometry, this.options.groups ?? 1, this.bias !== null);
  }
  /** N·F·Ho·Wo·(C/groups)·kh·kw. */
  override ownMacs(_input: readonly number[], output: readonly number[]): number {
    return sizeOf(output) * (this.weight.size / this.outChannels);
  }
}

/** Options of the batch normalisation layers. */
export interface BatchNormLayerOptions {
  /** Added to the variance (default 1e-5). */
  eps?: number;
  /** Running statistics update rate: r ← (1 − momentum)·r + momentum·batch (default 0.1). */
  momentum?: number;
  /** Learn a scale `weight` (ones) and shift `bias` (zeros) (default true). */
  affine?: boolean;
  /** Dtype of the parameters and running statistics (default float32). */
  dtype?: DType;
}

/**
 * The shared part of BatchNorm1d and BatchNorm2d: normalisation over axis 1 with learned `weight` and `bias`,
 * and the buffers `running_mean`, `running_var` (unbiased batch variances) and `num_batches_tracked` (int32
 * [], counted on the device by every training-mode forward), named as PyTorch's.
 */
export abstract class BatchNorm extends Module {
  /** Scale γ [numFeatures] (null when not affine). */
  readonly weight: Tensor | null;
  /** Shift β [numFeatures] (null when not affine). */
  readonly bias: Tensor | null;
  /** The buffer `running_mean` [numFeatures]. */
  readonly runningMean: Tensor;
  /** The buffer `running_var` [numFeatures]. */
  readonly runningVar: Tensor;
  /** The buffer `num_batches_tracked`: int32 [], training-mode forward calls so far. */
  readonly numBatchesTracked: Tensor;
  /** Added to the variance. */
  readonly eps: number;
  /** Running statistics update rate. */
  readonly momentum: number;
  /**
   * @param numFeatures C, the size of axis 1
   * @param options eps, momentum, affine and dtype, as given
   */
  constructor(readonly numFeatures: number, readonly options: BatchNormLayerOptions = {}) {
    super();
    const op = new.target.name;
    checkOptions(op, options, ['eps', 'momentum', 'affine', 'dtype']);
    checkInt(op, 'numFeatures', numFeatures, 1);
    this.eps = checkNumber(op, 'eps', options.eps ?? 1e-5, 0);
    this.momentum = checkNumber(op, 'momentum', options.momentum ?? 0.1, 0, 1);
    const dtype = options.dtype ?? 'float32';
    const affine = options.affine ?? true;
    this.weight = affine ? this.registerParameter('weight', full([numFeatures], 1, { dtype })) : null;
    this.bias = affine ? this.registerParameter('bias', full([numFeatures], 0, { dtype })) : null;
    this.runningMean = this.registerBuffer('running_mean', full([numFeatures], 0, { dtype }));
    this.runningVar = this.registerBuffer('running_var', full([numFeatures], 1, { dtype }));
    this.numBatchesTracked = this.registerBuffer('num_batches_tracked', zeros([], { dtype: 'int32' }));
  }
  /** Throws unless x has the rank this layer takes. */
  protected abstract checkInput(x: Tensor): void;
  forward(x: Tensor): Tensor {
    checkTensor(this.constructor.name, 'x', x);
    this.checkInput(x);
    const y = batchNorm2d(x, this.runningMean, this.runningVar, {
      weight: this.weight, bias: this.bias, training: this.training, momentum: this.momentum, eps: this.eps,
    });
    if (this.training) {
      noGrad(() => {
        const next = add(this.numBatchesTracked, 1);
        assign(this.numBatchesTracked, next);
        next.dispose();
      });
    }
    return y;
  }
  /** "16, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True". */
  override extraRepr(): string {
    return `${this.numFeatures}, eps=${pyFloat(this.eps)}, momentum=${pyFloat(this.momentum)}, affine=${pyBool(this.weight !== null)}, track_running_stats=True`;
  }
}

/** Batch normalisation of x [N, C] or [N, C, L] over N (and L) per channel. */
export class BatchNorm1d extends BatchNorm {
  protected checkInput(x: Tensor): void {
    if (x.rank !== 2 && x.rank !== 3) {
      throw new RangeError(`BatchNorm1d: expected x to be a 2-D [N, C] or 3-D [N, C, L] tensor but got shape [${x.shape.join(', ')}]`);
    }
  }
}

/** Batch normalisation of x [N, C, H, W] over N, H and W per channel. */
export class BatchNorm2d extends BatchNorm {
  protected checkInput(x: Tensor): void {
    checkRank('BatchNorm2d', 'x', x, 4, '[N, C, H, W]');
  }
}

/** max(x, 0). */
export class ReLU extends Module {
  forward(x: Tensor): Tensor { return relu(x); }
}

/** x for x > 0, negativeSlope · x otherwise. */
export class LeakyReLU extends Module {
  /** @param negativeSlope the slope for x < 0 (default 0.01) */
  constructor(readonly negativeSlope = 0.01) {
    super();
    checkNumber('LeakyReLU', 'negativeSlope', negativeSlope);
  }
  forward(x: Tensor): Tensor { return leakyRelu(x, this.negativeSlope); }
  /** "negative_slope=0.01". */
  override extraRepr(): string { return `negative_slope=${pyFloat(this.negativeSlope)}`; }
}

/** Options of GELU. */
export interface GELUOptions {
  /** 'none' (default): the exact x·Φ(x); 'tanh': the tanh approximation (see nn.functional.gelu). */
  approximate?: GeluApproximation;
}

/** Gaussian error linear unit x·Φ(x) (see nn.functional.gelu for how Φ is evaluated). */
export class GELU extends Module {
  /** 'none' or 'tanh'. */
  readonly approximate: GeluApproximation;
  constructor(options: GELUOptions = {}) {
    super();
    checkOptions('GELU', options, ['approximate']);
    const approximate = options.approximate ?? 'none';
    if (approximate !== 'none' && approximate !== 'tanh') throw new TypeError(`GELU: expected approximate 'none' or 'tanh' but got ${String(approximate)}`);
    this.approximate = approximate;
  }
  forward(x: Tensor): Tensor { return gelu(x, this.approximate); }
  /** "approximate='none'". */
  override extraRepr(): string { return `approximate=${pyStr(this.approximate)}`; }
}

/** Logistic sigmoid. */
export class Sigmoid extends Module {
  forward(x: Tensor): Tensor { return sigmoid(x); }
}

/** Hyperbolic tangent. */
export class Tanh extends Module {
  forward(x: Tensor): Tensor { return tanh(x); }
}

/** Returns its input (a placeholder, e.g. for a removed layer). */
export class Identity extends Module {
  forward(x: Tensor): Tensor { return x; }
}

/** "kernel_size=2, stride=2, padding=0" as PyTorch prints a pool's arguments (as given; stride defaults to the kernel). */
function poolRepr(kernelSize: number | [number, number], options: Pool2dOptions): string {
  return `kernel_size=${pyIntOrPair(kernelSize)}, stride=${pyIntOrPair(options.stride ?? kernelSize)}, padding=${pyIntOrPair(options.padding ?? 0)}`;
}

/** Max pooling layer: [N, C, H, W] → [N, C, Ho, Wo]. */
export class MaxPool2d extends Module {
  /**
   * @param kernelSize window kh × kw: one number for both or [kh, kw]
   * @param options stride (default: the kernel), padding and ceilMode, as given
   */
  constructor(readonly kernelSize: number | [number, number], readonly options: Pool2dOptions = {}) {
    super();
    checkOptions('MaxPool2d', options, ['stride', 'padding', 'ceilMode']);
    checkPair('MaxPool2d', 'kernelSize', kernelSize, 1, 1);
  }
  forward(x: Tensor): Tensor { return maxPool2d(x, this.kernelSize, this.options); }
  /** "kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False". */
  override extraRepr(): string {
    return `${poolRepr(this.kernelSize, this.options)}, dilation=1, ceil_mode=${pyBool(this.options.ceilMode ?? false)}`;
  }
}

/** Average pooling layer: [N, C, H, W] → [N, C, Ho, Wo]. */
export class AvgPool2d extends Module {
  /**
   * @param kernelSize window kh × kw: one number for both or [kh, kw]
   * @param options stride (default: the kernel), padding, ceilMode and countIncludePad, as given
   */
  constructor(readonly kernelSize: number | [number, number], readonly options: AvgPool2dOptions = {}) {
    super();
    checkOptions('AvgPool2d', options, ['stride', 'padding', 'ceilMode', 'countIncludePad']);
    checkPair('AvgPool2d', 'kernelSize', kernelSize, 1, 1);
  }
  forward(x: Tensor): Tensor { return avgPool2d(x, this.kernelSize, this.options); }
  /** "kernel_size=2, stride=2, padding=0". */
  override extraRepr(): string { return poolRepr(this.kernelSize, this.options); }
}

/**
 * Adaptive average pooling to a fixed output size: [N, C, H, W] → [N, C, Ho, Wo] with PyTorch's windows
 * (see nn.functional.adaptiveAvgPool2d); a null in the size keeps the input's.
 */
export class AdaptiveAvgPool2d extends Module {
  /** @param outputSize Ho × Wo: one number for both, or [Ho, Wo] where null keeps the input's size */
  constructor(readonly outputSize: AdaptiveSize) {
    super();
    checkAdaptiveSize('AdaptiveAvgPool2d', outputSize);
  }
  forward(x: Tensor): Tensor { return adaptiveAvgPool2d(x, this.outputSize); }
  /** "output_size=1" or "output_size=(2, 3)". */
  override extraRepr(): string {
    const s = this.outputSize;
    return `output_size=${typeof s === 'number' ? s : `(${s.map((d) => (d === null ? 'None' : d)).join(', ')})`}`;
  }
}

/** Mean over H and W: [N, C, H, W] → [N, C]. */
export class GlobalAvgPool2d extends Module {
  forward(x: Tensor): Tensor { return globalAvgPool2d(x); }
}

/** Collapses dimensions startDim … endDim into one (default: all but the first). */
export class Flatten extends Module {
  /**
   * @param startDim first dimension collapsed (default 1; negative counts from the end)
   * @param endDim last dimension collapsed (default −1, the last)
   */
  constructor(readonly startDim = 1, readonly endDim = -1) {
    super();
    for (const [name, v] of [['startDim', startDim], ['endDim', endDim]] as const) {
      if (!Number.isInteger(v)) throw new RangeError(`Flatten: expected ${name} to be an integer but got ${v}`);
    }
  }
  forward(x: Tensor): Tensor { return flatten(x, this.startDim, this.endDim); }
  /** "start_dim=1, end_dim=-1". */
  override extraRepr(): string { return `start_dim=${this.startDim}, end_dim=${this.endDim}`; }
}

/** Inverted dropout with probability p, active in training mode only. */
export class Dropout extends Module {
  /** @param p probability of zeroing an element (default 0.5) */
  constructor(readonly p = 0.5) {
    super();
    checkNumber('Dropout', 'p', p, 0, 1);
  }
  forward(x: Tensor): Tensor { return dropout(x, this.p, this.training); }
  /** "p=0.5, inplace=False". */
  override extraRepr(): string { return `p=${pyFloat(this.p)}, inplace=False`; }
}

/** `i` as an index into a container of `n`, negative counting from the end. */
function resolveIndex(op: string, i: number, n: number): number {
  if (!Number.isInteger(i) || i < -n || i >= n) {
    throw new RangeError(`${op}: expected an index in [${-n}, ${n - 1}] but got ${i}`);
  }
  return i < 0 ? i + n : i;
}

/**
 * Applies modules in order. Children are named 0, 1, … (from a list of modules) or by the keys of a Map
 * (PyTorch's OrderedDict form).
 */
export class Sequential extends Module {
  /** Modules named 0, 1, … in the order given. */
  constructor(...layers: Module[]);
  /** Modules named by the map's keys, in its order. */
  constructor(layers: Map<string, Module>);
  constructor(...args: Module[] | [Map<string, Module>]) {
    super();
    const first = args[0];
    const entries: [string, Module][] = args.length === 1 && first instanceof Map ? [...first] : (args as Module[]).map((m, i) => [String(i), m]);
    for (const [name, m] of entries) this.registerModule(name, m);
  }
  forward(x: Tensor): Tensor {
    let y = x;
    for (const m of this.registeredModules) y = m.forward(y);
    return y;
  }
  /** The i-th module (negative i counts from the end). */
  at(i: number): Module {
    const layers = this.registeredModules;
    return layers[resolveIndex('Sequential.at', i, layers.length)];
  }
  /** Appends a module, named by its position; returns this. */
  append(m: Module): this {
    this.registerModule(String(this.length), m);
    return this;
  }
  /** Number of modules. */
  get length(): number {
    return this.registeredModules.length;
  }
  /** The modules in order. */
  [Symbol.iterator](): IterableIterator<Module> {
    return this.registeredModules.values();
  }
}

/**
 * A list of modules registered as children 0, 1, … (their parameters are the list's), for a forward pass
 * written by its owner. Prints repeated identical modules once, as PyTorch: `(0-2): 3 x Linear(…)`.
 */
export class ModuleList<M extends Module = Module> extends Module {
  /** @param modules the first modules, named 0, 1, … */
  constructor(modules: Iterable<M> = []) {
    super();
    this.extend(modules);
  }
  /** A ModuleList has no forward pass of its own: iterate over it in the owner's forward. */
  forward(_x: Tensor): Tensor {
    throw new Error('ModuleList: has no forward pass of its own; iterate over it in the forward pass of the module that owns it');
  }
  /** The modules in order (appended ones are M). */
  private get items(): M[] {
    return this.registeredModules as M[];
  }
  /** Appends a module, named by its position; returns this. */
  append(m: M): this {
    this.registerModule(String(this.length), m);
    return this;
  }
  /** Appends every module of `modules`; returns this. */
  extend(modules: Iterable<M>): this {
    if (modules === null || typeof (modules as Partial<Iterable<M>>)?.[Symbol.iterator] !== 'function') {
      throw new TypeError(`ModuleList: expected an iterable of modules but got ${modules === null ? 'null' : typeof modules}`);
    }
    for (const m of modules) this.append(m);
    return this;
  }
  /** The i-th module (negative i counts from the end). */
  at(i: number): M {
    const items = this.items;
    return items[resolveIndex('ModuleList.at', i, items.length)];
  }
  /** Number of modules. */
  get length(): number {
    return this.items.length;
  }
  /** The modules in order. */
  [Symbol.iterator](): IterableIterator<M> {
    return this.items.values();
  }
  /** PyTorch's ModuleList repr: runs of identical reprs collapse to `(i-j): n x repr`. */
  override toString(): string {
    const reprs = this.items.map((m) => m.toString());
    const lines: string[] = [];
    for (let start = 0; start < reprs.length;) {
      let end = start;
      while (end + 1 < reprs.length && reprs[end + 1] === reprs[start]) end++;
      const body = indent(reprs[start]);
      lines.push(start === end ? `(${start}): ${body}` : `(${start}-${end}): ${end - start + 1} x ${body}`);
      start = end + 1;
    }
    return this.reprWith([], lines);
  }
}

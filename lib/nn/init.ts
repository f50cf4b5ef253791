/**
 * Weight initialisers (ns.nn.init), PyTorch's torch.nn.init: in place, outside the graph, from the global
 * generator (see manualSeed); each returns the tensor it filled.
 */
import { RandomKind } from '../backend/native.generated';
import { Tensor, formatShape } from '../tensor';
import { fillRandom } from '../ops/creation';
import { fill_ } from '../ops/transfer';
import { checkNumber, checkOptions, checkTensor, floatTensor } from '../ops/util';

/** Nonlinearities calculateGain knows: PyTorch's names, camelCased. */
export type Nonlinearity = 'linear' | 'conv1d' | 'conv2d' | 'conv3d' | 'convTranspose1d' | 'convTranspose2d' | 'convTranspose3d'
  | 'sigmoid' | 'tanh' | 'relu' | 'leakyRelu' | 'selu';

const LINEAR_LIKE: readonly string[] = ['linear', 'conv1d', 'conv2d', 'conv3d', 'convTranspose1d', 'convTranspose2d', 'convTranspose3d', 'sigmoid'];

/**
 * The recommended gain for a nonlinearity (PyTorch's calculate_gain): 1 for linear, convolutions and sigmoid,
 * 5/3 for tanh, √2 for relu, √(2 / (1 + slope²)) for leakyRelu (`param` is the negative slope, default 0.01),
 * 3/4 for selu.
 */
export function calculateGain(nonlinearity: Nonlinearity, param?: number): number {
  if (LINEAR_LIKE.includes(nonlinearity)) return 1;
  switch (nonlinearity) {
    case 'tanh': return 5 / 3;
    case 'relu': return Math.SQRT2;
    case 'leakyRelu': {
      const slope = param === undefined ? 0.01 : checkNumber('calculateGain', 'param', param);
      return Math.sqrt(2 / (1 + slope * slope));
    }
    case 'selu': return 3 / 4;
    default:
      throw new TypeError(`calculateGain: expected a nonlinearity among ${[...LINEAR_LIKE, 'tanh', 'relu', 'leakyRelu', 'selu'].join(', ')} but got ${String(nonlinearity)}`);
  }
}

/**
 * Fan-in and fan-out of a weight [out, in, ...kernel] (at least 2-D): in · kernel size and out · kernel size,
 * as PyTorch computes them.
 */
export function fans(t: Tensor): { fanIn: number; fanOut: number } {
  checkTensor('fans', 't', t);
  if (t.rank < 2) {
    throw new RangeError(`fans: expected a tensor of at least 2 dimensions [out, in, ...] but got shape ${formatShape(t.shape)}`);
  }
  const receptive = t.shape.slice(2).reduce((p, d) => p * d, 1);
  return { fanIn: t.shape[1] * receptive, fanOut: t.shape[0] * receptive };
}

/** Fan-in of a weight [out, in, ...kernel]: in · kernel size. */
export function fanIn(w: Tensor): number {
  return fans(w).fanIn;
}

/** Fills with `value`. */
export function constant_(t: Tensor, value: number): Tensor {
  checkTensor('constant_', 't', t);
  return fill_(t, checkNumber('constant_', 'value', value));
}

/** Fills with zeros. */
export function zeros_(t: Tensor): Tensor {
  checkTensor('zeros_', 't', t);
  return fill_(t, 0);
}

/** Fills with ones. */
export function ones_(t: Tensor): Tensor {
  checkTensor('ones_', 't', t);
  return fill_(t, 1);
}

/** Fills with samples of U(a, b) (float tensors). */
export function uniform_(t: Tensor, a = 0, b = 1): Tensor {
  floatTensor('uniform_', 't', t);
  checkNumber('uniform_', 'a', a);
  checkNumber('uniform_', 'b', b);
  if (b < a) throw new RangeError(`uniform_: expected a ≤ b but got a ${a}, b ${b}`);
  fillRandom(RandomKind.uniform, a, b, t);
  return t;
}

/** Fills with samples of N(mean, std²) (float tensors). */
export function normal_(t: Tensor, mean = 0, std = 1): Tensor {
  floatTensor('normal_', 't', t);
  checkNumber('normal_', 'mean', mean);
  checkNumber('normal_', 'std', std, 0);
  fillRandom(RandomKind.normal, mean, std, t);
  return t;
}

/** Options of the Kaiming (He) initialisers. */
export interface KaimingOptions {
  /** Negative slope of the leaky ReLU that follows (default 0; used with nonlinearity 'leakyRelu'). */
  a?: number;
  /** Preserve the variance of the forward pass ('fanIn', default) or of the backward pass ('fanOut'). */
  mode?: 'fanIn' | 'fanOut';
  /** The nonlinearity that follows (default 'leakyRelu', as PyTorch; with a = 0 the gain is √2, as for relu). */
  nonlinearity?: Nonlinearity;
}

/** std = gain / √fan for the Kaiming initialisers. */
function kaimingStd(op: string, t: Tensor, options: KaimingOptions | undefined): number {
  const o = checkOptions(op, options, ['a', 'mode', 'nonlinearity']);
  const mode = o.mode ?? 'fanIn';
  if (mode !== 'fanIn' && mode !== 'fanOut') throw new TypeError(`${op}: expected mode 'fanIn' or 'fanOut' but got ${String(mode)}`);
  const a = checkNumber(op, 'a', o.a ?? 0);
  const f = fans(t);
  return calculateGain(o.nonlinearity ?? 'leakyRelu', a) / Math.sqrt(mode === 'fanIn' ? f.fanIn : f.fanOut);
}

/** He (Kaiming) uniform: U(−bound, bound) with bound = gain · √(3 / fan) (He et al. 2015). */
export function kaimingUniform(t: Tensor, options?: KaimingOptions): Tensor {
  floatTensor('kaimingUniform', 't', t);
  const bound = Math.sqrt(3) * kaimingStd('kaimingUniform', t, options);
  return t.size === 0 ? t : uniform_(t, -bound, bound);
}

/** He (Kaiming) normal: N(0, std²) with std = gain / √fan (He et al. 2015). */
export function kaimingNormal(t: Tensor, options?: KaimingOptions): Tensor {
  floatTensor('kaimingNormal', 't', t);
  const std = kaimingStd('kaimingNormal', t, options);
  return t.size === 0 ? t : normal_(t, 0, std);
}

/** Glorot (Xavier) uniform: U(−a, a) with a = gain · √(6 / (fanIn + fanOut)). */
export function xavierUniform(t: Tensor, gain = 1): Tensor {
  floatTensor('xavierUniform', 't', t);
  checkNumber('xavierUniform', 'gain', gain, 0);
  const { fanIn: i, fanOut: o } = fans(t);
  const bound = gain * Math.sqrt(6 / (i + o));
  return t.size === 0 ? t : uniform_(t, -bound, bound);
}

/** Glorot (Xavier) normal: N(0, std²) with std = gain · √(2 / (fanIn + fanOut)). */
export function xavierNormal(t: Tensor, gain = 1): Tensor {
  floatTensor('xavierNormal', 't', t);
  checkNumber('xavierNormal', 'gain', gain, 0);
  const { fanIn: i, fanOut: o } = fans(t);
  const std = gain * Math.sqrt(2 / (i + o));
  return t.size === 0 ? t : normal_(t, 0, std);
}

/**
 * PyTorch's default for Linear and Conv2d weights: kaimingUniform with a = √5, that is
 * U(−1/√fanIn, 1/√fanIn).
 */
export function defaultWeight(w: Tensor): Tensor {
  return kaimingUniform(w, { a: Math.sqrt(5) });
}

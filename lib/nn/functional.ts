/**
 * Functional forms of the layers that have no op of their own (ns.nn.functional), composed from ops so that
 * they differentiate and run on any device.
 */
import { Tensor, formatShape } from '../tensor';
import { abs, add, div, exp, ge, mul, pow, relu, square, sub, tanh } from '../ops/elementwise';
import { mean } from '../ops/reduce';
import { concat, slice } from '../ops/shape';
import { avgPool2d } from '../ops/pool';
import { checkNumber, checkRank, floatTensor } from '../ops/util';
import { checkAdaptiveSize } from './util';

/** LeakyReLU: x for x > 0, negativeSlope · x otherwise (gradient negativeSlope at 0, as PyTorch). */
export function leakyRelu(x: Tensor, negativeSlope = 0.01): Tensor {
  floatTensor('leakyRelu', 'x', x);
  const s = checkNumber('leakyRelu', 'negativeSlope', negativeSlope);
  // s·x + (1 − s)·max(x, 0): one expression for any slope, with the gradient s at 0.
  return add(mul(x, s), mul(relu(x), 1 - s));
}

// Numerical Recipes' erfc (Chebyshev fit): relative error below 1.2e-7 for every z ≥ 0.
const ERFC = [-1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806, 0.27886807, -1.13520398, 1.48851587, -0.82215223, 0.17087277];

/**
 * The standard normal CDF Φ(x) = ½·erfc(−x/√2), from ops: with h = ½·erfc(|x|/√2), Φ = h for x < 0 and
 * 1 − h for x ≥ 0. erfc(z) = t·exp(−z² + P(t)), t = 1/(1 + z/2), P a degree-9 polynomial.
 */
function normalCdf(x: Tensor): Tensor {
  const z = mul(abs(x), Math.SQRT1_2);
  const t = div(1, add(mul(z, 0.5), 1));
  let p: Tensor | number = ERFC[ERFC.length - 1];
  for (let k = ERFC.length - 2; k >= 0; k--) p = add(mul(t, p), ERFC[k]);
  const h = mul(mul(t, exp(sub(p, square(z)))), 0.5);
  // Φ = h + step·(1 − 2h), step = [x ≥ 0] (a mask: no gradient of its own).
  return add(h, mul(ge(x, 0), sub(1, mul(h, 2))));
}

/** Approximations of GELU: 'none' (the exact x·Φ(x)) or 'tanh'. */
export type GeluApproximation = 'none' | 'tanh';

/**
 * GELU. approximate 'none' (default): x·Φ(x) with Φ the standard normal CDF, evaluated from ops through
 * Numerical Recipes' erfc approximation (relative error below 1.2e-7 everywhere: exact in float32, that far
 * from exact in float64; there is no erf op). approximate 'tanh': ½·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
 */
export function gelu(x: Tensor, approximate: GeluApproximation = 'none'): Tensor {
  floatTensor('gelu', 'x', x);
  if (approximate === 'none') return mul(x, normalCdf(x));
  if (approximate === 'tanh') {
    const inner = mul(add(x, mul(pow(x, 3), 0.044715)), Math.sqrt(2 / Math.PI));
    return mul(mul(x, 0.5), add(tanh(inner), 1));
  }
  throw new TypeError(`gelu: expected approximate 'none' or 'tanh' but got ${String(approximate)}`);
}

/** An adaptive pool's output size: one number for both, or [h, w] where null keeps the input's size. */
export type AdaptiveSize = number | readonly [number | null, number | null];

/** Averages axis 2 or 3 of x (of length `size`) into `out` windows [⌊i·size/out⌋, ⌈(i+1)·size/out⌉). */
function adaptiveAxis(x: Tensor, axis: 2 | 3, size: number, out: number): Tensor {
  if (out === size) return x;
  if (out === 1) return mean(x, axis, true);
  if (size % out === 0) {
    const k = size / out;
    return avgPool2d(x, axis === 2 ? [k, 1] : [1, k]);
  }
  const parts: Tensor[] = [];
  for (let i = 0; i < out; i++) {
    const start = Math.floor((i * size) / out), end = Math.ceil(((i + 1) * size) / out);
    const begin = [0, 0, 0, 0], extent = [-1, -1, -1, -1];
    begin[axis] = start;
    extent[axis] = end - start;
    parts.push(mean(slice(x, begin, extent), axis, true));
  }
  return concat(parts, axis);
}

/**
 * Adaptive average pooling: x [N, C, H, W] → [N, C, Ho, Wo], output cell (i, j) the mean over rows
 * ⌊i·H/Ho⌋ … ⌈(i+1)·H/Ho⌉ − 1 and likewise columns (PyTorch's windows, uneven when Ho does not divide H).
 * One mean for global pooling (1×1), avgPool2d along an axis whose size divides, slices elsewhere.
 */
export function adaptiveAvgPool2d(x: Tensor, outputSize: AdaptiveSize): Tensor {
  const op = 'adaptiveAvgPool2d';
  floatTensor(op, 'x', x);
  checkRank(op, 'x', x, 4, '[N, C, H, W]');
  const [, , h, w] = x.shape;
  if (x.size === 0) throw new RangeError(`${op}: expected a non-empty input but got shape ${formatShape(x.shape)}`);
  const [oh, ow] = checkAdaptiveSize(op, outputSize);
  const ho = oh ?? h, wo = ow ?? w;
  if (ho === 1 && wo === 1) return mean(x, [2, 3], true);
  return adaptiveAxis(adaptiveAxis(x, 2, h, ho), 3, w, wo);
}

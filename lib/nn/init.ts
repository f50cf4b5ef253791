/**
 * Weight initialisers (in place, from the global generator; see manualSeed).
 */
import { RandomKind } from '../backend/native.generated';
import { Tensor } from '../tensor';
import { fillRandom } from '../ops/creation';

/** Fan-in of a weight [out, in, ...kernel]: in · kernel size. */
export function fanIn(w: Tensor): number {
  return w.shape.slice(1).reduce((p, d) => p * d, 1);
}

/** Fills with U(−bound, bound). */
export function uniform(t: Tensor, bound: number): Tensor {
  fillRandom(RandomKind.uniform, -bound, bound, t);
  return t;
}

/** Fills with N(0, std²). */
export function normal(t: Tensor, std: number): Tensor {
  fillRandom(RandomKind.normal, 0, std, t);
  return t;
}

/** He (Kaiming) normal for ReLU networks: N(0, 2 / fanIn), times `gain`. */
export function kaimingNormal(w: Tensor, gain = 1): Tensor {
  return normal(w, gain * Math.sqrt(2 / fanIn(w)));
}

/** PyTorch's default for Linear and Conv2d weights: U(−1/√fanIn, 1/√fanIn). */
export function defaultWeight(w: Tensor): Tensor {
  return uniform(w, 1 / Math.sqrt(fanIn(w)));
}

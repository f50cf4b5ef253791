/**
 * Dropout: zeroes elements with probability p and scales the rest by 1 / (1 − p), in training only.
 */
import { RandomKind } from '../backend/native.generated';
import { Tensor } from '../tensor';
import { checkBool, checkNumber, floatTensor } from './util';
import { fillRandom } from './creation';
import { mul } from './elementwise';

/** Inverted dropout with the global generator (see manualSeed); identity when not training or p = 0. */
export function dropout(x: Tensor, p = 0.5, training = true): Tensor {
  floatTensor('dropout', 'x', x);
  checkNumber('dropout', 'p', p, 0, 1);
  if (!checkBool('dropout', 'training', training, true) || p === 0) return mul(x, 1);
  const mask = Tensor.empty(x.shape, x.dtype, x.device, 'dropout');
  fillRandom(RandomKind.bernoulli, 1 - p, p === 1 ? 0 : 1 / (1 - p), mask);
  return mul(x, mask);  // the mask is saved for the gradient
}

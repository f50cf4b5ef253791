/**
 * Gradient clipping by total norm (torch.nn.utils.clip_grad_norm_).
 */
import { noGrad } from '../autograd/node';
import { tidy } from '../memory';
import { abs, add, cast, maximum, mul, pow, square } from '../ops/elementwise';
import { max, sum } from '../ops/reduce';
import { assign } from '../ops/transfer';
import { checkNumber } from '../ops/util';
import { Device, Tensor } from '../tensor';

/**
 * Scales the gradients of `params` in place so that their total `normType`-norm (the norm of all gradients
 * concatenated into one vector) is at most `maxNorm`, as torch.nn.utils.clip_grad_norm_: each gradient is
 * multiplied by maxNorm / (total + 1e-6) when that is below 1 (a NaN total makes the gradients NaN). The norm is
 * computed in float64 on the gradients' devices; parameters without a gradient are skipped.
 *
 *   loss.backward();
 *   const norm = ns.optim.clipGradNorm(model.parameters(), 1.0);
 *   opt.step();
 *
 * @param params a tensor or tensors (parameters) whose `grad` to clip
 * @param maxNorm the largest total norm allowed (≥ 0)
 * @param normType p of the p-norm (> 0), or Infinity for the largest absolute value; 2 by default
 * @returns the total norm of the gradients before clipping (0 when none has a gradient)
 */
export function clipGradNorm(params: Tensor | Iterable<Tensor>, maxNorm: number, normType = 2): number {
  const op = 'clipGradNorm';
  if (!(params instanceof Tensor) && (params === null || typeof (params as Partial<Iterable<Tensor>>)?.[Symbol.iterator] !== 'function')) {
    throw new TypeError(`${op}: expected params to be a tensor or an iterable of tensors but got ${params === null ? 'null' : typeof params}`);
  }
  const list: unknown[] = params instanceof Tensor ? [params] : [...params];
  list.forEach((p, i) => {
    if (!(p instanceof Tensor)) throw new TypeError(`${op}: expected params[${i}] to be a Tensor but got ${typeof p}`);
  });
  checkNumber(op, 'maxNorm', maxNorm, 0);
  if (typeof normType !== 'number' || !(normType > 0)) {
    throw new RangeError(`${op}: expected normType to be a number > 0 or Infinity but got ${String(normType)}`);
  }
  const grads = (list as Tensor[]).map((p) => p.grad).filter((g): g is Tensor => g !== null && g.size > 0);
  if (grads.length === 0) return 0;
  const total = tidy(() => noGrad(() => {
    // Σ|g|^p (or max |g|) per device, in float64: one host read per device.
    const partial = new Map<Device, Tensor>();
    for (const g of grads) {
      const g64 = cast(g, 'float64');
      const term = normType === Infinity ? max(abs(g64)) : normType === 2 ? sum(square(g64))
        : normType === 1 ? sum(abs(g64)) : sum(pow(abs(g64), normType));
      const previous = partial.get(g.device);
      partial.set(g.device, previous ? (normType === Infinity ? maximum(previous, term) : add(previous, term)) : term);
    }
    const values = [...partial.values()].map((t) => t.item());
    if (normType === Infinity) return Math.max(...values);
    const s = values.reduce((a, b) => a + b, 0);
    return normType === 2 ? Math.sqrt(s) : s ** (1 / normType);
  }));
  const coef = maxNorm / (total + 1e-6);
  if (!(coef >= 1)) tidy(() => noGrad(() => { for (const g of grads) assign(g, mul(g, coef)); }));
  return total;
}

/**
 * Batch normalisation over the channel axis (axis 1) of [N, C, ...] tensors.
 */
import { backendOf } from '../backend/context';
import { Tensor, formatShape } from '../tensor';
import { record, noGrad } from '../autograd/node';
import { checkBool, checkNumber, checkOptions, checkSameDtype, checkTensor, floatTensor } from './util';
import { add, mul, sqrt, sub, div } from './elementwise';
import { reshape } from './shape';

/** Options of batchNorm2d. */
export interface BatchNormOptions {
  /** Scale γ [C] (default 1). */
  weight?: Tensor | null;
  /** Shift β [C] (default 0). */
  bias?: Tensor | null;
  /** Normalise with batch statistics and update the running ones (default false: use the running ones). */
  training?: boolean;
  /** Running statistics update rate: r ← (1 − momentum)·r + momentum·batch (default 0.1). */
  momentum?: number;
  /** Added to the variance (default 1e-5). */
  eps?: number;
}

function checkChannelVector(op: string, name: string, t: Tensor | null | undefined, c: number, x: Tensor): Tensor | null {
  if (t === undefined || t === null) return null;
  floatTensor(op, name, t);
  checkSameDtype(op, x, 'x', t, name);
  if (t.rank !== 1 || t.shape[0] !== c) throw new RangeError(`${op}: expected ${name} of shape [${c}] but got ${formatShape(t.shape)}`);
  return t;
}

/**
 * Batch normalisation of x [N, C, H, W] (any rank ≥ 2; axis 1 is the channel). In training mode it uses
 * the batch's mean and biased variance, and updates runningMean / runningVar (unbiased) in place; in
 * evaluation mode it uses them.
 */
export function batchNorm2d(x: Tensor, runningMean: Tensor | null, runningVar: Tensor | null, options?: BatchNormOptions): Tensor {
  const op = 'batchNorm2d';
  floatTensor(op, 'x', x);
  const o = checkOptions(op, options, ['weight', 'bias', 'training', 'momentum', 'eps']);
  if (x.rank < 2) throw new RangeError(`${op}: expected x of at least 2 dimensions [N, C, ...] but got shape ${formatShape(x.shape)}`);
  const [n, c] = x.shape;
  const hw = x.size / Math.max(n * c, 1);
  const training = checkBool(op, 'training', o.training, false);
  const momentum = checkNumber(op, 'momentum', o.momentum ?? 0.1, 0, 1);
  const eps = checkNumber(op, 'eps', o.eps ?? 1e-5, 0);
  const gamma = checkChannelVector(op, 'weight', o.weight, c, x);
  const beta = checkChannelVector(op, 'bias', o.bias, c, x);
  const rm = runningMean === null ? null : checkChannelVector(op, 'runningMean', checkTensor(op, 'runningMean', runningMean), c, x);
  const rv = runningVar === null ? null : checkChannelVector(op, 'runningVar', checkTensor(op, 'runningVar', runningVar), c, x);
  if (!training) {
    if (!rm || !rv) throw new TypeError(`${op}: evaluation mode expected runningMean and runningVar tensors but got null`);
    // y = x·scale + shift with scale = γ/√(var + eps), shift = β − mean·scale: composite, so autograd
    // reaches x, γ and β.
    const bshape = [1, c, ...x.shape.slice(2).map(() => 1)];
    const inv = noGrad(() => {
      const ve = add(rv, eps);
      const s = sqrt(ve);
      const r = div(1, s);
      ve.dispose();
      s.dispose();
      return r;
    });
    const scale = gamma ? mul(gamma, inv) : inv;
    const ms = mul(rm, scale);
    const shift = beta ? sub(beta, ms) : mul(ms, -1);
    return add(mul(x, reshape(scale, bshape)), reshape(shift, bshape));
  }
  if (n * hw < 2) {
    throw new RangeError(`${op}: training mode expected more than one value per channel but got input shape ${formatShape(x.shape)}`);
  }
  const k = backendOf(op, x, gamma, beta, rm, rv);
  const y = k.empty(x.shape, x.dtype);
  const meanT = k.empty([c], x.dtype), invstd = k.empty([c], x.dtype);
  // Running statistics are state, updated in place by the kernel, outside the graph.
  k.run('batchNormForward', n, c, hw, eps, momentum, x.buffer, gamma?.buffer ?? null, beta?.buffer ?? null, y.buffer,
    meanT.buffer, invstd.buffer, rm?.buffer ?? null, rv?.buffer ?? null);
  return record(op, [x, gamma, beta], y, (dy) => {
    const dx = k.empty(x.shape, x.dtype);
    const dgamma = gamma?.requiresGrad ? k.empty([c], x.dtype) : null;
    const dbeta = beta?.requiresGrad ? k.empty([c], x.dtype) : null;
    k.run('batchNormBackward', n, c, hw, x.buffer, dy.buffer, gamma?.buffer ?? null, meanT.buffer, invstd.buffer,
      dx.buffer, dgamma?.buffer ?? null, dbeta?.buffer ?? null);
    return [x.requiresGrad ? dx : (dx.dispose(), null), dgamma, dbeta];
  });
}

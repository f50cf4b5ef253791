/**
 * softmax, logSoftmax and the losses built on them.
 */
import { backendOf } from '../backend/context';
import { Tensor, formatShape } from '../tensor';
import { record } from '../autograd/node';
import { checkNumber, checkOptions, checkRank, checkTensor, floatTensor, normalizeAxis } from './util';
import { mul, neg, sub, square } from './elementwise';
import { mean, sum } from './reduce';

function softmaxKernel(op: string, isLog: number, x: Tensor, axis: number): Tensor {
  floatTensor(op, 'x', x);
  if (x.rank === 0) throw new RangeError(`${op}: expected a tensor of at least 1 dimension but got a scalar`);
  const a = normalizeAxis(op, axis, x.rank);
  const dim = x.shape[a];
  if (dim === 0) throw new RangeError(`${op}: expected a non-empty axis but got shape ${formatShape(x.shape)}`);
  const outer = x.shape.slice(0, a).reduce((p, d) => p * d, 1);
  const inner = x.shape.slice(a + 1).reduce((p, d) => p * d, 1);
  const k = backendOf(op, x);
  const y = k.empty(x.shape, x.dtype);
  k.run('softmax', isLog, outer, dim, inner, x.buffer, y.buffer);
  return record(op, [x], y, (g) => {
    const dx = k.empty(x.shape, x.dtype);
    k.run('softmaxBackward', isLog, outer, dim, inner, y.buffer, g.buffer, dx.buffer);
    return [dx];
  });
}

/** e^x / Σ e^x along `axis` (default the last). */
export function softmax(x: Tensor, axis = -1): Tensor {
  return softmaxKernel('softmax', 0, x, axis);
}

/** x − log Σ e^x along `axis` (default the last), computed stably. */
export function logSoftmax(x: Tensor, axis = -1): Tensor {
  return softmaxKernel('logSoftmax', 1, x, axis);
}

/** How per-sample losses are combined. */
export type Reduction = 'mean' | 'sum' | 'none';

/** Options of crossEntropy. */
export interface CrossEntropyOptions {
  /** Mixes the one-hot target with the uniform distribution: (1 − ε)·onehot + ε/C (default 0). */
  labelSmoothing?: number;
  /** 'mean' (default), 'sum' or 'none' (one loss per sample). */
  reduction?: Reduction;
}

function checkReduction(op: string, r: unknown): Reduction {
  if (r === undefined) return 'mean';
  if (r !== 'mean' && r !== 'sum' && r !== 'none') throw new TypeError(`${op}: expected reduction 'mean', 'sum' or 'none' but got ${String(r)}`);
  return r;
}

function reduce(loss: Tensor, reduction: Reduction): Tensor {
  if (reduction === 'none') return loss;
  return reduction === 'mean' ? mean(loss) : sum(loss);
}

/**
 * Cross-entropy between logits [N, C] and integer class labels [N] (int32, each in [0, C)), with optional
 * label smoothing: −Σ_c q_c · log softmax(logits)_c per sample.
 */
export function crossEntropy(logits: Tensor, labels: Tensor, options?: CrossEntropyOptions): Tensor {
  const op = 'crossEntropy';
  floatTensor(op, 'logits', logits);
  checkTensor(op, 'labels', labels);
  checkRank(op, 'logits', logits, 2, '[N, C]');
  const o = checkOptions(op, options, ['labelSmoothing', 'reduction']);
  const eps = checkNumber(op, 'labelSmoothing', o.labelSmoothing ?? 0, 0, 1);
  const reduction = checkReduction(op, o.reduction);
  if (labels.dtype !== 'int32') throw new TypeError(`${op}: expected labels to be an int32 tensor but got ${labels.dtype}`);
  const [n, c] = logits.shape;
  if (labels.rank !== 1 || labels.shape[0] !== n) {
    throw new RangeError(`${op}: expected labels of shape [${n}] (one per row of logits) but got ${formatShape(labels.shape)}`);
  }
  // The label-smoothed one-hot target (the kernel checks every label against [0, C)).
  const k = backendOf(op, logits, labels);
  const target = k.empty([n, c], logits.dtype);
  if (n > 0) k.run('oneHot', c, 1 - eps + eps / c, eps / c, labels.buffer, target.buffer);
  const logp = logSoftmax(logits, 1);
  const weighted = mul(target, logp);
  const perSample = sum(weighted, 1);
  // Intermediates are saved by the graph; tidy (or the GC) frees them.
  return reduce(neg(perSample), reduction);
}

/** Mean squared error between prediction and target of one shape. */
export function mseLoss(prediction: Tensor, target: Tensor, options?: { reduction?: Reduction }): Tensor {
  const op = 'mseLoss';
  floatTensor(op, 'prediction', prediction);
  floatTensor(op, 'target', target);
  if (prediction.shape.join() !== target.shape.join()) {
    throw new RangeError(`${op}: expected target of shape ${formatShape(prediction.shape)} but got ${formatShape(target.shape)}`);
  }
  return reduce(square(sub(prediction, target)), checkReduction(op, checkOptions(op, options, ['reduction']).reduction));
}

/**
 * RMSprop (PyTorch's torch.optim.RMSprop): plain, centered, with momentum and L2 weight decay, over the fused
 * native kernel.
 */
import { backendOf } from '../backend/context';
import { Tensor } from '../tensor';
import { checkBool, checkNumber, checkOptions } from '../ops/util';
import { Hyperparameters, Optimizer, OptimizerSpec, Params } from './optimizer';

/** The hyperparameters of an RMSprop parameter group. */
export interface RMSpropHyperparameters extends Hyperparameters {
  /** Smoothing constant of the running average of g², in [0, 1]. */
  alpha: number;
  /** Added to the denominator for stability. */
  eps: number;
  /** L2 penalty: weightDecay·p is added to the gradient. */
  weightDecay: number;
  /** Momentum factor (0: none). */
  momentum: number;
  /** Normalise by an estimate of the gradient's variance (v − ḡ²) rather than its second moment. */
  centered: boolean;
}

/** Options of RMSprop: defaults lr 1e-2, alpha 0.99, eps 1e-8, weightDecay 0, momentum 0, centered false. */
export type RMSpropOptions = Partial<RMSpropHyperparameters>;

/**
 * The state of one parameter: the steps taken, the running average of g², the running average of g (centered)
 * and the momentum buffer (momentum > 0).
 */
export type RMSpropState = { step: number; squareAvg: Tensor; gradAvg?: Tensor; momentumBuffer?: Tensor };

const SPEC: OptimizerSpec<RMSpropHyperparameters, RMSpropState> = {
  hyperparameters: ['lr', 'alpha', 'eps', 'weightDecay', 'momentum', 'centered'],
  state: { step: 'count', squareAvg: 'tensor', gradAvg: 'optionalTensor', momentumBuffer: 'optionalTensor' },
};

/**
 * RMSprop (Hinton), PyTorch's update: g = grad + weightDecay·p; v = α·v + (1 − α)·g²; centered: ḡ = α·ḡ + (1 − α)·g
 * and d = √(v − ḡ²) + eps, else d = √v + eps; with momentum μ > 0: buf = μ·buf + g/d, p −= lr·buf, else p −= lr·g/d.
 *
 *   const opt = new ns.optim.RMSprop(model.parameters(), { lr: 1e-3, momentum: 0.9, centered: true });
 */
export class RMSprop extends Optimizer<RMSpropHyperparameters, RMSpropState> {
  /** `params`: tensors (one group with `options`) or parameter groups (`options` as their defaults). */
  constructor(params: Params<RMSpropHyperparameters>, options: RMSpropOptions = {}) {
    const o = checkOptions('RMSprop', options, SPEC.hyperparameters);
    super('RMSprop', params, {
      lr: o.lr ?? 1e-2, alpha: o.alpha ?? 0.99, eps: o.eps ?? 1e-8, weightDecay: o.weightDecay ?? 0, momentum: o.momentum ?? 0,
      centered: o.centered ?? false,
    }, SPEC);
  }

  protected override resolve(v: Partial<RMSpropHyperparameters>, where: (key: string) => string, op: string): RMSpropHyperparameters {
    return {
      lr: checkNumber(op, where('lr'), v.lr, 0),
      alpha: checkNumber(op, where('alpha'), v.alpha, 0, 1),
      eps: checkNumber(op, where('eps'), v.eps, 0),
      weightDecay: checkNumber(op, where('weightDecay'), v.weightDecay, 0),
      momentum: checkNumber(op, where('momentum'), v.momentum, 0),
      centered: checkBool(op, where('centered'), v.centered, false),
    };
  }

  protected override update(p: Tensor, grad: Tensor, h: RMSpropHyperparameters, state: RMSpropState | undefined): RMSpropState {
    const s = state ?? { step: 0, squareAvg: this.zeros(p) };
    if (h.centered) s.gradAvg ??= this.zeros(p);
    if (h.momentum > 0) s.momentumBuffer ??= this.zeros(p);
    const gradAvg = h.centered ? s.gradAvg : undefined, buf = h.momentum > 0 ? s.momentumBuffer : undefined;
    backendOf('RMSprop.step', p, grad, s.squareAvg, gradAvg, buf).run('rmspropStep', h.lr, h.alpha, h.eps, h.weightDecay,
      h.momentum, h.centered ? 1 : 0, p.buffer, grad.buffer, s.squareAvg.buffer, gradAvg ? gradAvg.buffer : null,
      buf ? buf.buffer : null);
    s.step += 1;
    return s;
  }
}

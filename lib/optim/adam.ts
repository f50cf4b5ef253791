/**
 * Adam and AdamW (PyTorch's torch.optim.Adam and AdamW), over the fused native kernel.
 */
import { backendOf } from '../backend/context';
import { Tensor } from '../tensor';
import { checkNumber, checkOptions } from '../ops/util';
import { Hyperparameters, Optimizer, OptimizerSpec, Params } from './optimizer';

/** The hyperparameters of an Adam or AdamW parameter group. */
export interface AdamHyperparameters extends Hyperparameters {
  /** Decay rates [β1, β2] of the first and second moment estimates, in [0, 1]. */
  betas: [number, number];
  /** Added to the denominator √v̂ for stability. */
  eps: number;
  /** Adam: an L2 term added to the gradient; AdamW: decoupled decay p −= lr·weightDecay·p. */
  weightDecay: number;
}

/** Options of Adam and AdamW: defaults lr 1e-3, betas [0.9, 0.999], eps 1e-8, weightDecay 0 (AdamW: 0.01). */
export type AdamOptions = Partial<AdamHyperparameters>;

/** The state of one parameter: the steps taken and the moment estimates. */
export type AdamState = { step: number; expAvg: Tensor; expAvgSq: Tensor };

const SPEC: OptimizerSpec<AdamHyperparameters, AdamState> = {
  hyperparameters: ['lr', 'betas', 'eps', 'weightDecay'],
  state: { step: 'count', expAvg: 'tensor', expAvgSq: 'tensor' },
};

/**
 * Adam (Kingma & Ba), PyTorch's update at step t: g = grad + weightDecay·p; m = β1·m + (1 − β1)·g;
 * v = β2·v + (1 − β2)·g²; p −= lr·m̂/(√v̂ + eps) with m̂ = m/(1 − β1ᵗ), v̂ = v/(1 − β2ᵗ).
 *
 *   const opt = new ns.optim.Adam(model.parameters(), { lr: 1e-3 });
 */
export class Adam extends Optimizer<AdamHyperparameters, AdamState> {
  /** The name in messages, whether weight decay is decoupled, and the default weight decay. */
  protected static readonly variant = { name: 'Adam', decoupled: false, weightDecay: 0 };
  private readonly decoupled: boolean;

  /** `params`: tensors (one group with `options`) or parameter groups (`options` as their defaults). */
  constructor(params: Params<AdamHyperparameters>, options: AdamOptions = {}) {
    const variant = (new.target as typeof Adam).variant;
    const o = checkOptions(variant.name, options, SPEC.hyperparameters);
    super(variant.name, params, {
      lr: o.lr ?? 1e-3, betas: o.betas ?? [0.9, 0.999], eps: o.eps ?? 1e-8, weightDecay: o.weightDecay ?? variant.weightDecay,
    }, SPEC);
    this.decoupled = variant.decoupled;
  }

  protected override resolve(v: Partial<AdamHyperparameters>, where: (key: string) => string, op: string): AdamHyperparameters {
    const lr = checkNumber(op, where('lr'), v.lr, 0);
    const betas: unknown = v.betas;
    if (!Array.isArray(betas) || betas.length !== 2) {
      throw new TypeError(`${op}: expected ${where('betas')} to be a pair [beta1, beta2] but got ${Array.isArray(betas) ? `${betas.length} values` : typeof betas}`);
    }
    return {
      lr,
      betas: [checkNumber(op, `${where('betas')}[0]`, betas[0], 0, 1), checkNumber(op, `${where('betas')}[1]`, betas[1], 0, 1)],
      eps: checkNumber(op, where('eps'), v.eps, 0),
      weightDecay: checkNumber(op, where('weightDecay'), v.weightDecay, 0),
    };
  }

  protected override update(p: Tensor, grad: Tensor, h: AdamHyperparameters, state: AdamState | undefined): AdamState {
    const s = state ?? { step: 0, expAvg: this.zeros(p), expAvgSq: this.zeros(p) };
    const step = s.step + 1;
    backendOf(`${this.name}.step`, p, grad, s.expAvg, s.expAvgSq).run('adamStep', h.lr, h.betas[0], h.betas[1], h.eps,
      h.weightDecay, this.decoupled ? 1 : 0, step, p.buffer, grad.buffer, s.expAvg.buffer, s.expAvgSq.buffer);
    s.step = step;
    return s;
  }
}

/**
 * AdamW (Loshchilov & Hutter): Adam with decoupled weight decay, p −= lr·weightDecay·p before the Adam update
 * (the decay does not enter the moments); weightDecay defaults to 0.01.
 */
export class AdamW extends Adam {
  protected static override readonly variant = { name: 'AdamW', decoupled: true, weightDecay: 0.01 };
}

/**
 * SGD: stochastic gradient descent with momentum, dampening, Nesterov momentum and L2 weight decay (PyTorch's
 * torch.optim.SGD), over the fused native kernel.
 */
import { backendOf } from '../backend/context';
import { Tensor } from '../tensor';
import { checkBool, checkNumber, checkOptions } from '../ops/util';
import { Hyperparameters, Optimizer, OptimizerSpec, ParamGroupInit } from './optimizer';

/** The hyperparameters of an SGD parameter group. */
export interface SGDHyperparameters extends Hyperparameters {
  /** Momentum factor μ (0: plain SGD). */
  momentum: number;
  /** Dampening of the momentum in [0, 1]. */
  dampening: number;
  /** L2 penalty: weightDecay·p is added to the gradient. */
  weightDecay: number;
  /** Nesterov momentum (needs momentum > 0 and dampening 0). */
  nesterov: boolean;
}

/** Options of SGD: the learning rate, and the other hyperparameters (defaults: 0, 0, 0, false). */
export interface SGDOptions {
  lr: number;
  momentum?: number;
  dampening?: number;
  weightDecay?: number;
  nesterov?: boolean;
}

/** The state of one parameter: its momentum buffer, once a step with momentum has run. */
export type SGDState = { momentumBuffer?: Tensor };

const SPEC: OptimizerSpec<SGDHyperparameters, SGDState> = {
  hyperparameters: ['lr', 'momentum', 'dampening', 'weightDecay', 'nesterov'],
  state: { momentumBuffer: 'optionalTensor' },
};

/**
 * Stochastic gradient descent, PyTorch's update: g = grad + weightDecay·p; with momentum μ,
 * buf = g on the first step and μ·buf + (1 − dampening)·g after, g = nesterov ? g + μ·buf : buf; p −= lr·g.
 *
 *   const opt = new ns.optim.SGD(model.parameters(), { lr: 0.1, momentum: 0.9, weightDecay: 5e-4 });
 *   const opt2 = new ns.optim.SGD([{ params: backbone.parameters(), lr: 0.01 }, { params: head.parameters() }],
 *                                 { lr: 0.1, momentum: 0.9 });
 */
export class SGD extends Optimizer<SGDHyperparameters, SGDState> {
  /** One group of `params` with `options` (lr required). */
  constructor(params: Iterable<Tensor>, options: SGDOptions);
  /** Parameter groups; `options` are the defaults of hyperparameters a group leaves out (each group needs an lr). */
  constructor(params: Iterable<ParamGroupInit<SGDHyperparameters>>, options?: Partial<SGDOptions>);
  constructor(params: Iterable<Tensor> | Iterable<ParamGroupInit<SGDHyperparameters>>, options?: Partial<SGDOptions>) {
    const o = checkOptions('SGD', options, SPEC.hyperparameters);
    super('SGD', params, {
      lr: o.lr, momentum: o.momentum ?? 0, dampening: o.dampening ?? 0, weightDecay: o.weightDecay ?? 0, nesterov: o.nesterov ?? false,
    }, SPEC);
  }

  protected override resolve(v: Partial<SGDHyperparameters>, where: (key: string) => string, op: string): SGDHyperparameters {
    const h: SGDHyperparameters = {
      lr: checkNumber(op, where('lr'), v.lr, 0),
      momentum: checkNumber(op, where('momentum'), v.momentum, 0),
      dampening: checkNumber(op, where('dampening'), v.dampening, 0, 1),
      weightDecay: checkNumber(op, where('weightDecay'), v.weightDecay, 0),
      nesterov: checkBool(op, where('nesterov'), v.nesterov, false),
    };
    if (h.nesterov && (h.momentum <= 0 || h.dampening !== 0)) {
      throw new RangeError(`${op}: Nesterov momentum expected ${where('momentum')} > 0 and ${where('dampening')} 0`);
    }
    return h;
  }

  protected override update(p: Tensor, grad: Tensor, h: SGDHyperparameters, state: SGDState | undefined): SGDState {
    let buf = state?.momentumBuffer;
    const first = h.momentum !== 0 && !buf;
    if (first) buf = this.zeros(p);
    backendOf('SGD.step', p, grad, buf).run('sgdStep', h.lr, h.momentum, h.dampening, h.weightDecay, h.nesterov ? 1 : 0,
      first ? 1 : 0, p.buffer, grad.buffer, buf ? buf.buffer : null);
    return buf ? { momentumBuffer: buf } : {};
  }
}

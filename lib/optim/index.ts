/**
 * Optimisers (ns.optim): in-place, fused native updates with PyTorch semantics.
 */
import { backendOf } from '../backend/context';
import { zerosLike } from '../ops/creation';
import { Tensor } from '../tensor';
import { keep } from '../memory';
import { checkNumber, checkBool, checkOptions } from '../ops/util';

/** Base of the optimisers: the parameters and per-parameter state. */
export abstract class Optimizer {
  readonly params: Tensor[];
  /** Learning rate; schedulers change it between steps. */
  lr: number;

  constructor(params: Iterable<Tensor>, lr: number, name: string) {
    if (params === null || typeof (params as Partial<Iterable<Tensor>>)?.[Symbol.iterator] !== 'function') {
      throw new TypeError(`${name}: expected params to be an iterable of tensors but got ${params === null ? 'null' : typeof params}`);
    }
    this.params = [...params];
    if (this.params.length === 0) throw new RangeError(`${name}: expected at least one parameter but got none`);
    this.params.forEach((p, i) => {
      if (!(p instanceof Tensor)) throw new TypeError(`${name}: expected params[${i}] to be a Tensor but got ${typeof p}`);
      if (!p.requiresGrad || p.gradFn) throw new TypeError(`${name}: expected params[${i}] to be a leaf tensor with requiresGrad`);
    });
    this.lr = checkNumber(name, 'lr', lr, 0);
  }

  /** Drops every parameter's gradient. */
  zeroGrad(): void {
    for (const p of this.params) {
      p.grad?.dispose();
      p.grad = null;
    }
  }

  /** Updates every parameter that has a gradient. */
  abstract step(): void;

  /** A zero-filled state tensor like `p`, outliving tidy scopes. */
  protected state(p: Tensor): Tensor {
    return keep(zerosLike(p));
  }
}

/** State tensors live where their parameter lives: moved there after module.to(device). */
function follow(state: Tensor, p: Tensor): void {
  if (state.device !== p.device) state.moveTo(p.device);
}

/** Options of SGD. */
export interface SGDOptions {
  lr: number;
  momentum?: number;
  dampening?: number;
  weightDecay?: number;
  nesterov?: boolean;
}

/** Stochastic gradient descent with optional momentum, dampening, Nesterov and L2 weight decay. */
export class SGD extends Optimizer {
  readonly momentum: number;
  readonly dampening: number;
  readonly weightDecay: number;
  readonly nesterov: boolean;
  private readonly buffers = new Map<Tensor, Tensor>();

  constructor(params: Iterable<Tensor>, options: SGDOptions) {
    super(params, checkOptions('SGD', options, ['lr', 'momentum', 'dampening', 'weightDecay', 'nesterov']).lr, 'SGD');
    this.momentum = checkNumber('SGD', 'momentum', options.momentum ?? 0, 0);
    this.dampening = checkNumber('SGD', 'dampening', options.dampening ?? 0, 0, 1);
    this.weightDecay = checkNumber('SGD', 'weightDecay', options.weightDecay ?? 0, 0);
    this.nesterov = checkBool('SGD', 'nesterov', options.nesterov, false);
    if (this.nesterov && (this.momentum <= 0 || this.dampening !== 0)) {
      throw new RangeError('SGD: Nesterov momentum expected momentum > 0 and dampening 0');
    }
  }

  step(): void {
    for (const p of this.params) {
      if (!p.grad) continue;
      let buf = this.buffers.get(p) ?? null;
      if (buf) follow(buf, p);
      const first = this.momentum !== 0 && !buf;
      if (first) this.buffers.set(p, (buf = this.state(p)));
      backendOf('SGD.step', p, p.grad, buf).run('sgdStep', this.lr, this.momentum, this.dampening, this.weightDecay,
        this.nesterov ? 1 : 0, first ? 1 : 0, p.buffer, p.grad.buffer, buf ? buf.buffer : null);
    }
  }
}

/** Options of Adam and AdamW. */
export interface AdamOptions {
  lr?: number;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
}

/** Adam (Kingma & Ba); weight decay as an L2 term added to the gradient. */
export class Adam extends Optimizer {
  readonly betas: [number, number];
  readonly eps: number;
  readonly weightDecay: number;
  private readonly moments = new Map<Tensor, { m: Tensor; v: Tensor; step: number }>();
  protected decoupled = false;

  constructor(params: Iterable<Tensor>, options: AdamOptions = {}, name = 'Adam', defaultDecay = 0) {
    super(params, checkOptions(name, options, ['lr', 'betas', 'eps', 'weightDecay']).lr ?? 1e-3, name);
    if (options.betas !== undefined && (!Array.isArray(options.betas) || options.betas.length !== 2)) {
      throw new TypeError(`${name}: expected betas to be a pair [beta1, beta2] but got ${Array.isArray(options.betas) ? `${options.betas.length} values` : typeof options.betas}`);
    }
    const [b1, b2] = options.betas ?? [0.9, 0.999];
    this.betas = [checkNumber(name, 'betas[0]', b1, 0, 1), checkNumber(name, 'betas[1]', b2, 0, 1)];
    this.eps = checkNumber(name, 'eps', options.eps ?? 1e-8, 0);
    this.weightDecay = checkNumber(name, 'weightDecay', options.weightDecay ?? defaultDecay, 0);
  }

  step(): void {
    for (const p of this.params) {
      if (!p.grad) continue;
      let s = this.moments.get(p);
      if (!s) this.moments.set(p, (s = { m: this.state(p), v: this.state(p), step: 0 }));
      follow(s.m, p);
      follow(s.v, p);
      s.step++;
      backendOf(this.decoupled ? 'AdamW.step' : 'Adam.step', p, p.grad, s.m, s.v).run('adamStep', this.lr, this.betas[0], this.betas[1], this.eps,
        this.weightDecay, this.decoupled ? 1 : 0, s.step, p.buffer, p.grad.buffer, s.m.buffer, s.v.buffer);
    }
  }
}

/** AdamW (Loshchilov & Hutter): Adam with decoupled weight decay (default 0.01). */
export class AdamW extends Adam {
  constructor(params: Iterable<Tensor>, options: AdamOptions = {}) {
    super(params, options, 'AdamW', 0.01);
    this.decoupled = true;
  }
}

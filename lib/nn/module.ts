/**
 * Module: the base of every layer. Holds parameters (trainable tensors), buffers (state such as
 * running statistics) and child modules under names, PyTorch-style.
 */
import { Device, Tensor, formatShape } from '../tensor';
import { keep } from '../memory';
import { assign } from '../ops/transfer';

/** A layer or a network of layers. */
export abstract class Module {
  /** Training mode (dropout active, batch norm on batch statistics); see train() and eval(). */
  training = true;
  private readonly params = new Map<string, Tensor>();
  private readonly bufs = new Map<string, Tensor>();
  private readonly children = new Map<string, Module>();

  /** Computes the module's output. */
  abstract forward(x: Tensor): Tensor;

  /** Registers a trainable tensor (requiresGrad is turned on; it outlives tidy scopes). */
  protected registerParameter(name: string, t: Tensor): Tensor {
    t.requiresGrad = true;
    this.params.set(name, keep(t));
    return t;
  }

  /** Registers a state tensor that is saved with the module but not trained. */
  protected registerBuffer(name: string, t: Tensor): Tensor {
    this.bufs.set(name, keep(t));
    return t;
  }

  /** Registers a child module. */
  protected registerModule<M extends Module>(name: string, m: M): M {
    if (!(m instanceof Module)) throw new TypeError(`${this.constructor.name}: expected a Module for '${name}' but got ${typeof m}`);
    this.children.set(name, m);
    return m;
  }

  /** Every trainable tensor, with dotted names (children included). */
  namedParameters(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [...this.params].map(([n, t]) => [prefix + n, t]);
    for (const [n, m] of this.children) out.push(...m.namedParameters(`${prefix}${n}.`));
    return out;
  }

  /** Every trainable tensor (children included). */
  parameters(): Tensor[] {
    return this.namedParameters().map(([, t]) => t);
  }

  /** Every state tensor, with dotted names (children included). */
  namedBuffers(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [...this.bufs].map(([n, t]) => [prefix + n, t]);
    for (const [n, m] of this.children) out.push(...m.namedBuffers(`${prefix}${n}.`));
    return out;
  }

  /** The direct children. */
  modules(): Module[] {
    return [...this.children.values()];
  }

  /** Number of trainable scalars. */
  numParameters(): number {
    return this.parameters().reduce((p, t) => p + t.size, 0);
  }

  /** Sets training mode here and in every child. */
  train(mode = true): this {
    this.training = mode;
    for (const m of this.children.values()) m.train(mode);
    return this;
  }

  /** Sets evaluation mode (train(false)). */
  eval(): this {
    return this.train(false);
  }

  /** Drops the gradients of every parameter. */
  zeroGrad(): void {
    for (const p of this.parameters()) {
      p.grad?.dispose();
      p.grad = null;
    }
  }

  /**
   * Penalty terms this module adds to the loss (e.g. an L2 penalty on a similarity matrix), summed over
   * children; null when there are none. The training loop adds it to the loss.
   */
  regularization(): Tensor | null {
    let total: Tensor | null = null;
    for (const m of this.children.values()) {
      const r = m.regularization();
      if (r) total = total ? total.add(r) : r;
    }
    return total;
  }

  /** Parameters and buffers by dotted name (the tensors themselves, not copies). */
  stateDict(): Record<string, Tensor> {
    return Object.fromEntries([...this.namedParameters(), ...this.namedBuffers()]);
  }

  /** Copies values into the parameters and buffers from a stateDict-shaped record. */
  loadStateDict(state: Record<string, Tensor>): void {
    const own = this.stateDict();
    for (const [name, t] of Object.entries(own)) {
      const src = state[name];
      if (!(src instanceof Tensor)) throw new Error(`loadStateDict: missing tensor '${name}'`);
      if (src.shape.join() !== t.shape.join()) {
        throw new RangeError(`loadStateDict: expected '${name}' of shape ${formatShape(t.shape)} but got ${formatShape(src.shape)}`);
      }
      const converted = src.dtype === t.dtype ? src : src.cast(t.dtype);
      assign(t, converted);
      if (converted !== src) converted.dispose();
    }
  }

  /**
   * Moves every parameter, its gradient and every buffer to `device`, in place (the tensors keep their identity,
   * so optimisers built on them follow; their state moves at their next step). Returns the module.
   */
  to(device: Device): this {
    if (device !== 'cpu' && device !== 'cuda') throw new TypeError(`${this.constructor.name}.to: expected device 'cpu' or 'cuda' but got ${String(device)}`);
    for (const [, t] of [...this.namedParameters(), ...this.namedBuffers()]) {
      t.moveTo(device);
      t.grad?.moveTo(device);
    }
    return this;
  }

  /** Releases every parameter and buffer. */
  dispose(): void {
    for (const [, t] of [...this.namedParameters(), ...this.namedBuffers()]) {
      t.grad?.dispose();
      t.dispose();
    }
  }
}

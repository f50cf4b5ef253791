/**
 * Module: the base of every layer. Holds parameters (trainable tensors), buffers (state such as running
 * statistics) and child modules under names, PyTorch-style; state dicts, reprs and summaries over the tree.
 */
import { Device, Tensor, formatShape } from '../tensor';
import { keep } from '../memory';
import { noGrad } from '../autograd/node';
import { assign } from '../ops/transfer';
import { cast } from '../ops/elementwise';
import { checkBool, checkOptions } from '../ops/util';
import { summarize, ModelSummary, SummaryOptions } from './summary';
import { indent } from './util';

/** Options of loadStateDict. */
export interface LoadStateDictOptions {
  /**
   * Require the state's names to match the module's exactly (default true): a missing or an unexpected name
   * is an error. With false, the names both have are loaded and the others reported.
   */
  strict?: boolean;
}

/** What loadStateDict reports. */
export interface LoadStateDictResult {
  /** The module's names that the state lacked (left unchanged). */
  missingKeys: string[];
  /** The state's names that the module does not have (ignored). */
  unexpectedKeys: string[];
}

/** Options of registerBuffer. */
export interface RegisterBufferOptions {
  /** Part of stateDict (default true); a non-persistent buffer still moves with to() and is in namedBuffers. */
  persistent?: boolean;
}

type Kind = 'parameter' | 'buffer' | 'module';

const INSPECT: unique symbol = Symbol.for('nodejs.util.inspect.custom');

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value instanceof Tensor) return `a tensor of shape ${formatShape(value.shape)}`;
  if (typeof value === 'object') return `an object (${(value as object).constructor?.name ?? 'Object'})`;
  return typeof value;
}

/** `prefix.name`, or `name` at the top. */
function join(prefix: string, name: string): string {
  return prefix ? `${prefix}.${name}` : name;
}

/**
 * A layer or a network of layers. Subclasses implement forward().
 *
 * Registration follows PyTorch's `__setattr__`: assigning a field (a class field or `this.x = …`, in the
 * constructor or later) registers the value under the field's name, in assignment order:
 * - a Module becomes a child;
 * - a tensor assigned to the name of a buffer replaces that buffer; otherwise a leaf tensor with requiresGrad
 *   becomes a parameter, and any other tensor is a plain attribute (a constant: not saved, not moved by to());
 * - null or undefined unregisters the name; reassigning a registered name replaces the entry in place;
 * - a value already registered on this module under another name is not registered again (an alias);
 * - arrays and other objects are not searched: use ModuleList for a list of layers.
 * Every tensor assigned to a field outlives tidy scopes. Buffers are registered only by registerBuffer;
 * registerParameter, registerBuffer and registerModule also register under explicit names. The constructor
 * returns a proxy of the instance that sees these assignments: `this` and the object `new` returns are it.
 */
export abstract class Module {
  /** Training mode (dropout active, batch norm on batch statistics); see train() and eval(). */
  training = true;
  private readonly ownParameters = new Map<string, Tensor>();
  private readonly ownBuffers = new Map<string, Tensor>();
  private readonly transientBuffers = new Set<string>();
  private readonly ownModules = new Map<string, Module>();

  /**
   * Field assignments (class fields and `this.x = …` alike, with or without define semantics) reach
   * defineProperty on the proxy that the constructor returns, which registers them.
   */
  private static readonly fieldTrap: ProxyHandler<Module> = {
    defineProperty(target, key, descriptor) {
      if (typeof key === 'string' && 'value' in descriptor) target.adopt(key, descriptor.value);
      return Reflect.defineProperty(target, key, descriptor);
    },
  };

  constructor() {
    return new Proxy(this, Module.fieldTrap);
  }

  /** Computes the module's output. */
  abstract forward(x: Tensor): Tensor;

  private get typeName(): string {
    return this.constructor.name;
  }

  /** What `name` is registered as here, if anything. */
  private kindOf(name: string): Kind | null {
    if (this.ownParameters.has(name)) return 'parameter';
    if (this.ownBuffers.has(name)) return 'buffer';
    if (this.ownModules.has(name)) return 'module';
    return null;
  }

  /** Whether `value` is registered here under any name. */
  private holds(value: Tensor | Module): boolean {
    return [...this.ownParameters.values(), ...this.ownBuffers.values(), ...this.ownModules.values()].includes(value);
  }

  private forget(name: string): void {
    this.ownParameters.delete(name);
    this.ownBuffers.delete(name);
    this.transientBuffers.delete(name);
    this.ownModules.delete(name);
  }

  /**
   * The registration rule for a field assignment `this[name] = value`: a Module becomes a child; a tensor
   * replaces a buffer of that name, else becomes a parameter when it is a leaf with requiresGrad, else is a
   * plain attribute (kept out of tidy scopes like the others, but neither saved nor moved by to()); null or
   * undefined unregisters. A value already registered here under another name is
   * not registered again. Assigning anything else to a registered name is a TypeError.
   */
  private adopt(name: string, value: unknown): void {
    const kind = this.kindOf(name);
    if (value === null || value === undefined) {
      this.forget(name);
      return;
    }
    if (value instanceof Module) {
      this.place(this.ownModules, name, value);
      return;
    }
    if (value instanceof Tensor) {
      if (kind === 'buffer') {
        this.ownBuffers.set(name, keep(value));
        return;
      }
      if (value.requiresGrad && !value.gradFn) {
        this.place(this.ownParameters, name, keep(value));
        return;
      }
      if (kind === null) {
        keep(value);
        return;
      }
      const what = value.gradFn ? `a tensor computed by ${value.gradFn.name}` : 'a tensor without requiresGrad';
      throw new TypeError(`${this.typeName}: cannot assign ${what} to ${kind} '${name}' (expected ${kind === 'parameter' ? 'a leaf tensor with requiresGrad' : 'a Module'} or null)`);
    }
    if (kind !== null) {
      const expected = kind === 'parameter' ? 'a leaf tensor with requiresGrad' : kind === 'buffer' ? 'a Tensor' : 'a Module';
      throw new TypeError(`${this.typeName}: cannot assign ${describe(value)} to ${kind} '${name}' (expected ${expected} or null)`);
    }
  }

  /**
   * Registers `value` under `name` in `map`, in place when the name is already there (its position kept); a
   * value registered here under another name is only unregistered from `name` (the field is an alias).
   */
  private place<T extends Tensor | Module>(map: Map<string, T>, name: string, value: T): void {
    if (map.get(name) === value) return;
    if (this.holds(value) || !map.has(name)) this.forget(name);
    if (!this.holds(value)) map.set(name, value);
  }

  private checkName(name: unknown, kind: Kind): string {
    if (typeof name !== 'string') throw new TypeError(`${this.typeName}: expected a ${kind} name to be a string but got ${describe(name)}`);
    if (name === '' || name.includes('.')) throw new RangeError(`${this.typeName}: expected a non-empty ${kind} name without '.' but got '${name}'`);
    const existing = this.kindOf(name);
    if (existing !== null && existing !== kind) throw new Error(`${this.typeName}: '${name}' is already registered as a ${existing}`);
    return name;
  }

  /**
   * Registers a trainable tensor under `name` (requiresGrad is turned on; it outlives tidy scopes) and returns
   * it. A parameter of that name is replaced; a buffer or module of that name is an error.
   */
  registerParameter(name: string, t: Tensor): Tensor {
    this.checkName(name, 'parameter');
    if (!(t instanceof Tensor)) throw new TypeError(`${this.typeName}: expected parameter '${name}' to be a Tensor but got ${describe(t)}`);
    if (t.gradFn) throw new TypeError(`${this.typeName}: expected parameter '${name}' to be a leaf tensor but got the output of ${t.gradFn.name}`);
    if (t.dtype === 'int32') throw new TypeError(`${this.typeName}: expected parameter '${name}' to be float32 or float64 but got int32`);
    t.requiresGrad = true;
    this.ownParameters.set(name, keep(t));
    return t;
  }

  /**
   * Registers a state tensor under `name` (saved with the module, moved by to(), not trained; it outlives tidy
   * scopes) and returns it. With persistent false it stays out of stateDict (constants the forward pass needs
   * on the module's device).
   */
  registerBuffer(name: string, t: Tensor, options?: RegisterBufferOptions): Tensor {
    this.checkName(name, 'buffer');
    const o = checkOptions(`${this.typeName}.registerBuffer`, options, ['persistent']);
    if (!(t instanceof Tensor)) throw new TypeError(`${this.typeName}: expected buffer '${name}' to be a Tensor but got ${describe(t)}`);
    this.ownBuffers.set(name, keep(t));
    if (checkBool(`${this.typeName}.registerBuffer`, 'persistent', o.persistent, true)) this.transientBuffers.delete(name);
    else this.transientBuffers.add(name);
    return t;
  }

  /** Registers a child module under `name` and returns it. */
  registerModule<M extends Module>(name: string, m: M): M {
    this.checkName(name, 'module');
    if (!(m instanceof Module)) throw new TypeError(`${this.typeName}: expected a Module for '${name}' but got ${typeof m}`);
    this.ownModules.set(name, m);
    return m;
  }

  /** The registered children in registration order, a module registered twice listed twice (what containers run). */
  protected get registeredModules(): Module[] {
    return [...this.ownModules.values()];
  }

  /**
   * This module and every module below it, depth first in registration order, each once, with dotted names
   * (this one's is `prefix`, '' by default).
   */
  namedModules(prefix = ''): [string, Module][] {
    const out: [string, Module][] = [];
    const seen = new Set<Module>();
    const walk = (m: Module, name: string): void => {
      if (seen.has(m)) return;
      seen.add(m);
      out.push([name, m]);
      for (const [n, child] of m.ownModules) walk(child, join(name, n));
    };
    walk(this, prefix);
    return out;
  }

  /** This module and every module below it (see namedModules). */
  modules(): Module[] {
    return this.namedModules().map(([, m]) => m);
  }

  /** The direct children with their names, each once. */
  namedChildren(): [string, Module][] {
    const seen = new Set<Module>();
    const out: [string, Module][] = [];
    for (const [n, m] of this.ownModules) {
      if (seen.has(m)) continue;
      seen.add(m);
      out.push([n, m]);
    }
    return out;
  }

  /** The direct children, each once. */
  children(): Module[] {
    return this.namedChildren().map(([, m]) => m);
  }

  /** Own entries of one registry (parameters or buffers) of every module, with dotted names, each tensor once. */
  private namedTensors(prefix: string, recurse: boolean, pick: (m: Module) => Map<string, Tensor>): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    const seen = new Set<Tensor>();
    const owners: [string, Module][] = recurse ? this.namedModules(prefix) : [[prefix, this]];
    for (const [p, m] of owners) {
      for (const [n, t] of pick(m)) {
        if (seen.has(t)) continue;
        seen.add(t);
        out.push([join(p, n), t]);
      }
    }
    return out;
  }

  /** Every trainable tensor with its dotted name (children's too unless recurse is false), each once. */
  namedParameters(prefix = '', recurse = true): [string, Tensor][] {
    return this.namedTensors(prefix, recurse, (m) => m.ownParameters);
  }

  /** Every trainable tensor (children's too unless recurse is false), each once. */
  parameters(recurse = true): Tensor[] {
    return this.namedParameters('', recurse).map(([, t]) => t);
  }

  /** Every buffer, persistent or not, with its dotted name (children's too unless recurse is false), each once. */
  namedBuffers(prefix = '', recurse = true): [string, Tensor][] {
    return this.namedTensors(prefix, recurse, (m) => m.ownBuffers);
  }

  /** Every buffer (children's too unless recurse is false), each once. */
  buffers(recurse = true): Tensor[] {
    return this.namedBuffers('', recurse).map(([, t]) => t);
  }

  /** Calls `fn` on every child's subtree, then on this module (PyTorch's order); returns this module. */
  apply(fn: (module: Module) => void): this {
    if (typeof fn !== 'function') throw new TypeError(`${this.typeName}.apply: expected a function but got ${describe(fn)}`);
    for (const m of this.children()) m.apply(fn);
    fn(this);
    return this;
  }

  /** Number of trainable scalars (shared parameters once). */
  numParameters(): number {
    return this.parameters().reduce((p, t) => p + t.size, 0);
  }

  /** Sets training mode here and in every child; returns this module. */
  train(mode = true): this {
    this.training = checkBool(`${this.typeName}.train`, 'mode', mode, true);
    for (const m of this.ownModules.values()) m.train(mode);
    return this;
  }

  /** Sets evaluation mode (train(false)); returns this module. */
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
    for (const m of this.children()) {
      const r = m.regularization();
      if (r) total = total ? total.add(r) : r;
    }
    return total;
  }

  /**
   * Parameters and persistent buffers by dotted name, in PyTorch's order (each module's parameters, then its
   * buffers, then its children's entries) and with PyTorch's names for the equivalent modules, so that weights
   * move between the two. The values are the live tensors, not copies: do not dispose them.
   */
  stateDict(): Record<string, Tensor> {
    const out: Record<string, Tensor> = {};
    const walk = (m: Module, prefix: string): void => {
      for (const [n, t] of m.ownParameters) out[join(prefix, n)] = t;
      for (const [n, t] of m.ownBuffers) if (!m.transientBuffers.has(n)) out[join(prefix, n)] = t;
      for (const [n, child] of m.ownModules) walk(child, join(prefix, n));
    };
    walk(this, '');
    return out;
  }

  /**
   * Copies values into the parameters and buffers from a stateDict-shaped record (converted to each tensor's
   * dtype, copied onto its device; the state's tensors are left as they are). Nothing is copied when anything
   * is wrong: with `strict` (the default) missing or unexpected names are an Error listing them; a tensor
   * whose shape differs is a RangeError naming it and both shapes, strict or not. Returns the names missing
   * from the state and the names it has that the module does not.
   */
  loadStateDict(state: Record<string, Tensor>, options?: LoadStateDictOptions): LoadStateDictResult {
    const op = 'loadStateDict';
    const strict = checkBool(op, 'strict', checkOptions(op, options, ['strict']).strict, true);
    if (state === null || typeof state !== 'object' || Array.isArray(state)) {
      throw new TypeError(`${op}: expected a record of tensors by name but got ${Array.isArray(state) ? 'an array' : describe(state)}`);
    }
    const own = this.stateDict();
    const missingKeys = Object.keys(own).filter((k) => !Object.hasOwn(state, k));
    const unexpectedKeys = Object.keys(state).filter((k) => !Object.hasOwn(own, k));
    if (strict && (missingKeys.length || unexpectedKeys.length)) {
      const list = (what: string, keys: string[]): string => `${what} tensor${keys.length > 1 ? 's' : ''} ${keys.map((k) => `'${k}'`).join(', ')}`;
      const parts = [missingKeys.length ? list('missing', missingKeys) : '', unexpectedKeys.length ? list('unexpected', unexpectedKeys) : ''];
      throw new Error(`${op}: ${parts.filter(Boolean).join('; ')}`);
    }
    const pairs = Object.entries(own).filter(([k]) => Object.hasOwn(state, k)).map(([k, dst]): [string, Tensor, Tensor] => {
      const src = state[k];
      if (!(src instanceof Tensor)) throw new TypeError(`${op}: expected '${k}' to be a Tensor but got ${describe(src)}`);
      if (src.isDisposed) throw new Error(`${op}: '${k}' (shape ${formatShape(src.shape)}) is disposed`);
      if (src.shape.join() !== dst.shape.join()) {
        throw new RangeError(`${op}: expected '${k}' of shape ${formatShape(dst.shape)} but got ${formatShape(src.shape)}`);
      }
      return [k, dst, src];
    });
    noGrad(() => {
      for (const [, dst, src] of pairs) {
        const converted = cast(src, dst.dtype);
        assign(dst, converted);
        if (converted !== src) converted.dispose();
      }
    });
    return { missingKeys, unexpectedKeys };
  }

  /**
   * Moves every parameter, its gradient and every buffer to `device`, in place (the tensors keep their identity,
   * so optimisers built on them follow; their state moves at their next step). Returns the module.
   */
  to(device: Device): this {
    if (device !== 'cpu' && device !== 'cuda') throw new TypeError(`${this.typeName}.to: expected device 'cpu' or 'cuda' but got ${String(device)}`);
    for (const t of [...this.parameters(), ...this.buffers()]) {
      t.moveTo(device);
      t.grad?.moveTo(device);
    }
    return this;
  }

  /** to('cpu'). */
  cpu(): this {
    return this.to('cpu');
  }

  /** to('cuda'). */
  cuda(): this {
    return this.to('cuda');
  }

  /** Releases every parameter, gradient and buffer. */
  dispose(): void {
    for (const t of [...this.parameters(), ...this.buffers()]) {
      t.grad?.dispose();
      t.dispose();
    }
  }

  /**
   * The module's own settings for its repr, PyTorch's `extra_repr` (e.g. "in_features=8, out_features=3,
   * bias=True"); '' by default. Override it in a subclass to show its settings.
   */
  extraRepr(): string {
    return '';
  }

  /**
   * The module tree as PyTorch prints it: `Name(extra)` for a leaf, else the extra lines and the children,
   * `(name): child`, one per line, indented by two spaces.
   */
  toString(): string {
    const extra = this.extraRepr();
    const extraLines = extra ? extra.split('\n') : [];
    const childLines = [...this.ownModules].map(([n, m]) => `(${n}): ${indent(m.toString())}`);
    return this.reprWith(extraLines, childLines);
  }

  /** `Name(…)` around extra and child lines, as PyTorch's Module.__repr__. */
  protected reprWith(extraLines: string[], childLines: string[]): string {
    const lines = [...extraLines, ...childLines];
    if (lines.length === 0) return `${this.typeName}()`;
    if (extraLines.length === 1 && childLines.length === 0) return `${this.typeName}(${extraLines[0]})`;
    return `${this.typeName}(\n  ${lines.join('\n  ')}\n)`;
  }

  /** console.log and util.inspect show the repr. */
  [INSPECT](): string {
    return this.toString();
  }

  /**
   * Multiply-accumulates this module performs itself (its children's excluded) in one forward call on an input
   * of shape `_input` giving `_output`; summary() adds them up. 0 by default; layers that multiply override it.
   */
  ownMacs(_input: readonly number[], _output: readonly number[]): number {
    return 0;
  }

  /**
   * Runs a forward pass on zeros of `inputShape` (batch included), under noGrad and in evaluation mode (the
   * modes are restored after; running statistics are untouched) on the module's device in its dtype, and
   * tabulates every module: name and type, output shape, parameters and multiply-accumulates (own and
   * children's). Prints the table too with `{ print: true }`.
   */
  summary(inputShape: readonly number[], options?: SummaryOptions): ModelSummary {
    return summarize(this, inputShape, options);
  }
}

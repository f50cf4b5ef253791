/**
 * Optimizer: the base of the optimisers. Parameters come in groups, each with its own hyperparameters (PyTorch's
 * param_groups); state is kept per parameter; stateDict/loadStateDict save and restore both, as PyTorch's
 * optimizer.state_dict() and load_state_dict() do.
 */
import { zerosLike } from '../ops/creation';
import { cast } from '../ops/elementwise';
import { assign } from '../ops/transfer';
import { checkInt, checkNumber, checkOptions, floatTensor } from '../ops/util';
import { keep, tidy } from '../memory';
import { Tensor, formatShape } from '../tensor';

/** The hyperparameters every parameter group has. */
export interface Hyperparameters {
  /** Learning rate: schedulers set it between steps. */
  lr: number;
}

/**
 * One parameter group: its parameters and its hyperparameters, which may be read and changed between steps
 * (`opt.paramGroups[0].lr = 0.01`). `initialLr` is set by the first learning-rate scheduler attached to the
 * optimiser: the rate its schedule starts from (PyTorch's `initial_lr`).
 */
export type ParamGroup<H extends Hyperparameters> = H & { params: Tensor[]; initialLr?: number };

/** A parameter group as passed to a constructor or `addParamGroup`: hyperparameters left out take the defaults. */
export type ParamGroupInit<H extends Hyperparameters> = Partial<H> & { params: Iterable<Tensor> };

/** What optimisers take: tensors (one group with the constructor's options), or parameter groups. */
export type Params<H extends Hyperparameters> = Iterable<Tensor> | Iterable<ParamGroupInit<H>>;

/** A parameter group in a state dict: its hyperparameters, and its parameters as indices. */
export type ParamGroupState<H extends Hyperparameters> = H & { params: number[]; initialLr?: number };

/**
 * An optimiser's state, as PyTorch's optimizer.state_dict(): `state` maps a parameter's index (counting through the
 * groups in order) to its state (step counts and tensors such as momentum buffers), for the parameters stepped so
 * far; `paramGroups` holds every group's hyperparameters and the indices of its parameters.
 */
export interface OptimizerStateDict<H extends Hyperparameters = Hyperparameters, S extends object = object> {
  state: Record<number, S>;
  paramGroups: ParamGroupState<H>[];
}

/**
 * How `loadStateDict` reads one key of a parameter's state: `count`, an integer ≥ 0 (a step count); `tensor`, a
 * tensor shaped as the parameter; `optionalTensor`, such a tensor or nothing (null or absent).
 */
export type StateKind = 'count' | 'tensor' | 'optionalTensor';

/** What an optimiser tells its base: the names of its hyperparameters, and the keys of its per-parameter state. */
export interface OptimizerSpec<H extends Hyperparameters, S extends object> {
  hyperparameters: readonly (keyof H & string)[];
  state: { readonly [K in keyof S & string]-?: StateKind };
}

/** Names a value for messages: "number", "null", "an array", "a Tensor". @internal */
export function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (value instanceof Tensor) return 'a Tensor';
  return typeof value;
}

/** Whether `value` is an object that is neither an array nor a tensor. */
function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Tensor);
}

/** State tensors live where their parameter lives: moved there after module.to(device). */
function follow(state: Tensor, p: Tensor): void {
  if (state.device !== p.device) state.moveTo(p.device);
}

/** Disposes the tensors of one parameter's state. */
function disposeState(entry: object): void {
  for (const v of Object.values(entry)) if (v instanceof Tensor) v.dispose();
}

/**
 * The base of the optimisers: parameter groups with their hyperparameters, the state of each parameter, and the
 * step that updates every parameter holding a gradient. `H` are the hyperparameters of a group, `S` the state of
 * a parameter.
 */
export abstract class Optimizer<H extends Hyperparameters = Hyperparameters, S extends object = object> {
  /** The optimiser's name, as messages start. */
  readonly name: string;
  /** The parameter groups, in order; their hyperparameters may be changed between steps. */
  readonly paramGroups: ParamGroup<H>[] = [];
  /** The hyperparameters a group takes when it leaves one out (the constructor's options and defaults). */
  readonly defaults: Readonly<Partial<H>>;
  /** The spec's hyperparameter names and state kinds, loosely typed so that every optimiser is an Optimizer. */
  private readonly hyperKeys: readonly string[];
  private readonly stateKinds: Readonly<Record<string, StateKind>>;
  private readonly state = new Map<Tensor, S>();

  /**
   * Reads `params`: tensors (one group, with `defaults`) or parameter groups. Throws TypeError or RangeError,
   * naming `name`, for anything else, for a parameter that is not a leaf with requiresGrad, for a parameter listed
   * twice and for invalid hyperparameters.
   */
  protected constructor(name: string, params: Params<H>, defaults: Partial<H>, spec: OptimizerSpec<H, S>) {
    this.name = name;
    this.defaults = defaults;
    this.hyperKeys = spec.hyperparameters;
    this.stateKinds = spec.state;
    if (params === null || typeof (params as Partial<Iterable<unknown>>)?.[Symbol.iterator] !== 'function') {
      throw new TypeError(`${name}: expected params to be an iterable of tensors but got ${params === null ? 'null' : typeof params}`);
    }
    const items: unknown[] = [...params];
    if (items.length === 0) throw new RangeError(`${name}: expected at least one parameter but got none`);
    if (isRecord(items[0])) {
      items.forEach((group, i) => {
        if (!isRecord(group)) {
          throw new TypeError(`${name}: expected paramGroups[${i}] to be a parameter group { params, … } but got ${kindOf(group)}`);
        }
        this.addGroup(group, `paramGroups[${i}]`, true);
      });
    } else {
      this.addGroup({ params: items }, 'params', false);
    }
  }

  /** Every parameter, group after group. */
  get params(): Tensor[] {
    return this.paramGroups.flatMap((g) => g.params);
  }

  /**
   * Adds a group of parameters (fine-tuning: unfreezing layers as training goes), with hyperparameters of its own
   * where given and the defaults elsewhere, as PyTorch's add_param_group.
   */
  addParamGroup(group: ParamGroupInit<H>): void {
    if (!isRecord(group)) throw new TypeError(`${this.name}: expected a parameter group { params, … } but got ${kindOf(group)}`);
    this.addGroup(group, `paramGroups[${this.paramGroups.length}]`, true);
  }

  /** Drops every parameter's gradient (disposing it). */
  zeroGrad(): void {
    for (const p of this.params) {
      p.grad?.dispose();
      p.grad = null;
    }
  }

  /** Updates every parameter that has a gradient, in place, with its group's hyperparameters. */
  step(): void {
    this.paramGroups.forEach((group, i) => {
      const h = this.resolve(group, (key) => `paramGroups[${i}].${key}`, this.name);
      for (const p of group.params) {
        if (!p.grad) continue;
        const previous = this.state.get(p);
        if (previous) for (const v of Object.values(previous)) if (v instanceof Tensor) follow(v, p);
        this.state.set(p, this.update(p, p.grad, h, previous));
      }
    });
  }

  /**
   * The state as PyTorch's optimizer.state_dict(): per-parameter state under the parameter's index and the
   * groups' hyperparameters with their parameters' indices. The tensors are the optimiser's own (as a module's
   * stateDict): clone them to keep a snapshot while training goes on.
   */
  stateDict(): OptimizerStateDict<H, S> {
    const state: Record<number, S> = {};
    let index = 0;
    const paramGroups = this.paramGroups.map((group) => {
      const { params, ...hyperparameters } = group;
      const indices = params.map((p) => {
        const entry = this.state.get(p);
        if (entry) state[index] = { ...entry };
        return index++;
      });
      return { ...structuredClone(hyperparameters), params: indices } as ParamGroupState<H>;
    });
    return { state, paramGroups };
  }

  /**
   * Restores a state from `stateDict()`: the groups' hyperparameters, and each parameter's state copied onto its
   * parameter's device and dtype. Parameters are matched by position, group by group, as PyTorch does. Everything
   * is checked before anything changes: the number of groups and of parameters in each, the hyperparameters, the
   * state keys, and the state tensors' shapes.
   */
  loadStateDict(stateDict: OptimizerStateDict<H, S>): void {
    const op = `${this.name}.loadStateDict`;
    if (!isRecord(stateDict)) throw new TypeError(`${op}: expected a state dict { state, paramGroups } but got ${kindOf(stateDict)}`);
    checkOptions(op, stateDict, ['state', 'paramGroups']);
    const { state, paramGroups } = stateDict as { state: unknown; paramGroups: unknown };
    if (!Array.isArray(paramGroups)) throw new TypeError(`${op}: expected paramGroups to be an array but got ${kindOf(paramGroups)}`);
    if (!isRecord(state)) throw new TypeError(`${op}: expected state to be an object but got ${kindOf(state)}`);
    if (paramGroups.length !== this.paramGroups.length) {
      throw new RangeError(`${op}: expected ${this.paramGroups.length} parameter groups (as the optimizer has) but got ${paramGroups.length}`);
    }
    const byIndex = new Map<number, Tensor>();
    const groups = paramGroups.map((saved: unknown, i) => {
      const where = `paramGroups[${i}]`;
      if (!isRecord(saved)) throw new TypeError(`${op}: expected ${where} to be an object but got ${kindOf(saved)}`);
      checkOptions(op, saved, ['params', 'initialLr', ...this.hyperKeys]);
      const own = this.paramGroups[i].params;
      if (!Array.isArray(saved.params)) throw new TypeError(`${op}: expected ${where}.params to be an array of indices but got ${kindOf(saved.params)}`);
      if (saved.params.length !== own.length) {
        throw new RangeError(`${op}: expected ${where}.params to have length ${own.length} (as the optimizer's group) but got ${saved.params.length}`);
      }
      saved.params.forEach((id: unknown, j: number) => {
        const index = checkInt(op, `${where}.params[${j}]`, id);
        if (byIndex.has(index)) throw new RangeError(`${op}: expected distinct parameter indices but ${where}.params[${j}] repeats ${index}`);
        byIndex.set(index, own[j]);
      });
      const values = this.withDefaults(saved);
      const hyperparameters = this.resolve(values, (key) => `${where}.${key}`, op);
      const initialLr = saved.initialLr === undefined ? undefined : checkNumber(op, `${where}.initialLr`, saved.initialLr, 0);
      return { hyperparameters, initialLr };
    });
    const loaded = tidy(() => Object.entries(state).map(([key, entry]): [Tensor, S] => {
      const p = /^\d+$/.test(key) ? byIndex.get(Number(key)) : undefined;
      if (!p) throw new RangeError(`${op}: state has an entry '${key}' but paramGroups list no parameter ${key}`);
      return [p, this.loadEntry(op, `state[${key}]`, entry, p)];
    }));
    for (const entry of this.state.values()) disposeState(entry);
    this.state.clear();
    for (const [p, entry] of loaded) {
      for (const v of Object.values(entry)) if (v instanceof Tensor) keep(v);
      this.state.set(p, entry);
    }
    this.paramGroups.forEach((group, i) => {
      Object.assign(group, groups[i].hyperparameters);
      if (groups[i].initialLr === undefined) delete group.initialLr;
      else group.initialLr = groups[i].initialLr;
    });
  }

  /**
   * Checks a group's hyperparameters and returns them (copied); `where(key)` names one in messages, which start
   * with `op`.
   */
  protected abstract resolve(values: Partial<H>, where: (key: string) => string, op: string): H;

  /**
   * Updates parameter `p` in place from `grad` with the hyperparameters `h`, given its state so far (undefined
   * before its first step, its tensors already on p's device); returns its new state.
   */
  protected abstract update(p: Tensor, grad: Tensor, h: H, state: S | undefined): S;

  /** A zero-filled state tensor like `p` (its shape, dtype and device), outliving tidy scopes. */
  protected zeros(p: Tensor): Tensor {
    return keep(zerosLike(p));
  }

  /** The hyperparameters of a group: its own where it has them, the defaults elsewhere. */
  private withDefaults(group: Record<string, unknown>): Partial<H> {
    const values: Record<string, unknown> = {};
    const defaults: Readonly<Record<string, unknown>> = this.defaults;
    for (const key of this.hyperKeys) values[key] = group[key] !== undefined ? group[key] : defaults[key];
    return values as Partial<H>;
  }

  /** Checks and adds a group; `where` names it in messages, `own` tells whether it is a group or a plain list. */
  private addGroup(group: Record<string, unknown>, where: string, own: boolean): void {
    const name = this.name;
    checkOptions(name, group, ['params', ...this.hyperKeys]);
    const listed = group.params;
    if (listed === null || typeof (listed as Partial<Iterable<unknown>>)?.[Symbol.iterator] !== 'function') {
      throw new TypeError(`${name}: expected ${where}.params to be an iterable of tensors but got ${kindOf(listed)}`);
    }
    const prefix = own ? `${where}.params` : 'params';
    const seen = new Set(this.params);
    const params = [...(listed as Iterable<unknown>)].map((p, j) => {
      if (!(p instanceof Tensor)) throw new TypeError(`${name}: expected ${prefix}[${j}] to be a Tensor but got ${typeof p}`);
      if (!p.requiresGrad || p.gradFn) throw new TypeError(`${name}: expected ${prefix}[${j}] to be a leaf tensor with requiresGrad`);
      if (p.isDisposed) throw new Error(`${name}: ${prefix}[${j}] (shape ${formatShape(p.shape)}) is disposed`);
      if (seen.has(p)) throw new RangeError(`${name}: expected each parameter once but ${prefix}[${j}] is listed again`);
      seen.add(p);
      return p;
    });
    const values = this.withDefaults(group);
    const hyperparameters = this.resolve(values, (key) => (own && group[key] !== undefined ? `${where}.${key}` : key), name);
    this.paramGroups.push({ ...hyperparameters, params });
  }

  /** Reads one parameter's saved state into fresh tensors on its device. */
  private loadEntry(op: string, where: string, entry: unknown, p: Tensor): S {
    if (!isRecord(entry)) throw new TypeError(`${op}: expected ${where} to be an object but got ${kindOf(entry)}`);
    const kinds = this.stateKinds;
    for (const key of Object.keys(entry)) {
      if (!Object.hasOwn(kinds, key)) throw new TypeError(`${op}: unknown key '${key}' in ${where} (expected ${Object.keys(kinds).join(', ')})`);
    }
    const out: Record<string, number | Tensor> = {};
    for (const [key, kind] of Object.entries(kinds)) {
      const value = entry[key];
      if (kind === 'optionalTensor' && (value === undefined || value === null)) continue;
      if (value === undefined) throw new TypeError(`${op}: expected ${where}.${key} but it is missing`);
      if (kind === 'count') {
        out[key] = checkInt(op, `${where}.${key}`, value);
        continue;
      }
      const src = floatTensor(op, `${where}.${key}`, value);
      if (src.shape.join() !== p.shape.join()) {
        throw new RangeError(`${op}: expected ${where}.${key} of shape ${formatShape(p.shape)} (as its parameter) but got ${formatShape(src.shape)}`);
      }
      out[key] = assign(zerosLike(p), cast(src, p.dtype));
    }
    return out as S;
  }
}

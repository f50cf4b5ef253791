/**
 * Learning-rate schedulers (PyTorch's torch.optim.lr_scheduler): StepLR, MultiStepLR, CosineAnnealingLR, OneCycleLR,
 * LinearWarmup (LinearLR) and SequentialLR. Each sets the rates of every parameter group from a closed form of the
 * step count, as PyTorch's documentation writes them: the constructor sets the rates of step 0, and `step()` (after
 * each epoch; after each batch for OneCycleLR) moves to the next. With one scheduler per optimiser the rates are
 * PyTorch's; rates written between steps by anything else (by hand, by another scheduler) are overwritten at the
 * next step, where PyTorch's chainable forms would compound them: run schedulers one after another with SequentialLR.
 */
import { checkBool, checkInt, checkNumber, checkOptions } from '../ops/util';
import { Hyperparameters, Optimizer, ParamGroup, kindOf } from './optimizer';

/** A scheduler's state: how far it has gone, its base rates, its last rates and its settings. */
export interface LRSchedulerStateDict<O extends object = object> {
  /** The step count of the current rates (0 after construction). */
  lastEpoch: number;
  /** The rates the schedule starts from, one per parameter group. */
  baseLrs: number[];
  /** The rates set last, one per parameter group. */
  lastLr: number[];
  /** The scheduler's settings, as its constructor checked them. */
  settings: O;
}

/** Checks an array of finite numbers, one per parameter group (a number stands for the same value in each). */
function perGroup(op: string, name: string, value: unknown, groups: number, min = -Infinity, max = Infinity): number[] {
  if (typeof value === 'number') return new Array<number>(groups).fill(checkNumber(op, name, value, min, max));
  if (!Array.isArray(value)) throw new TypeError(`${op}: expected ${name} to be a number or an array of numbers but got ${kindOf(value)}`);
  if (value.length !== groups) {
    throw new RangeError(`${op}: expected ${name} to have length ${groups} (one per parameter group) but got ${value.length}`);
  }
  return value.map((v, i) => checkNumber(op, `${name}[${i}]`, v, min, max));
}

/** How many of the sorted `values` are ≤ x (Python's bisect_right). */
function bisectRight(values: readonly number[], x: number): number {
  let n = 0;
  while (n < values.length && values[n] <= x) n++;
  return n;
}

/**
 * The base of the schedulers. A scheduler records each group's `initialLr` (the first scheduler attached to an
 * optimiser sets it to the group's lr; later ones reuse it, as PyTorch's `initial_lr`) as its base rates, and each
 * step sets every group's `lr`. `O` are its settings, as saved in its state dict.
 */
export abstract class LRScheduler<O extends object = object> {
  /** The optimiser whose rates this scheduler sets. */
  readonly optimizer: Optimizer;
  /** The scheduler's name, as messages start. */
  protected readonly name: string;
  /** The checked settings. */
  protected settings: O;
  /** The rates the schedule starts from, one per parameter group. */
  protected baseLrs: number[];
  private epoch = -1;
  private lastLrs: number[] = [];

  /**
   * Checks `optimizer` and records the base rates: `initialLrs` when given (OneCycleLR's, written to the groups'
   * `initialLr`), else the groups' `initialLr`, set to their lr where missing. Subclasses set the rates of step 0
   * (`this.goTo(0)`) at the end of their constructor.
   */
  protected constructor(name: string, optimizer: Optimizer, settings: O, initialLrs?: number[]) {
    if (!(optimizer instanceof Optimizer)) throw new TypeError(`${name}: expected an Optimizer but got ${kindOf(optimizer)}`);
    this.name = name;
    this.optimizer = optimizer;
    this.settings = settings;
    optimizer.paramGroups.forEach((group, i) => {
      if (initialLrs) group.initialLr = initialLrs[i];
      else group.initialLr ??= group.lr;
    });
    this.baseLrs = optimizer.paramGroups.map((group) => group.initialLr ?? group.lr);
  }

  /** The number of steps taken: 0 after construction, then 1, 2, … (PyTorch's last_epoch). */
  get lastEpoch(): number {
    return this.epoch;
  }

  /** The rates set last, one per parameter group. */
  getLastLr(): number[] {
    return [...this.lastLrs];
  }

  /** Moves to the next step (call it after each epoch; after each batch for OneCycleLR) and sets its rates. */
  step(): void {
    this.goTo(this.epoch + 1);
  }

  /** The state: the step count, base and last rates, and the settings (plain numbers and arrays: JSON-able). */
  stateDict(): LRSchedulerStateDict<O> {
    return { lastEpoch: this.epoch, baseLrs: [...this.baseLrs], lastLr: [...this.lastLrs], settings: structuredClone(this.settings) };
  }

  /**
   * Restores a state from `stateDict()` (checked first: its keys, the step count, one rate per parameter group and
   * the settings). The groups' rates are left as they are (the optimiser's own state dict holds them); the next
   * `step()` continues the schedule.
   */
  loadStateDict(state: LRSchedulerStateDict<O>): void {
    this.prepareLoad(state, `${this.name}.loadStateDict`)();
  }

  /** Checks `settings` as the constructor does and returns them; messages start with `op`. */
  protected abstract checkSettings(op: string, settings: unknown): O;

  /** Sets the rates (and whatever else the schedule drives) of step `epoch`. */
  protected abstract goTo(epoch: number): void;

  /** Sets every group's lr to `lrs` and records `epoch` as the step count. */
  protected setLrs(epoch: number, lrs: number[]): void {
    const groups = this.optimizer.paramGroups;
    if (groups.length !== lrs.length) {
      throw new RangeError(`${this.name}: the optimizer has ${groups.length} parameter groups but the scheduler was built for ${lrs.length}`);
    }
    groups.forEach((group, i) => { group.lr = lrs[i]; });
    this.epoch = epoch;
    this.lastLrs = lrs;
  }

  /** Checks a state dict and returns the function that installs it, so that a driver can check all parts first. */
  protected prepareLoad(state: unknown, op: string): () => void {
    if (typeof state !== 'object' || state === null || Array.isArray(state)) {
      throw new TypeError(`${op}: expected a state dict { lastEpoch, baseLrs, lastLr, settings } but got ${kindOf(state)}`);
    }
    const s = checkOptions(op, state as Record<string, unknown>, ['lastEpoch', 'baseLrs', 'lastLr', 'settings']);
    const lastEpoch = checkInt(op, 'lastEpoch', s.lastEpoch);
    const groups = this.optimizer.paramGroups.length;
    for (const key of ['baseLrs', 'lastLr'] as const) {
      if (!Array.isArray(s[key])) throw new TypeError(`${op}: expected ${key} to be an array of numbers but got ${kindOf(s[key])}`);
    }
    const baseLrs = perGroup(op, 'baseLrs', s.baseLrs, groups, 0);
    const lastLr = perGroup(op, 'lastLr', s.lastLr, groups, 0);
    const settings = this.checkSettings(op, s.settings);
    return () => {
      this.settings = settings;
      this.baseLrs = baseLrs;
      this.epoch = lastEpoch;
      this.lastLrs = lastLr;
    };
  }

  /** Moves `scheduler` to step `epoch` (for schedulers that drive others). */
  protected static advance(scheduler: LRScheduler, epoch: number): void {
    scheduler.goTo(epoch);
  }

  /** `scheduler.prepareLoad` (for schedulers that drive others). */
  protected static prepareLoadOf(scheduler: LRScheduler, state: unknown, op: string): () => void {
    return scheduler.prepareLoad(state, op);
  }
}

/** Checks a scheduler's (required) options object: a plain object with known keys only. */
function options<T extends object>(op: string, value: T | undefined, keys: readonly string[]): Partial<T> {
  if (value === undefined) throw new TypeError(`${op}: expected options { ${keys.join(', ')} } but got undefined`);
  return checkOptions(op, value, keys);
}

/** Settings of StepLR. */
export interface StepLRSettings {
  /** Steps between two decays (≥ 1). */
  stepSize: number;
  /** Factor of each decay. */
  gamma: number;
}

/** Options of StepLR: `stepSize` (required) and `gamma` (default 0.1). */
export type StepLROptions = { stepSize: number; gamma?: number };

function stepSettings(op: string, value: unknown): StepLRSettings {
  const o = options(op, value as StepLROptions, ['stepSize', 'gamma']);
  return { stepSize: checkInt(op, 'stepSize', o.stepSize, 1), gamma: checkNumber(op, 'gamma', o.gamma ?? 0.1, 0) };
}

/**
 * Decays each group's rate by `gamma` every `stepSize` steps: lr = base·gamma^⌊epoch/stepSize⌋.
 *
 *   const sched = new ns.optim.StepLR(opt, { stepSize: 30, gamma: 0.1 });   // 0.05 → 0.005 at 30 → 0.0005 at 60
 */
export class StepLR extends LRScheduler<StepLRSettings> {
  /** Sets the rates of step 0 (the base rates). */
  constructor(optimizer: Optimizer, options: StepLROptions) {
    super('StepLR', optimizer, stepSettings('StepLR', options));
    this.goTo(0);
  }

  protected override checkSettings(op: string, settings: unknown): StepLRSettings {
    return stepSettings(op, settings);
  }

  protected override goTo(epoch: number): void {
    const { stepSize, gamma } = this.settings;
    this.setLrs(epoch, this.baseLrs.map((lr) => lr * gamma ** Math.floor(epoch / stepSize)));
  }
}

/** Settings of MultiStepLR. */
export interface MultiStepLRSettings {
  /** The steps at which the rate decays, sorted (a repeated milestone decays twice, as in PyTorch). */
  milestones: number[];
  /** Factor of each decay. */
  gamma: number;
}

/** Options of MultiStepLR: `milestones` (required) and `gamma` (default 0.1). */
export type MultiStepLROptions = { milestones: number[]; gamma?: number };

function multiStepSettings(op: string, value: unknown): MultiStepLRSettings {
  const o = options(op, value as MultiStepLROptions, ['milestones', 'gamma']);
  if (!Array.isArray(o.milestones)) throw new TypeError(`${op}: expected milestones to be an array of integers but got ${kindOf(o.milestones)}`);
  const milestones = o.milestones.map((m, i) => checkInt(op, `milestones[${i}]`, m)).sort((a, b) => a - b);
  return { milestones, gamma: checkNumber(op, 'gamma', o.gamma ?? 0.1, 0) };
}

/**
 * Decays each group's rate by `gamma` at every milestone: lr = base·gamma^(number of milestones ≤ epoch).
 *
 *   const sched = new ns.optim.MultiStepLR(opt, { milestones: [30, 80], gamma: 0.1 });
 */
export class MultiStepLR extends LRScheduler<MultiStepLRSettings> {
  /** Sets the rates of step 0 (the base rates unless a milestone is 0). */
  constructor(optimizer: Optimizer, options: MultiStepLROptions) {
    super('MultiStepLR', optimizer, multiStepSettings('MultiStepLR', options));
    this.goTo(0);
  }

  protected override checkSettings(op: string, settings: unknown): MultiStepLRSettings {
    return multiStepSettings(op, settings);
  }

  protected override goTo(epoch: number): void {
    const { milestones, gamma } = this.settings;
    const decays = bisectRight(milestones, epoch);
    this.setLrs(epoch, this.baseLrs.map((lr) => lr * gamma ** decays));
  }
}

/** Settings of CosineAnnealingLR. */
export interface CosineAnnealingLRSettings {
  /** Steps of the half cosine period (≥ 1). */
  tMax: number;
  /** The lowest rate. */
  etaMin: number;
}

/** Options of CosineAnnealingLR: `tMax` (required) and `etaMin` (default 0). */
export type CosineAnnealingLROptions = { tMax: number; etaMin?: number };

function cosineSettings(op: string, value: unknown): CosineAnnealingLRSettings {
  const o = options(op, value as CosineAnnealingLROptions, ['tMax', 'etaMin']);
  return { tMax: checkInt(op, 'tMax', o.tMax, 1), etaMin: checkNumber(op, 'etaMin', o.etaMin ?? 0, 0) };
}

/**
 * Cosine annealing (SGDR without restarts): lr = etaMin + (base − etaMin)·(1 + cos(π·epoch/tMax))/2, which reaches
 * etaMin at tMax and, stepped further, rises again along the cosine, as PyTorch's.
 *
 *   const sched = new ns.optim.CosineAnnealingLR(opt, { tMax: epochs });
 */
export class CosineAnnealingLR extends LRScheduler<CosineAnnealingLRSettings> {
  /** Sets the rates of step 0 (the base rates). */
  constructor(optimizer: Optimizer, options: CosineAnnealingLROptions) {
    super('CosineAnnealingLR', optimizer, cosineSettings('CosineAnnealingLR', options));
    this.goTo(0);
  }

  protected override checkSettings(op: string, settings: unknown): CosineAnnealingLRSettings {
    return cosineSettings(op, settings);
  }

  protected override goTo(epoch: number): void {
    const { tMax, etaMin } = this.settings;
    this.setLrs(epoch, this.baseLrs.map((lr) => etaMin + ((lr - etaMin) * (1 + Math.cos((Math.PI * epoch) / tMax))) / 2));
  }
}

/** Settings of LinearWarmup. */
export interface LinearWarmupSettings {
  /** Steps of the warm-up (≥ 1). */
  warmupSteps: number;
  /** The factor of the base rate at step 0, in (0, 1]. */
  startFactor: number;
}

/** Options of LinearWarmup: `warmupSteps` (required) and `startFactor` (default 1/3, as PyTorch's LinearLR). */
export type LinearWarmupOptions = { warmupSteps: number; startFactor?: number };

function warmupSettings(op: string, value: unknown): LinearWarmupSettings {
  const o = options(op, value as LinearWarmupOptions, ['warmupSteps', 'startFactor']);
  const warmupSteps = checkInt(op, 'warmupSteps', o.warmupSteps, 1);
  const startFactor = o.startFactor ?? 1 / 3;
  if (typeof startFactor !== 'number' || !(startFactor > 0 && startFactor <= 1)) {
    throw new RangeError(`${op}: expected startFactor to be a number in (0, 1] but got ${typeof startFactor === 'number' ? startFactor : kindOf(startFactor)}`);
  }
  return { warmupSteps, startFactor };
}

/**
 * Linear warm-up (PyTorch's LinearLR with endFactor 1): lr = base·(startFactor + (1 − startFactor)·min(epoch,
 * warmupSteps)/warmupSteps), from startFactor·base at step 0 to base at warmupSteps and after.
 *
 *   const sched = new ns.optim.LinearWarmup(opt, { warmupSteps: 5, startFactor: 0.1 });
 */
export class LinearWarmup extends LRScheduler<LinearWarmupSettings> {
  /** Sets the rates of step 0 (startFactor·base). */
  constructor(optimizer: Optimizer, options: LinearWarmupOptions) {
    super('LinearWarmup', optimizer, warmupSettings('LinearWarmup', options));
    this.goTo(0);
  }

  protected override checkSettings(op: string, settings: unknown): LinearWarmupSettings {
    return warmupSettings(op, settings);
  }

  protected override goTo(epoch: number): void {
    const { warmupSteps, startFactor } = this.settings;
    const factor = startFactor + ((1 - startFactor) * Math.min(epoch, warmupSteps)) / warmupSteps;
    this.setLrs(epoch, this.baseLrs.map((lr) => lr * factor));
  }
}

/** Settings of OneCycleLR (per-group values as arrays). */
export interface OneCycleLRSettings {
  maxLr: number[];
  totalSteps: number;
  pctStart: number;
  annealStrategy: 'cos' | 'linear';
  divFactor: number;
  finalDivFactor: number;
  threePhase: boolean;
  cycleMomentum: boolean;
  baseMomentum: number[];
  maxMomentum: number[];
}

/** Options of OneCycleLR; a number stands for the same value in every parameter group. */
export interface OneCycleLROptions {
  /** The peak rate (required). */
  maxLr: number | number[];
  /** Steps in the cycle (required): the scheduler may be stepped this many times. */
  totalSteps: number;
  /** Fraction of the steps spent raising the rate, in [0, 1] (default 0.3). */
  pctStart?: number;
  /** How the rate moves within a phase (default 'cos'). */
  annealStrategy?: 'cos' | 'linear';
  /** The rate starts at maxLr/divFactor (default 25). */
  divFactor?: number;
  /** The rate ends at maxLr/(divFactor·finalDivFactor) (default 1e4). */
  finalDivFactor?: number;
  /** Three phases (up, down to the start rate, then down to the final rate) instead of two (default false). */
  threePhase?: boolean;
  /** Cycle the momentum (SGD's and RMSprop's momentum, Adam's β1) inversely to the rate (default true, as PyTorch). */
  cycleMomentum?: boolean;
  /** The lowest momentum, reached at the peak rate (default 0.85). */
  baseMomentum?: number | number[];
  /** The highest momentum, at the start and the end (default 0.95). */
  maxMomentum?: number | number[];
}

function oneCycleSettings(op: string, value: unknown, groups: number): OneCycleLRSettings {
  const o = options(op, value as OneCycleLROptions, ['maxLr', 'totalSteps', 'pctStart', 'annealStrategy', 'divFactor',
    'finalDivFactor', 'threePhase', 'cycleMomentum', 'baseMomentum', 'maxMomentum']);
  const annealStrategy = o.annealStrategy ?? 'cos';
  if (annealStrategy !== 'cos' && annealStrategy !== 'linear') {
    throw new TypeError(`${op}: expected annealStrategy 'cos' or 'linear' but got ${typeof annealStrategy === 'string' ? `'${annealStrategy}'` : kindOf(annealStrategy)}`);
  }
  return {
    maxLr: perGroup(op, 'maxLr', o.maxLr, groups, 0),
    totalSteps: checkInt(op, 'totalSteps', o.totalSteps, 1),
    pctStart: checkNumber(op, 'pctStart', o.pctStart ?? 0.3, 0, 1),
    annealStrategy,
    divFactor: checkNumber(op, 'divFactor', o.divFactor ?? 25, Number.MIN_VALUE),
    finalDivFactor: checkNumber(op, 'finalDivFactor', o.finalDivFactor ?? 1e4, Number.MIN_VALUE),
    threePhase: checkBool(op, 'threePhase', o.threePhase, false),
    cycleMomentum: checkBool(op, 'cycleMomentum', o.cycleMomentum, true),
    baseMomentum: perGroup(op, 'baseMomentum', o.baseMomentum ?? 0.85, groups, 0),
    maxMomentum: perGroup(op, 'maxMomentum', o.maxMomentum ?? 0.95, groups, 0),
  };
}

/** The rates and momenta between which OneCycleLR's phases move. */
type Rate = 'initial' | 'max' | 'min';
type Momentum = 'base' | 'max';

/** A group whose momentum OneCycleLR may cycle: SGD's and RMSprop's `momentum`, or Adam's `betas`. */
type MomentumGroup = ParamGroup<Hyperparameters> & { momentum?: number; betas?: [number, number] };

/**
 * The 1cycle policy (Smith & Topin), PyTorch's OneCycleLR: the rate rises from maxLr/divFactor to maxLr over the
 * first pctStart·totalSteps steps, then falls to maxLr/(divFactor·finalDivFactor) by step totalSteps − 1 (cosine or
 * linear annealing within each phase; the phases end at steps pctStart·totalSteps − 1 and totalSteps − 1), while the
 * momentum moves the other way between maxMomentum and baseMomentum. Step it after every batch; stepping past
 * totalSteps throws.
 *
 *   const sched = new ns.optim.OneCycleLR(opt, { maxLr: 0.1, totalSteps: epochs * batchesPerEpoch });
 */
export class OneCycleLR extends LRScheduler<OneCycleLRSettings> {
  /** Sets the groups' initialLr to maxLr/divFactor and the rates (and momentum) of step 0. */
  constructor(optimizer: Optimizer, options: OneCycleLROptions) {
    if (!(optimizer instanceof Optimizer)) throw new TypeError(`OneCycleLR: expected an Optimizer but got ${kindOf(optimizer)}`);
    const settings = oneCycleSettings('OneCycleLR', options, optimizer.paramGroups.length);
    if (settings.cycleMomentum) {
      optimizer.paramGroups.forEach((group: MomentumGroup, i) => {
        if (!Array.isArray(group.betas) && typeof group.momentum !== 'number') {
          throw new TypeError(`OneCycleLR: expected paramGroups[${i}] to have a momentum or betas with cycleMomentum (pass cycleMomentum: false)`);
        }
      });
    }
    super('OneCycleLR', optimizer, settings, settings.maxLr.map((lr) => lr / settings.divFactor));
    this.goTo(0);
  }

  protected override checkSettings(op: string, settings: unknown): OneCycleLRSettings {
    return oneCycleSettings(op, settings, this.optimizer.paramGroups.length);
  }

  protected override goTo(epoch: number): void {
    const s = this.settings;
    if (epoch > s.totalSteps) throw new RangeError(`OneCycleLR: tried to step ${epoch} times but totalSteps is ${s.totalSteps}`);
    // Phases: end step, rate from → to, momentum from → to (PyTorch's _schedule_phases).
    const phases: [number, Rate, Rate, Momentum, Momentum][] = s.threePhase
      ? [[s.pctStart * s.totalSteps - 1, 'initial', 'max', 'max', 'base'],
         [2 * s.pctStart * s.totalSteps - 2, 'max', 'initial', 'base', 'max'],
         [s.totalSteps - 1, 'initial', 'min', 'max', 'max']]
      : [[s.pctStart * s.totalSteps - 1, 'initial', 'max', 'max', 'base'], [s.totalSteps - 1, 'max', 'min', 'base', 'max']];
    let from = 0;
    let phase = phases[phases.length - 1];
    for (let i = 0; i < phases.length; i++) {
      if (epoch <= phases[i][0] || i === phases.length - 1) {
        phase = phases[i];
        break;
      }
      from = phases[i][0];
    }
    const [to, lrFrom, lrTo, momentumFrom, momentumTo] = phase;
    if (to === from) {
      throw new RangeError(`OneCycleLR: step ${epoch} falls in a phase of zero length (pctStart ${s.pctStart}, totalSteps ${s.totalSteps})`);
    }
    const pct = (epoch - from) / (to - from);
    const anneal = (a: number, b: number): number => (s.annealStrategy === 'cos' ? b + ((a - b) / 2) * (Math.cos(Math.PI * pct) + 1) : (b - a) * pct + a);
    const initial = s.maxLr.map((lr) => lr / s.divFactor);
    const rates = { initial, max: s.maxLr, min: initial.map((lr) => lr / s.finalDivFactor) };
    const momenta = { max: s.maxMomentum, base: s.baseMomentum };
    this.setLrs(epoch, rates[lrFrom].map((a, i) => anneal(a, rates[lrTo][i])));
    if (!s.cycleMomentum) return;
    this.optimizer.paramGroups.forEach((group: MomentumGroup, i) => {
      const m = anneal(momenta[momentumFrom][i], momenta[momentumTo][i]);
      if (Array.isArray(group.betas)) group.betas = [m, group.betas[1]];
      else group.momentum = m;
    });
  }
}

/** Settings of SequentialLR. */
export interface SequentialLRSettings {
  /** The steps at which the next scheduler takes over (increasing, ≥ 1). */
  milestones: number[];
}

/** Options of SequentialLR: the schedulers (built on the same optimiser) and the steps where each takes over. */
export interface SequentialLROptions {
  schedulers: LRScheduler[];
  milestones: number[];
}

/** The state of SequentialLR: its own and each of its schedulers'. */
export interface SequentialLRStateDict extends LRSchedulerStateDict<SequentialLRSettings> {
  schedulers: LRSchedulerStateDict[];
}

function sequentialSettings(op: string, value: unknown, schedulers: number): SequentialLRSettings {
  const o = options(op, value as SequentialLRSettings, ['milestones']);
  if (!Array.isArray(o.milestones)) throw new TypeError(`${op}: expected milestones to be an array of integers but got ${kindOf(o.milestones)}`);
  if (o.milestones.length !== schedulers - 1) {
    throw new RangeError(`${op}: expected ${schedulers - 1} milestones (one fewer than the schedulers) but got ${o.milestones.length}`);
  }
  const milestones = o.milestones.map((m, i) => checkInt(op, `milestones[${i}]`, m, 1));
  milestones.forEach((m, i) => {
    if (i > 0 && m <= milestones[i - 1]) throw new RangeError(`${op}: expected increasing milestones but got [${milestones.join(', ')}]`);
  });
  return { milestones };
}

/**
 * Runs schedulers one after another, as PyTorch's SequentialLR: scheduler i + 1 takes over at milestone i and counts
 * its steps from there. The schedulers must be built on this optimiser (they share its groups' initialLr, so each
 * starts from the rates the optimiser had before the first was attached); the constructor sets the first
 * scheduler's step 0.
 *
 *   const warmup = new ns.optim.LinearWarmup(opt, { warmupSteps: 5, startFactor: 0.1 });
 *   const cosine = new ns.optim.CosineAnnealingLR(opt, { tMax: epochs - 5 });
 *   const sched = new ns.optim.SequentialLR(opt, { schedulers: [warmup, cosine], milestones: [5] });
 */
export class SequentialLR extends LRScheduler<SequentialLRSettings> {
  /** The schedulers, in order. */
  readonly schedulers: readonly LRScheduler[];

  /** Sets the first scheduler's step 0. */
  constructor(optimizer: Optimizer, options: SequentialLROptions) {
    const op = 'SequentialLR';
    const o = checkOptions(op, options, ['schedulers', 'milestones']);
    if (!Array.isArray(o.schedulers) || o.schedulers.length === 0) {
      throw new TypeError(`${op}: expected schedulers to be a non-empty array of schedulers but got ${Array.isArray(o.schedulers) ? 'an empty array' : kindOf(o.schedulers)}`);
    }
    o.schedulers.forEach((s: unknown, i) => {
      if (!(s instanceof LRScheduler)) throw new TypeError(`${op}: expected schedulers[${i}] to be a scheduler but got ${kindOf(s)}`);
      if (s.optimizer !== optimizer) throw new TypeError(`${op}: expected schedulers[${i}] to be built on the optimizer given`);
    });
    super(op, optimizer, sequentialSettings(op, { milestones: o.milestones }, o.schedulers.length));
    this.schedulers = [...o.schedulers];
    this.goTo(0);
  }

  /** The state, with each scheduler's. */
  override stateDict(): SequentialLRStateDict {
    return { ...super.stateDict(), schedulers: this.schedulers.map((s) => s.stateDict()) };
  }

  protected override prepareLoad(state: unknown, op: string): () => void {
    if (typeof state !== 'object' || state === null || Array.isArray(state)) {
      throw new TypeError(`${op}: expected a state dict { lastEpoch, baseLrs, lastLr, settings, schedulers } but got ${kindOf(state)}`);
    }
    const { schedulers, ...own } = state as Record<string, unknown>;
    if (!Array.isArray(schedulers) || schedulers.length !== this.schedulers.length) {
      throw new RangeError(`${op}: expected schedulers to hold ${this.schedulers.length} state dicts but got ${Array.isArray(schedulers) ? schedulers.length : kindOf(schedulers)}`);
    }
    const installs = [super.prepareLoad(own, op), ...this.schedulers.map((s, i) => LRScheduler.prepareLoadOf(s, schedulers[i], `${op}: schedulers[${i}]`))];
    return () => installs.forEach((install) => install());
  }

  protected override checkSettings(op: string, settings: unknown): SequentialLRSettings {
    return sequentialSettings(op, settings, this.schedulers.length);
  }

  protected override goTo(epoch: number): void {
    const { milestones } = this.settings;
    const index = bisectRight(milestones, epoch);
    const scheduler = this.schedulers[index];
    LRScheduler.advance(scheduler, index === 0 ? epoch : epoch - milestones[index - 1]);
    this.setLrs(epoch, scheduler.getLastLr());
  }
}

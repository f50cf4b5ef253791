/**
 * Learning-rate schedulers (ns.optim) against PyTorch's semantics: the rate sequences of StepLR, MultiStepLR,
 * CosineAnnealingLR, LinearWarmup (LinearLR), OneCycleLR (with its momentum cycle) and SequentialLR, compared with
 * values computed by hand (PyTorch's documented examples and closed forms); schedulers driving the optimiser's
 * steps; state dicts; argument errors and their messages.
 */
import * as ns from '../lib';
import { assign } from '../lib/ops/transfer';
import { describeErrors, expectError } from './helpers';

const { optim } = ns;

const param = (): ns.Tensor => ns.zeros([2], { requiresGrad: true, dtype: 'float64' });
const sgd = (lr = 0.05, momentum = 0): ns.optim.SGD => new optim.SGD([param()], { lr, momentum });

/** The rates of every group after construction and after each of `steps` steps. */
function rates(scheduler: ns.optim.LRScheduler, steps: number): number[][] {
  const out = [scheduler.getLastLr()];
  for (let i = 0; i < steps; i++) {
    scheduler.step();
    out.push(scheduler.getLastLr());
  }
  return out;
}

function expectRates(actual: number[][], expected: number[][]): void {
  expect(actual.length).toBe(expected.length);
  const bad: string[] = [];
  expected.forEach((row, e) => row.forEach((y, g) => {
    const x = actual[e][g];
    if (!(Math.abs(x - y) <= 1e-15 + 1e-12 * Math.abs(y)) && bad.length < 5) bad.push(`epoch ${e} group ${g}: got ${x}, expected ${y}`);
  }));
  expect(bad).toEqual([]);
}

describe('rate sequences', () => {
  test('StepLR: PyTorch\'s example (0.05, ×0.1 every 30 epochs); the groups\' lr follows', () => {
    const opt = sgd(0.05);
    const s = new optim.StepLR(opt, { stepSize: 30, gamma: 0.1 });
    const expected = Array.from({ length: 100 }, (_, e) => [e < 30 ? 0.05 : e < 60 ? 0.005 : e < 90 ? 0.0005 : 0.00005]);
    expectRates(rates(s, 99), expected);
    expect(s.lastEpoch).toBe(99);
    expect(opt.paramGroups[0].lr).toBe(s.getLastLr()[0]);
    expect(opt.paramGroups[0].initialLr).toBe(0.05);
  });

  test('MultiStepLR: PyTorch\'s example (milestones 30, 80)', () => {
    const s = new optim.MultiStepLR(sgd(0.05), { milestones: [80, 30] });   // sorted; gamma 0.1 by default
    expectRates(rates(s, 99), Array.from({ length: 100 }, (_, e) => [e < 30 ? 0.05 : e < 80 ? 0.005 : 0.0005]));
  });

  test('MultiStepLR: the paper\'s recipe, ×0.1 at 47%, 71% and 88% of 200 epochs, two groups', () => {
    const milestones = [0.47, 0.71, 0.88].map((f) => Math.round(f * 200));
    expect(milestones).toEqual([94, 142, 176]);
    const opt = new optim.SGD([{ params: [param()] }, { params: [param()], lr: 0.02 }], { lr: 0.1, momentum: 0.9 });
    const s = new optim.MultiStepLR(opt, { milestones, gamma: 0.1 });
    const seq = rates(s, 199);
    const at = (e: number): number[] => seq[e];
    expectRates([0, 93, 94, 141, 142, 175, 176, 199].map(at),
      [[0.1, 0.02], [0.1, 0.02], [0.01, 0.002], [0.01, 0.002], [0.001, 0.0002], [0.001, 0.0002], [1e-4, 2e-5], [1e-4, 2e-5]]);
    // A repeated milestone decays twice, as in PyTorch (its milestones are a Counter).
    expectRates(rates(new optim.MultiStepLR(sgd(1), { milestones: [2, 2], gamma: 0.5 }), 3), [[1], [1], [0.25], [0.25]]);
  });

  test('CosineAnnealingLR: (1 + cos(π·e/tMax))/2 between base and etaMin, and up again past tMax', () => {
    const s = new optim.CosineAnnealingLR(sgd(0.1), { tMax: 10, etaMin: 0.001 });
    const seq = rates(s, 20);
    expectRates([seq[0], seq[5], seq[10], seq[15], seq[20]], [[0.1], [0.001 + 0.099 / 2], [0.001], [0.001 + 0.099 / 2], [0.1]]);
    // Epoch 2 by hand: cos(π/5) = (1 + √5)/4.
    expectRates([seq[2]], [[0.001 + (0.099 * (1 + (1 + Math.sqrt(5)) / 4)) / 2]]);
    expectRates(rates(new optim.CosineAnnealingLR(sgd(1), { tMax: 2 }), 2), [[1], [0.5], [0]]);
  });

  test('LinearWarmup: PyTorch\'s LinearLR example (0.05, startFactor 0.5, 4 steps)', () => {
    const s = new optim.LinearWarmup(sgd(0.05), { warmupSteps: 4, startFactor: 0.5 });
    expectRates(rates(s, 6), [[0.025], [0.03125], [0.0375], [0.04375], [0.05], [0.05], [0.05]]);
    expectRates(rates(new optim.LinearWarmup(sgd(0.3), { warmupSteps: 2 }), 2), [[0.1], [0.2], [0.3]]);   // startFactor 1/3
  });

  test('OneCycleLR, cosine: rate up to maxLr over 30% of the steps, then down to maxLr/25/1e4; SGD momentum the other way', () => {
    const opt = sgd(0.5, 0.9);
    const s = new optim.OneCycleLR(opt, { maxLr: 1, totalSteps: 10 });
    const momenta = [opt.paramGroups[0].momentum];
    const seq = [s.getLastLr()];
    for (let e = 1; e <= 10; e++) {
      s.step();
      seq.push(s.getLastLr());
      momenta.push(opt.paramGroups[0].momentum);
    }
    // Phase 1 ends at step 0.3·10 − 1 = 2: 0.04 → 1; phase 2 ends at step 9: 1 → 4e-6.
    const down = (e: number): number => 4e-6 + ((1 - 4e-6) / 2) * (Math.cos((Math.PI * (e - 2)) / 7) + 1);
    expectRates(seq, [[0.04], [0.52], [1], ...[3, 4, 5, 6, 7, 8, 9, 10].map((e) => [down(e)])]);
    expect(seq[9][0]).toBeCloseTo(4e-6, 15);
    const up = (e: number): number => 0.95 + ((0.85 - 0.95) / 2) * (Math.cos((Math.PI * (e - 2)) / 7) + 1);
    expectRates(momenta.map((m) => [m]), [[0.95], [0.9], [0.85], ...[3, 4, 5, 6, 7, 8, 9, 10].map((e) => [up(e)])]);
    expect(opt.paramGroups[0].initialLr).toBe(1 / 25);
    expectError(() => s.step(), RangeError, 'OneCycleLR: tried to step 11 times but totalSteps is 10');
    expect(s.lastEpoch).toBe(10);
  });

  test('OneCycleLR, linear three-phase with Adam: β1 cycles, β2 stays; per-group maxLr', () => {
    const opt = new optim.Adam([{ params: [param()] }, { params: [param()] }]);
    const s = new optim.OneCycleLR(opt, {
      maxLr: [0.01, 0.02], totalSteps: 10, pctStart: 0.25, annealStrategy: 'linear', threePhase: true, divFactor: 10, finalDivFactor: 100,
    });
    const beta1 = [opt.paramGroups[0].betas[0]];
    const seq = [s.getLastLr()];
    for (let e = 1; e <= 9; e++) {
      s.step();
      seq.push(s.getLastLr());
      beta1.push(opt.paramGroups[0].betas[0]);
    }
    // Phases end at steps 1.5 (0.001 → 0.01), 3 (→ 0.001) and 9 (→ 1e-5); doubled for the second group.
    const g0 = [0.001, 0.007, 0.007, 0.001, 0.001 - 0.00099 / 6, 0.001 - 0.00099 * 2 / 6, 0.001 - 0.00099 * 3 / 6, 0.001 - 0.00099 * 4 / 6,
      0.001 - 0.00099 * 5 / 6, 1e-5];
    expectRates(seq, g0.map((lr) => [lr, 2 * lr]));
    expectRates(beta1.map((b) => [b]), [0.95, 0.95 - 0.1 * 2 / 3, 0.85 + 0.1 / 3, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95].map((b) => [b]));
    expect(opt.paramGroups.map((g) => g.betas[1])).toEqual([0.999, 0.999]);
  });

  test('SequentialLR: linear warm-up for 3 steps, then cosine annealing counted from the milestone', () => {
    const opt = sgd(0.1);
    const warmup = new optim.LinearWarmup(opt, { warmupSteps: 3, startFactor: 0.1 });
    const cosine = new optim.CosineAnnealingLR(opt, { tMax: 5 });
    const s = new optim.SequentialLR(opt, { schedulers: [warmup, cosine], milestones: [3] });
    const cos = (e: number): number => (0.1 * (1 + Math.cos((Math.PI * e) / 5))) / 2;
    expectRates(rates(s, 8), [[0.01], [0.04], [0.07], [0.1], [cos(1)], [cos(2)], [cos(3)], [cos(4)], [0]]);
    expect([s.lastEpoch, cosine.lastEpoch]).toEqual([8, 5]);
  });
});

describe('schedulers drive the optimiser', () => {
  test('SGD steps with the scheduled rates (StepLR, per epoch)', () => {
    const p = param();
    const opt = new optim.SGD([p], { lr: 0.1 });
    const s = new optim.StepLR(opt, { stepSize: 2, gamma: 0.5 });
    for (let epoch = 0; epoch < 5; epoch++) {
      p.grad = ns.ones([2], { dtype: 'float64' });
      opt.step();
      s.step();
    }
    expect(Array.from(p.dataSync())).toEqual([-0.325, -0.325]);   // 0.1 + 0.1 + 0.05 + 0.05 + 0.025
  });

  test('a second scheduler\'s base rates are the groups\' initialLr (PyTorch\'s initial_lr), not the rates the first set', () => {
    const opt = sgd(0.1);
    new optim.LinearWarmup(opt, { warmupSteps: 4, startFactor: 0.5 });
    expect(opt.paramGroups[0].lr).toBe(0.05);
    const s = new optim.StepLR(opt, { stepSize: 1, gamma: 0.5 });
    expectRates(rates(s, 2), [[0.1], [0.05], [0.025]]);
  });

  test('rates written by hand are overwritten at the next step (closed forms)', () => {
    const opt = sgd(1);
    const s = new optim.StepLR(opt, { stepSize: 1, gamma: 0.5 });
    opt.paramGroups[0].lr = 123;
    s.step();
    expect(opt.paramGroups[0].lr).toBe(0.5);
  });
});

describe('stateDict and loadStateDict', () => {
  test('OneCycleLR: a new scheduler loaded from a JSON copy of the state continues identically, momentum included', () => {
    const optA = sgd(0.1, 0.9);
    const a = new optim.OneCycleLR(optA, { maxLr: 0.5, totalSteps: 20, annealStrategy: 'linear' });
    for (let i = 0; i < 7; i++) a.step();
    const state = JSON.parse(JSON.stringify(a.stateDict()));
    expect(state).toEqual({
      lastEpoch: 7, baseLrs: [0.02], lastLr: a.getLastLr(),
      settings: {
        maxLr: [0.5], totalSteps: 20, pctStart: 0.3, annealStrategy: 'linear', divFactor: 25, finalDivFactor: 1e4, threePhase: false,
        cycleMomentum: true, baseMomentum: [0.85], maxMomentum: [0.95],
      },
    });
    const optB = sgd(0.1, 0.9);
    const b = new optim.OneCycleLR(optB, { maxLr: 3, totalSteps: 100 });
    b.loadStateDict(state);
    expect([b.lastEpoch, b.getLastLr()]).toEqual([7, a.getLastLr()]);
    for (let i = 0; i < 13; i++) {
      a.step();
      b.step();
      expect(b.getLastLr()).toEqual(a.getLastLr());
      expect(optB.paramGroups[0].momentum).toBe(optA.paramGroups[0].momentum);
    }
  });

  test('SequentialLR: its state holds its schedulers\'; loading restores them all', () => {
    const build = (): ns.optim.SequentialLR => {
      const opt = sgd(0.1);
      return new optim.SequentialLR(opt, {
        schedulers: [new optim.LinearWarmup(opt, { warmupSteps: 2 }), new optim.MultiStepLR(opt, { milestones: [3, 5] })], milestones: [2],
      });
    };
    const a = build();
    for (let i = 0; i < 4; i++) a.step();
    const state = a.stateDict();
    expect(state.schedulers.map((s) => s.lastEpoch)).toEqual([1, 2]);
    const b = build();
    b.loadStateDict(JSON.parse(JSON.stringify(state)));
    expect(b.stateDict()).toEqual(state);
    for (let i = 0; i < 5; i++) {
      a.step();
      b.step();
      expect(b.getLastLr()).toEqual(a.getLastLr());
    }
    expectRates([a.getLastLr()], [[0.001]]);
  });

  const opt = sgd(0.1);
  const step = new optim.StepLR(opt, { stepSize: 3 });
  const good = step.stateDict();
  describeErrors('loadStateDict errors', [
    ['not an object', () => step.loadStateDict(null as never), TypeError,
      'StepLR.loadStateDict: expected a state dict { lastEpoch, baseLrs, lastLr, settings } but got null'],
    ['an unknown key', () => step.loadStateDict({ ...good, epoch: 3 } as never), TypeError,
      "StepLR.loadStateDict: unknown option 'epoch' (expected lastEpoch, baseLrs, lastLr or settings)"],
    ['a negative lastEpoch', () => step.loadStateDict({ ...good, lastEpoch: -1 }), RangeError,
      'StepLR.loadStateDict: expected lastEpoch to be an integer ≥ 0 but got -1'],
    ['rates of another number of groups', () => step.loadStateDict({ ...good, baseLrs: [0.1, 0.1] }), RangeError,
      'StepLR.loadStateDict: expected baseLrs to have length 1 (one per parameter group) but got 2'],
    ['rates not an array', () => step.loadStateDict({ ...good, lastLr: 0.1 as never }), TypeError,
      'StepLR.loadStateDict: expected lastLr to be an array of numbers but got number'],
    ['invalid settings', () => step.loadStateDict({ ...good, settings: { stepSize: 0, gamma: 0.1 } }), RangeError,
      'StepLR.loadStateDict: expected stepSize to be an integer ≥ 1 but got 0'],
  ]);
});

/** An optimiser without momentum (for OneCycleLR's error): plain gradient descent written with tensor ops. */
class PlainDescent extends optim.Optimizer<ns.optim.Hyperparameters, Record<string, never>> {
  constructor(params: ns.Tensor[]) {
    super('PlainDescent', params, { lr: 0.1 }, { hyperparameters: ['lr'], state: {} });
  }

  protected override resolve(v: Partial<ns.optim.Hyperparameters>): ns.optim.Hyperparameters {
    return { lr: v.lr ?? 0 };
  }

  protected override update(p: ns.Tensor, grad: ns.Tensor, h: ns.optim.Hyperparameters): Record<string, never> {
    ns.tidy(() => {
      assign(p, ns.noGrad(() => ns.sub(p, ns.mul(grad, h.lr))));
    });
    return {};
  }
}

describe('argument errors', () => {
  const opt = sgd(0.1);
  const other = sgd(0.1);
  describeErrors('constructors', [
    ['not an optimiser', () => new optim.StepLR({} as never, { stepSize: 1 }), TypeError, 'StepLR: expected an Optimizer but got object'],
    ['no options', () => new optim.StepLR(opt, undefined as never), TypeError, 'StepLR: expected options { stepSize, gamma } but got undefined'],
    ['a misspelt option', () => new optim.StepLR(opt, { step_size: 30 } as never), TypeError,
      "StepLR: unknown option 'step_size' (expected stepSize or gamma)"],
    ['stepSize 0', () => new optim.StepLR(opt, { stepSize: 0 }), RangeError, 'StepLR: expected stepSize to be an integer ≥ 1 but got 0'],
    ['negative gamma', () => new optim.StepLR(opt, { stepSize: 1, gamma: -0.1 }), RangeError,
      'StepLR: expected gamma to be a number in [0, Infinity] but got -0.1'],
    ['milestones not an array', () => new optim.MultiStepLR(opt, { milestones: 30 as never }), TypeError,
      'MultiStepLR: expected milestones to be an array of integers but got number'],
    ['a negative milestone', () => new optim.MultiStepLR(opt, { milestones: [3, -1] }), RangeError,
      'MultiStepLR: expected milestones[1] to be an integer ≥ 0 but got -1'],
    ['fractional tMax', () => new optim.CosineAnnealingLR(opt, { tMax: 0.5 }), RangeError,
      'CosineAnnealingLR: expected tMax to be an integer ≥ 1 but got 0.5'],
    ['startFactor 0', () => new optim.LinearWarmup(opt, { warmupSteps: 3, startFactor: 0 }), RangeError,
      'LinearWarmup: expected startFactor to be a number in (0, 1] but got 0'],
    ['startFactor above 1', () => new optim.LinearWarmup(opt, { warmupSteps: 3, startFactor: 2 }), RangeError,
      'LinearWarmup: expected startFactor to be a number in (0, 1] but got 2'],
    ['an unknown anneal strategy', () => new optim.OneCycleLR(opt, { maxLr: 1, totalSteps: 10, annealStrategy: 'exp' as never }), TypeError,
      "OneCycleLR: expected annealStrategy 'cos' or 'linear' but got 'exp'"],
    ['maxLr for another number of groups', () => new optim.OneCycleLR(opt, { maxLr: [1, 2], totalSteps: 10 }), RangeError,
      'OneCycleLR: expected maxLr to have length 1 (one per parameter group) but got 2'],
    ['pctStart above 1', () => new optim.OneCycleLR(opt, { maxLr: 1, totalSteps: 10, pctStart: 1.5 }), RangeError,
      'OneCycleLR: expected pctStart to be a number in [0, 1] but got 1.5'],
    ['a first phase of zero length', () => new optim.OneCycleLR(opt, { maxLr: 1, totalSteps: 10, pctStart: 0.1 }), RangeError,
      'OneCycleLR: step 0 falls in a phase of zero length (pctStart 0.1, totalSteps 10)'],
    ['cycling momentum without momentum', () => new optim.OneCycleLR(new PlainDescent([param()]), { maxLr: 1, totalSteps: 10 }), TypeError,
      'OneCycleLR: expected paramGroups[0] to have a momentum or betas with cycleMomentum (pass cycleMomentum: false)'],
    ['SequentialLR with too many milestones', () => new optim.SequentialLR(opt, {
      schedulers: [new optim.StepLR(opt, { stepSize: 1 }), new optim.StepLR(opt, { stepSize: 1 })], milestones: [2, 4],
    }), RangeError, 'SequentialLR: expected 1 milestones (one fewer than the schedulers) but got 2'],
    ['SequentialLR over another optimiser', () => new optim.SequentialLR(opt, {
      schedulers: [new optim.StepLR(opt, { stepSize: 1 }), new optim.StepLR(other, { stepSize: 1 })], milestones: [2],
    }), TypeError, 'SequentialLR: expected schedulers[1] to be built on the optimizer given'],
    ['SequentialLR with decreasing milestones', () => new optim.SequentialLR(opt, {
      schedulers: [1, 2, 3].map(() => new optim.StepLR(opt, { stepSize: 1 })), milestones: [4, 2],
    }), RangeError, 'SequentialLR: expected increasing milestones but got [4, 2]'],
    ['SequentialLR of no schedulers', () => new optim.SequentialLR(opt, { schedulers: [], milestones: [] }), TypeError,
      'SequentialLR: expected schedulers to be a non-empty array of schedulers but got an empty array'],
  ]);

  test('OneCycleLR without momentum cycling drives a plain optimiser; a group added later is an error at the next step', () => {
    const p = param();
    const plain = new PlainDescent([p]);
    const s = new optim.OneCycleLR(plain, { maxLr: 1, totalSteps: 4, cycleMomentum: false });
    // 1 + (0.04 − 1)/2·(cos 0 + 1): PyTorch's cosine form, exact to rounding.
    expect(plain.paramGroups[0].lr).toBeCloseTo(0.04, 15);
    p.grad = ns.ones([2], { dtype: 'float64' });
    plain.step();
    expect(Array.from(p.dataSync())).toEqual([-plain.paramGroups[0].lr, -plain.paramGroups[0].lr]);
    plain.addParamGroup({ params: [param()] });
    expectError(() => s.step(), RangeError, 'OneCycleLR: the optimizer has 2 parameter groups but the scheduler was built for 1');
  });
});

/**
 * Optimisers (ns.optim) against PyTorch's documented update equations, written as plain float64 loops: SGD
 * (momentum, dampening, Nesterov, weight decay), Adam, AdamW and RMSprop (centered, momentum), with parameter groups
 * of different hyperparameters and hyperparameters changed between steps; state dicts (a new optimiser loaded from
 * one continues bit-identically); clipGradNorm against hand-computed norms; argument errors and their messages.
 */
import * as ns from '../lib';
import { describeErrors, expectError, rand } from './helpers';

const { optim } = ns;

const STEPS = 4;
const SHAPES = [[6], [2, 3]];
const P0 = SHAPES.map((s, i) => rand(s, 301 + i).data);
/** GRADS[t][i]: the gradient of parameter i at step t. */
const GRADS = Array.from({ length: STEPS + 2 }, (_, t) => SHAPES.map((s, i) => rand(s, 311 + 10 * t + i).data));

type Dtype = 'float32' | 'float64';
type Make = (params: ns.Tensor[]) => ns.optim.Optimizer;

function makeParams(dtype: Dtype, values: Float64Array[] = P0): ns.Tensor[] {
  return values.map((d, i) => ns.tensor(d, SHAPES[i], { dtype, requiresGrad: true }));
}

/** Sets every parameter's gradient to GRADS[t] and steps. */
function stepWith(opt: ns.optim.Optimizer, params: ns.Tensor[], t: number, dtype: Dtype): void {
  opt.zeroGrad();
  params.forEach((p, i) => { p.grad = ns.tensor(GRADS[t][i], SHAPES[i], { dtype }); });
  opt.step();
}

/** Runs STEPS steps; `before(opt, t)` runs before step t. Returns every parameter after every step. */
function run(make: Make, dtype: Dtype = 'float64', before?: (opt: ns.optim.Optimizer, t: number) => void): Float64Array[][] {
  const params = makeParams(dtype);
  const opt = make(params);
  return Array.from({ length: STEPS }, (_, t) => {
    before?.(opt, t);
    stepWith(opt, params, t, dtype);
    return params.map((p) => Float64Array.from(p.dataSync()));
  });
}

/** A float64 reference: `update(i, t, p, g)` updates parameter i in place at step t. */
function reference(update: (i: number, t: number, p: Float64Array, g: Float64Array) => void): Float64Array[][] {
  const params = P0.map((d) => Float64Array.from(d));
  return Array.from({ length: STEPS }, (_, t) => params.map((p, i) => {
    update(i, t, p, GRADS[t][i]);
    return Float64Array.from(p);
  }));
}

function expectAllClose(actual: Float64Array[][], expected: Float64Array[][], rtol: number, atol: number): void {
  const bad: string[] = [];
  expected.forEach((step, t) => step.forEach((e, i) => e.forEach((y, k) => {
    const x = actual[t][i][k];
    if (!(Math.abs(x - y) <= atol + rtol * Math.abs(y)) && bad.length < 5) bad.push(`step ${t} param ${i} [${k}]: got ${x}, expected ${y}`);
  })));
  expect(bad).toEqual([]);
}

interface SgdH { lr: number; momentum: number; dampening: number; weightDecay: number; nesterov: boolean }

/** PyTorch's SGD: g += wd·p; buf = g (first) or μ·buf + (1 − dampening)·g; g = nesterov ? g + μ·buf : buf; p −= lr·g. */
function sgdRef(h: (i: number, t: number) => SgdH): Float64Array[][] {
  const bufs = P0.map((d) => new Float64Array(d.length));
  return reference((i, t, p, grad) => {
    const { lr, momentum: mu, dampening, weightDecay: wd, nesterov } = h(i, t);
    for (let k = 0; k < p.length; k++) {
      let g = grad[k] + wd * p[k];
      if (mu !== 0) {
        bufs[i][k] = t === 0 ? g : mu * bufs[i][k] + (1 - dampening) * g;
        g = nesterov ? g + mu * bufs[i][k] : bufs[i][k];
      }
      p[k] -= lr * g;
    }
  });
}

interface AdamH { lr: number; betas: [number, number]; eps: number; weightDecay: number }

/** PyTorch's Adam (L2: g += wd·p) or AdamW (decoupled: p −= lr·wd·p), with bias-corrected moments. */
function adamRef(decoupled: boolean, h: (i: number) => AdamH): Float64Array[][] {
  const m = P0.map((d) => new Float64Array(d.length)), v = P0.map((d) => new Float64Array(d.length));
  return reference((i, t, p, grad) => {
    const { lr, betas: [b1, b2], eps, weightDecay: wd } = h(i), step = t + 1;
    for (let k = 0; k < p.length; k++) {
      let g = grad[k];
      if (decoupled) p[k] -= lr * wd * p[k];
      else g += wd * p[k];
      m[i][k] = b1 * m[i][k] + (1 - b1) * g;
      v[i][k] = b2 * v[i][k] + (1 - b2) * g * g;
      const mHat = m[i][k] / (1 - b1 ** step), vHat = v[i][k] / (1 - b2 ** step);
      p[k] -= (lr * mHat) / (Math.sqrt(vHat) + eps);
    }
  });
}

interface RmsH { lr: number; alpha: number; eps: number; weightDecay: number; momentum: number; centered: boolean }

/** PyTorch's RMSprop: g += wd·p; v = α·v + (1 − α)·g²; centered: ḡ = α·ḡ + (1 − α)·g, v − ḡ²; momentum on g/(√· + eps). */
function rmspropRef(h: (i: number) => RmsH): Float64Array[][] {
  const sq = P0.map((d) => new Float64Array(d.length)), avg = P0.map((d) => new Float64Array(d.length));
  const buf = P0.map((d) => new Float64Array(d.length));
  return reference((i, _t, p, grad) => {
    const { lr, alpha, eps, weightDecay: wd, momentum, centered } = h(i);
    for (let k = 0; k < p.length; k++) {
      const g = grad[k] + wd * p[k];
      sq[i][k] = alpha * sq[i][k] + (1 - alpha) * g * g;
      let vt = sq[i][k];
      if (centered) {
        avg[i][k] = alpha * avg[i][k] + (1 - alpha) * g;
        vt -= avg[i][k] * avg[i][k];
      }
      const d = Math.sqrt(vt) + eps;
      if (momentum > 0) {
        buf[i][k] = momentum * buf[i][k] + g / d;
        p[k] -= lr * buf[i][k];
      } else {
        p[k] -= (lr * g) / d;
      }
    }
  });
}

const F64 = { rtol: 1e-12, atol: 1e-13 };
const F32 = { rtol: 2e-5, atol: 2e-6 };

describe('optimisers against the float64 update equations', () => {
  const sgd = (o: Partial<SgdH>): SgdH => ({ lr: 0, momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, ...o });

  test('SGD: groups with their own lr and weight decay, momentum with dampening', () => {
    const h = [sgd({ lr: 0.1, momentum: 0.9, dampening: 0.1, weightDecay: 0.01 }), sgd({ lr: 0.05, momentum: 0.9, dampening: 0.1 })];
    const make: Make = ([a, b]) => new optim.SGD([{ params: [a], lr: 0.1, weightDecay: 0.01 }, { params: [b] }],
      { lr: 0.05, momentum: 0.9, dampening: 0.1 });
    expectAllClose(run(make), sgdRef((i) => h[i]), F64.rtol, F64.atol);
    expectAllClose(run(make, 'float32'), sgdRef((i) => h[i]), F32.rtol, F32.atol);
  });

  test('SGD: Nesterov with weight decay, a group with its own momentum', () => {
    const h = [sgd({ lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 1e-3 }), sgd({ lr: 0.2, momentum: 0.5, nesterov: true, weightDecay: 1e-3 })];
    const make: Make = ([a, b]) => new optim.SGD([{ params: [a] }, { params: [b], lr: 0.2, momentum: 0.5 }],
      { lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 1e-3 });
    expectAllClose(run(make), sgdRef((i) => h[i]), F64.rtol, F64.atol);
  });

  test('SGD: hyperparameters changed between steps (lr per step, momentum switched on) take effect', () => {
    const lrs = [0.1, 0.1, 0.01, 0.001];
    const make: Make = (ps) => new optim.SGD(ps, { lr: 0.1 });
    const before = (opt: ns.optim.Optimizer, t: number): void => {
      opt.paramGroups[0].lr = lrs[t];
      if (t === 1) (opt as ns.optim.SGD).paramGroups[0].momentum = 0.9;
    };
    // Momentum starts at step 1: its buffer starts as that step's gradient (PyTorch's first momentum step).
    const bufs = P0.map((d) => new Float64Array(d.length));
    const expected = reference((i, t, p, grad) => {
      for (let k = 0; k < p.length; k++) {
        let g = grad[k];
        if (t >= 1) g = bufs[i][k] = t === 1 ? g : 0.9 * bufs[i][k] + g;
        p[k] -= lrs[t] * g;
      }
    });
    expectAllClose(run(make, 'float64', before), expected, F64.rtol, F64.atol);
  });

  test('Adam: groups with their own lr, betas and L2 weight decay', () => {
    const h: AdamH[] = [{ lr: 0.01, betas: [0.8, 0.99], eps: 1e-6, weightDecay: 0 }, { lr: 0.05, betas: [0.9, 0.999], eps: 1e-6, weightDecay: 0.1 }];
    const make: Make = ([a, b]) => new optim.Adam([{ params: [a], lr: 0.01, betas: [0.8, 0.99] }, { params: [b], weightDecay: 0.1 }],
      { lr: 0.05, eps: 1e-6 });
    expectAllClose(run(make), adamRef(false, (i) => h[i]), 1e-10, 1e-12);
    expectAllClose(run(make, 'float32'), adamRef(false, (i) => h[i]), F32.rtol, F32.atol);
  });

  test('AdamW: decoupled weight decay (default 0.01), groups with their own lr and decay', () => {
    const h: AdamH[] = [{ lr: 0.05, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.1 }, { lr: 0.02, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.01 }];
    const make: Make = ([a, b]) => new optim.AdamW([{ params: [a], weightDecay: 0.1 }, { params: [b], lr: 0.02 }], { lr: 0.05 });
    expectAllClose(run(make), adamRef(true, (i) => h[i]), 1e-10, 1e-12);
    expect(new optim.AdamW(makeParams('float32')).paramGroups[0]).toMatchObject({ lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.01 });
    expect(new optim.AdamW(makeParams('float32'))).toBeInstanceOf(optim.Adam);
  });

  const rms = (o: Partial<RmsH>): RmsH => ({ lr: 0.01, alpha: 0.99, eps: 1e-8, weightDecay: 0, momentum: 0, centered: false, ...o });
  test.each<[string, Make, RmsH[]]>([
    ['defaults', (ps) => new optim.RMSprop(ps), [rms({}), rms({})]],
    ['weight decay and momentum', (ps) => new optim.RMSprop(ps, { lr: 0.005, alpha: 0.9, weightDecay: 0.05, momentum: 0.9 }),
      [rms({ lr: 0.005, alpha: 0.9, weightDecay: 0.05, momentum: 0.9 }), rms({ lr: 0.005, alpha: 0.9, weightDecay: 0.05, momentum: 0.9 })]],
    ['groups: centered, and momentum with its own lr', ([a, b]) => new optim.RMSprop(
      [{ params: [a], centered: true }, { params: [b], momentum: 0.8, lr: 0.001 }], { alpha: 0.9, eps: 1e-6, weightDecay: 0.01 }),
    [rms({ alpha: 0.9, eps: 1e-6, weightDecay: 0.01, centered: true }), rms({ alpha: 0.9, eps: 1e-6, weightDecay: 0.01, momentum: 0.8, lr: 0.001 })]],
    ['centered with momentum', (ps) => new optim.RMSprop(ps, { lr: 0.002, centered: true, momentum: 0.5 }),
      [rms({ lr: 0.002, centered: true, momentum: 0.5 }), rms({ lr: 0.002, centered: true, momentum: 0.5 })]],
  ])('RMSprop: %s', (_name, make, h) => {
    expectAllClose(run(make), rmspropRef((i) => h[i]), 1e-10, 1e-12);
    expectAllClose(run(make, 'float32'), rmspropRef((i) => h[i]), 1e-4, 1e-6);
  });

  test('parameters without a gradient are skipped and get no state', () => {
    const [a, b] = makeParams('float64');
    const opt = new optim.RMSprop([a, b], { momentum: 0.9 });
    a.grad = ns.tensor(GRADS[0][0], SHAPES[0], { dtype: 'float64' });
    opt.step();
    expect(Array.from(b.dataSync())).toEqual(Array.from(P0[1]));
    expect(Object.keys(opt.stateDict().state)).toEqual(['0']);
    expect(opt.params).toEqual([a, b]);
  });

  test('addParamGroup: a new group with its own lr and the defaults elsewhere', () => {
    const [a, b] = makeParams('float64');
    const opt = new optim.SGD([a], { lr: 0.1, momentum: 0.9 });
    opt.addParamGroup({ params: [b], lr: 0.01 });
    expect(opt.paramGroups.map((g) => [g.lr, g.momentum, g.params.length])).toEqual([[0.1, 0.9, 1], [0.01, 0.9, 1]]);
    b.grad = ns.ones([2, 3], { dtype: 'float64' });
    opt.step();
    expect(Array.from(b.dataSync())).toEqual(Array.from(P0[1], (x) => x - 0.01));
  });
});

describe('stateDict and loadStateDict', () => {
  /** [name, the optimiser, one built with other hyperparameters to load the state into]. */
  const cases: [string, Make, Make][] = [
    ['SGD', ([a, b]) => new optim.SGD([{ params: [a], nesterov: true }, { params: [b], lr: 0.05 }], { lr: 0.1, momentum: 0.9, weightDecay: 1e-3 }),
      ([a, b]) => new optim.SGD([{ params: [a] }, { params: [b] }], { lr: 1 })],
    ['Adam', ([a, b]) => new optim.Adam([{ params: [a], betas: [0.8, 0.95] }, { params: [b], lr: 0.01, weightDecay: 0.1 }]),
      ([a, b]) => new optim.Adam([{ params: [a] }, { params: [b] }], { lr: 1 })],
    ['AdamW', ([a, b]) => new optim.AdamW([{ params: [a] }, { params: [b], weightDecay: 0.1 }], { lr: 0.02 }),
      ([a, b]) => new optim.AdamW([{ params: [a] }, { params: [b] }])],
    ['RMSprop', ([a, b]) => new optim.RMSprop([{ params: [a], centered: true, momentum: 0.9 }, { params: [b], momentum: 0.5 }], { weightDecay: 0.01 }),
      ([a, b]) => new optim.RMSprop([{ params: [a] }, { params: [b] }], { lr: 1 })],
  ];

  test.each(cases)('%s: a new optimiser loaded from the state dict continues bit-identically', (_name, make, makeOther) => {
    const a = makeParams('float32');
    const optA = make(a);
    stepWith(optA, a, 0, 'float32');
    stepWith(optA, a, 1, 'float32');
    const dict = optA.stateDict();
    const b = makeParams('float32', a.map((p) => Float64Array.from(p.dataSync())));
    const optB = makeOther(b);
    // Hyperparameters travel as JSON; state tensors as they are.
    optB.loadStateDict({ state: dict.state, paramGroups: JSON.parse(JSON.stringify(dict.paramGroups)) });
    expect(optB.paramGroups.map(({ params, ...h }) => [h, params.length])).toEqual(optA.paramGroups.map(({ params, ...h }) => [h, params.length]));
    const stateB = optB.stateDict().state as Record<number, Record<string, unknown>>;
    for (const [i, entry] of Object.entries(dict.state as Record<number, Record<string, unknown>>)) {
      for (const [key, v] of Object.entries(entry)) {
        if (v instanceof ns.Tensor) {
          expect(stateB[+i][key]).not.toBe(v);   // a copy, not the same tensor
          expect((stateB[+i][key] as ns.Tensor).dataSync()).toEqual(v.dataSync());
        } else {
          expect(stateB[+i][key]).toBe(v);
        }
      }
    }
    for (let t = 2; t < STEPS + 2; t++) {
      stepWith(optA, a, t, 'float32');
      stepWith(optB, b, t, 'float32');
      a.forEach((p, i) => expect(b[i].dataSync()).toEqual(p.dataSync()));
    }
  });

  test('the dict: state per parameter index (numbers and tensors), groups with hyperparameters and indices', () => {
    const [a, b] = makeParams('float64');
    const c = ns.zeros([3], { requiresGrad: true, dtype: 'float64' });
    const opt = new optim.Adam([{ params: [a, c], lr: 0.01 }, { params: [b] }], { weightDecay: 0.5 });
    a.grad = ns.ones([6], { dtype: 'float64' });
    b.grad = ns.ones([2, 3], { dtype: 'float64' });
    opt.step();
    opt.step();
    const dict = opt.stateDict();
    expect(dict.paramGroups).toEqual([
      { lr: 0.01, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.5, params: [0, 1] },
      { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.5, params: [2] },
    ]);
    expect(Object.keys(dict.state)).toEqual(['0', '2']);   // c never had a gradient
    expect(dict.state[0]).toEqual({ step: 2, expAvg: expect.any(ns.Tensor), expAvgSq: expect.any(ns.Tensor) });
    expect(dict.state[2].expAvg.shape).toEqual([2, 3]);
    // The groups are a snapshot: changing the dict does not change the optimiser.
    dict.paramGroups[0].betas[0] = 0.5;
    expect(opt.paramGroups[0].betas[0]).toBe(0.9);
    // SGD's momentum buffer after one step is the first gradient (with weight decay 0).
    const sgd = new optim.SGD([a], { lr: 0.1, momentum: 0.9 });
    a.grad = ns.tensor(GRADS[0][0], [6], { dtype: 'float64' });
    sgd.step();
    expect(Array.from(sgd.stateDict().state[0].momentumBuffer!.dataSync())).toEqual(Array.from(GRADS[0][0]));
  });

  test('state is cast to the parameters\' dtype; a failed load changes nothing and leaks nothing', () => {
    const a = makeParams('float32');
    const opt = new optim.SGD(a, { lr: 0.1, momentum: 0.9 });
    stepWith(opt, a, 0, 'float32');
    const dict = opt.stateDict();
    const d = makeParams('float64');
    const opt64 = new optim.SGD(d, { lr: 0.5 });
    opt64.loadStateDict(dict);
    expect(opt64.stateDict().state[1].momentumBuffer!.dtype).toBe('float64');
    expect(opt64.paramGroups[0].momentum).toBe(0.9);

    const before = ns.memory().numTensors;
    const bad = { ...dict, state: { ...dict.state, 1: { momentumBuffer: ns.zeros([3, 2]) } } };
    expectError(() => opt.loadStateDict(bad), RangeError,
      'SGD.loadStateDict: expected state[1].momentumBuffer of shape [2, 3] (as its parameter) but got [3, 2]');
    bad.state[1].momentumBuffer!.dispose();
    expect(ns.memory().numTensors).toBe(before);
    expect(opt.stateDict().state[0].momentumBuffer!.isDisposed).toBe(false);
    stepWith(opt, a, 1, 'float32');
  });

  const a = makeParams('float64');
  const sgd = new optim.SGD([{ params: [a[0]] }, { params: [a[1]] }], { lr: 0.1, momentum: 0.9 });
  stepWith(sgd, a, 0, 'float64');
  const good = sgd.stateDict();
  const adam = new optim.Adam([a[0]]);
  stepWith(adam, a, 0, 'float64');
  describeErrors('loadStateDict errors', [
    ['not an object', () => sgd.loadStateDict(3 as never), TypeError, 'SGD.loadStateDict: expected a state dict { state, paramGroups } but got number'],
    ['an unknown key', () => sgd.loadStateDict({ ...good, extra: 1 } as never), TypeError,
      "SGD.loadStateDict: unknown option 'extra' (expected state or paramGroups)"],
    ['fewer groups', () => sgd.loadStateDict({ ...good, paramGroups: good.paramGroups.slice(1) }), RangeError,
      'SGD.loadStateDict: expected 2 parameter groups (as the optimizer has) but got 1'],
    ['a group of another size', () => sgd.loadStateDict({ ...good, paramGroups: [good.paramGroups[0], { ...good.paramGroups[1], params: [1, 2] }] }),
      RangeError, "SGD.loadStateDict: expected paramGroups[1].params to have length 1 (as the optimizer's group) but got 2"],
    ['a repeated index', () => sgd.loadStateDict({ ...good, paramGroups: [good.paramGroups[0], { ...good.paramGroups[1], params: [0] }] }),
      RangeError, 'SGD.loadStateDict: expected distinct parameter indices but paramGroups[1].params[0] repeats 0'],
    ['an invalid hyperparameter', () => sgd.loadStateDict({ ...good, paramGroups: [{ ...good.paramGroups[0], lr: -1 }, good.paramGroups[1]] }),
      RangeError, 'SGD.loadStateDict: expected paramGroups[0].lr to be a number in [0, Infinity] but got -1'],
    ['an unknown hyperparameter', () => sgd.loadStateDict({ ...good, paramGroups: [{ ...good.paramGroups[0], betas: [0.9, 0.9] } as never, good.paramGroups[1]] }),
      TypeError, "SGD.loadStateDict: unknown option 'betas' (expected params, initialLr, lr, momentum, dampening, weightDecay or nesterov)"],
    ['state of no parameter', () => sgd.loadStateDict({ ...good, state: { ...good.state, 5: {} } }), RangeError,
      "SGD.loadStateDict: state has an entry '5' but paramGroups list no parameter 5"],
    ['an unknown state key', () => sgd.loadStateDict({ ...good, state: { 0: { expAvg: ns.zeros([6]) } as never } }), TypeError,
      "SGD.loadStateDict: unknown key 'expAvg' in state[0] (expected momentumBuffer)"],
    ['a state tensor that is not a tensor', () => sgd.loadStateDict({ ...good, state: { 0: { momentumBuffer: [1, 2] as never } } }), TypeError,
      'SGD.loadStateDict: expected state[0].momentumBuffer to be a Tensor but got an array'],
    ['a missing state tensor', () => adam.loadStateDict({ ...adam.stateDict(), state: { 0: { step: 1, expAvg: ns.zeros([6]) } as never } }), TypeError,
      'Adam.loadStateDict: expected state[0].expAvgSq but it is missing'],
    ['a negative step count', () => adam.loadStateDict({ ...adam.stateDict(), state: { 0: { ...adam.stateDict().state[0], step: -1 } } }), RangeError,
      'Adam.loadStateDict: expected state[0].step to be an integer ≥ 0 but got -1'],
  ]);
});

describe('clipGradNorm', () => {
  const withGrads = (grads: number[][], dtype: Dtype = 'float64'): ns.Tensor[] => grads.map((g) => {
    const p = ns.zeros([g.length], { dtype, requiresGrad: true });
    p.grad = ns.tensor(g, [g.length], { dtype });
    return p;
  });

  test('2-norm: returns the total norm and scales every gradient by maxNorm / (total + 1e-6)', () => {
    const ps = withGrads([[3, 4], [12]]);
    expect(optim.clipGradNorm(ps, 6.5)).toBeCloseTo(13, 12);   // √(9 + 16 + 144)
    const c = 6.5 / (13 + 1e-6);
    expect(Array.from(ps[0].grad!.dataSync())).toEqual([3 * c, 4 * c]);
    expect(Array.from(ps[1].grad!.dataSync())).toEqual([12 * c]);
  });

  test('1-, 3- and ∞-norms; parameters without a gradient are skipped', () => {
    const none = ns.zeros([2], { requiresGrad: true });
    expect(optim.clipGradNorm([...withGrads([[3, -4], [12]]), none], 100, 1)).toBeCloseTo(19, 12);
    expect(optim.clipGradNorm(withGrads([[3, -4], [12]]), 100, 3)).toBeCloseTo(Math.cbrt(27 + 64 + 1728), 12);
    const ps = withGrads([[3, -4], [-12]]);
    expect(optim.clipGradNorm(ps, 6, Infinity)).toBe(12);
    const c = 6 / (12 + 1e-6);
    expect(Array.from(ps[1].grad!.dataSync())).toEqual([-12 * c]);
    expect(optim.clipGradNorm([none], 1)).toBe(0);
  });

  test('below maxNorm the gradients are untouched; float32 gradients are summed in float64; a single tensor', () => {
    const ps = withGrads([[0.1, 0.2], [0.3]], 'float32');
    const exact = Math.hypot(Math.fround(0.1), Math.fround(0.2), Math.fround(0.3));
    expect(Math.abs(optim.clipGradNorm(ps, 1) - exact)).toBeLessThan(1e-15);
    expect(Array.from(ps[0].grad!.dataSync())).toEqual([Math.fround(0.1), Math.fround(0.2)]);
    const [p] = withGrads([[6, 8]]);
    expect(optim.clipGradNorm(p, 5)).toBeCloseTo(10, 12);
    expect(Array.from(p.grad!.dataSync())).toEqual([6 * (5 / (10 + 1e-6)), 8 * (5 / (10 + 1e-6))]);
  });

  describeErrors('clipGradNorm errors', [
    ['params not iterable', () => optim.clipGradNorm(3 as never, 1), TypeError,
      'clipGradNorm: expected params to be a tensor or an iterable of tensors but got number'],
    ['a parameter that is not a tensor', () => optim.clipGradNorm([ns.zeros([1]), 'x' as never], 1), TypeError,
      'clipGradNorm: expected params[1] to be a Tensor but got string'],
    ['a negative maxNorm', () => optim.clipGradNorm([], -1), RangeError, 'clipGradNorm: expected maxNorm to be a number in [0, Infinity] but got -1'],
    ['normType 0', () => optim.clipGradNorm([], 1, 0), RangeError, 'clipGradNorm: expected normType to be a number > 0 or Infinity but got 0'],
  ]);
});

describe('argument errors', () => {
  const [a, b] = makeParams('float32');
  describeErrors('constructors', [
    ['a misspelt option', () => new optim.SGD([a], { lr: 0.1, momentun: 0.9 } as never), TypeError,
      "SGD: unknown option 'momentun' (expected lr, momentum, dampening, weightDecay or nesterov)"],
    ['a misspelt group key', () => new optim.SGD([{ params: [a], lrate: 0.1 } as never], { lr: 0.1 }), TypeError,
      "SGD: unknown option 'lrate' (expected params, lr, momentum, dampening, weightDecay or nesterov)"],
    ['groups without an lr anywhere', () => new optim.SGD([{ params: [a] }]), RangeError,
      'SGD: expected lr to be a number in [0, Infinity] but got undefined'],
    ['an invalid group lr', () => new optim.SGD([{ params: [a] }, { params: [b], lr: -1 }], { lr: 0.1 }), RangeError,
      'SGD: expected paramGroups[1].lr to be a number in [0, Infinity] but got -1'],
    ['Nesterov in a group without momentum', () => new optim.SGD([{ params: [a] }, { params: [b], momentum: 0 }], { lr: 0.1, momentum: 0.9, nesterov: true }),
      RangeError, 'SGD: Nesterov momentum expected paramGroups[1].momentum > 0 and dampening 0'],
    ['a parameter in two groups', () => new optim.SGD([{ params: [a, b] }, { params: [b] }], { lr: 0.1 }), RangeError,
      'SGD: expected each parameter once but paramGroups[1].params[0] is listed again'],
    ['a parameter listed twice', () => new optim.Adam([a, a]), RangeError, 'Adam: expected each parameter once but params[1] is listed again'],
    ['a group then a tensor', () => new optim.SGD([{ params: [a] }, b] as never, { lr: 0.1 }), TypeError,
      'SGD: expected paramGroups[1] to be a parameter group { params, … } but got a Tensor'],
    ['a tensor then a group', () => new optim.SGD([a, { params: [b] }] as never, { lr: 0.1 }), TypeError,
      'SGD: expected params[1] to be a Tensor but got object'],
    ['group params not iterable', () => new optim.SGD([{ params: 3 as never }], { lr: 0.1 }), TypeError,
      'SGD: expected paramGroups[0].params to be an iterable of tensors but got number'],
    ['a group parameter that is not a leaf', () => new optim.RMSprop([{ params: [ns.mul(a, 2)] }]), TypeError,
      'RMSprop: expected paramGroups[0].params[0] to be a leaf tensor with requiresGrad'],
    ['Adam group betas not a pair', () => new optim.Adam([{ params: [a], betas: 0.9 as never }]), TypeError,
      'Adam: expected paramGroups[0].betas to be a pair [beta1, beta2] but got number'],
    ['RMSprop misspelt option', () => new optim.RMSprop([a], { beta: 0.9 } as never), TypeError,
      "RMSprop: unknown option 'beta' (expected lr, alpha, eps, weightDecay, momentum or centered)"],
    ['RMSprop alpha above 1', () => new optim.RMSprop([a], { alpha: 1.5 }), RangeError, 'RMSprop: expected alpha to be a number in [0, 1] but got 1.5'],
    ['RMSprop negative momentum', () => new optim.RMSprop([a], { momentum: -0.1 }), RangeError,
      'RMSprop: expected momentum to be a number in [0, Infinity] but got -0.1'],
    ['RMSprop centered not a boolean', () => new optim.RMSprop([a], { centered: 1 as never }), TypeError,
      'RMSprop: expected centered to be a boolean but got the number 1'],
    ['addParamGroup of a tensor', () => new optim.SGD([a], { lr: 0.1 }).addParamGroup(b as never), TypeError,
      'SGD: expected a parameter group { params, … } but got a Tensor'],
    ['addParamGroup of a parameter already there', () => new optim.SGD([a], { lr: 0.1 }).addParamGroup({ params: [a] }), RangeError,
      'SGD: expected each parameter once but paramGroups[1].params[0] is listed again'],
  ]);

  test('hyperparameters set to invalid values are caught at the next step', () => {
    const opt = new optim.SGD([a], { lr: 0.1 });
    a.grad = ns.ones([6]);
    opt.paramGroups[0].lr = NaN;
    expectError(() => opt.step(), RangeError, 'SGD: expected paramGroups[0].lr to be a number in [0, Infinity] but got NaN');
    const rms = new optim.RMSprop([{ params: [a] }]);
    rms.paramGroups[0].alpha = 2;
    expectError(() => rms.step(), RangeError, 'RMSprop: expected paramGroups[0].alpha to be a number in [0, 1] but got 2');
  });
});

const cuda = ns.cuda.isAvailable();
if (!cuda) console.warn(`test/optim-optimizers.test.ts: CUDA cases skipped: no usable CUDA device (${ns.backendInfo().reason})`);
(cuda ? describe : describe.skip)('on CUDA', () => {
  test('state is made on the device, follows module.to(), loads onto the device; clipGradNorm; results follow the CPU', () => {
    const trained = (device: ns.Device): { w: Float32Array; norm: number; states: ns.Device[] } => {
      ns.manualSeed(11);
      const model = new ns.nn.Linear(4, 3);
      const opt = new optim.RMSprop(model.parameters(), { lr: 0.01, momentum: 0.9, centered: true, weightDecay: 0.01 });
      const grads = (t: number): void => model.parameters().forEach((p, i) => {
        p.grad = ns.tensor(rand([...p.shape], 400 + 10 * t + i).data, [...p.shape], { dtype: 'float32', device: p.device });
      });
      grads(0);
      opt.step();   // on the CPU
      model.to(device);   // the state follows at the next step
      let norm = 0;
      for (let t = 1; t < 4; t++) {
        grads(t);
        norm = optim.clipGradNorm(model.parameters(), 0.5);
        opt.step();
      }
      // A fresh optimiser on the device, loaded from the state dict, continues as the original.
      const twin = new optim.RMSprop(model.parameters());
      twin.loadStateDict(opt.stateDict());
      const states = Object.values(twin.stateDict().state).flatMap((s) => Object.values(s).filter((v) => v instanceof ns.Tensor).map((v) => v.device));
      grads(5);
      twin.step();
      return { w: Float32Array.from(model.weight.dataSync()), norm, states };
    };
    const cpu = trained('cpu'), gpu = trained('cuda');
    expect(gpu.states.length).toBe(2 * 3);
    expect(gpu.states.every((d) => d === 'cuda')).toBe(true);
    expect(Math.abs(gpu.norm - cpu.norm)).toBeLessThan(1e-6 * cpu.norm);
    gpu.w.forEach((v, i) => expect(Math.abs(v - cpu.w[i])).toBeLessThan(1e-5));
  });
});

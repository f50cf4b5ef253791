/**
 * nn.init: PyTorch's gains and fans, and the statistics of every initialiser over a large tensor, within
 * tolerances derived from the sample size (6 standard errors).
 */
import * as ns from '../lib';
import { describeErrors } from './helpers';

const { init } = ns.nn;

interface Stats { n: number; mean: number; std: number; min: number; max: number }

/** Sample statistics, reduced in float64 by the library's (separately tested) ops. */
function stats(t: ns.Tensor): Stats {
  return ns.tidy(() => {
    const d = ns.cast(t, 'float64');
    const mean = ns.mean(d).item();
    const squares = ns.sum(ns.square(ns.sub(d, mean))).item();
    return { n: t.size, mean, std: Math.sqrt(squares / (t.size - 1)), min: ns.min(d).item(), max: ns.max(d).item() };
  });
}

/** Mean and std of N(mean, std²) samples within 6 standard errors (σ/√n and σ/√(2n)). */
function expectNormal(t: ns.Tensor, mean: number, std: number): void {
  const s = stats(t);
  expect(Math.abs(s.mean - mean)).toBeLessThan((6 * std) / Math.sqrt(s.n));
  expect(Math.abs(s.std - std)).toBeLessThan((6 * std) / Math.sqrt(2 * s.n));
}

/** U(a, b) samples: inside [a, b], mean and std within 6 standard errors (the std's is (b − a)/2 / √(15n)). */
function expectUniform(t: ns.Tensor, a: number, b: number): void {
  const s = stats(t);
  const half = (b - a) / 2, std = half / Math.sqrt(3);
  expect(s.min).toBeGreaterThanOrEqual(Math.fround(a));
  expect(s.max).toBeLessThanOrEqual(Math.fround(b));
  expect(Math.abs(s.mean - (a + b) / 2)).toBeLessThan((6 * std) / Math.sqrt(s.n));
  expect(Math.abs(s.std - std)).toBeLessThan((6 * half) / Math.sqrt(15 * s.n));
}

/** A conv weight [F, C, 3, 3]: fanIn = 9C, fanOut = 9F; 518,400 samples. */
const weight = (f = 960, c = 60, dtype: ns.DType = 'float32'): ns.Tensor => ns.zeros([f, c, 3, 3], { dtype });

describe('gains and fans', () => {
  test('calculateGain follows PyTorch', () => {
    for (const n of ['linear', 'conv1d', 'conv2d', 'conv3d', 'convTranspose2d', 'sigmoid'] as const) expect(init.calculateGain(n)).toBe(1);
    expect(init.calculateGain('tanh')).toBe(5 / 3);
    expect(init.calculateGain('relu')).toBe(Math.SQRT2);
    expect(init.calculateGain('leakyRelu')).toBe(Math.sqrt(2 / (1 + 0.01 ** 2)));
    expect(init.calculateGain('leakyRelu', 0.2)).toBe(Math.sqrt(2 / 1.04));
    expect(init.calculateGain('leakyRelu', 0)).toBe(Math.SQRT2);
    expect(init.calculateGain('selu')).toBe(0.75);
  });

  test('fans of Linear and Conv2d weights', () => {
    expect(init.fans(ns.zeros([3, 4]))).toEqual({ fanIn: 4, fanOut: 3 });
    expect(init.fans(ns.zeros([8, 3, 5, 5]))).toEqual({ fanIn: 75, fanOut: 200 });
    expect(init.fans(ns.zeros([6, 2, 1, 3, 4]))).toEqual({ fanIn: 24, fanOut: 72 });
    expect(init.fanIn(new ns.nn.Conv2d(4, 6, [3, 2], { groups: 2 }).weight)).toBe(2 * 6);
  });
});

describe('statistics over 518,400 samples', () => {
  beforeEach(() => ns.manualSeed(7));

  test('kaimingNormal: gain / √fan, fanIn by default with leakyRelu(a = 0), i.e. √(2 / fanIn)', () => {
    expectNormal(init.kaimingNormal(weight()), 0, Math.sqrt(2 / 540));
    expectNormal(init.kaimingNormal(weight(), { mode: 'fanOut', nonlinearity: 'relu' }), 0, Math.SQRT2 / Math.sqrt(9 * 960));
    expectNormal(init.kaimingNormal(weight(), { a: 0.2 }), 0, Math.sqrt(2 / 1.04) / Math.sqrt(540));
    expectNormal(init.kaimingNormal(weight(960, 60, 'float64'), { nonlinearity: 'tanh' }), 0, 5 / 3 / Math.sqrt(540));
  });

  test('kaimingUniform: bound = gain · √(3 / fan); a = √5 gives PyTorch\'s default 1/√fanIn', () => {
    const b = Math.sqrt(3) * Math.SQRT2 / Math.sqrt(540);
    expectUniform(init.kaimingUniform(weight()), -b, b);
    const def = 1 / Math.sqrt(540);
    expectUniform(init.kaimingUniform(weight(), { a: Math.sqrt(5) }), -def, def);
    expectUniform(init.defaultWeight(weight()), -def, def);
    const out = Math.sqrt(3) / Math.sqrt(9 * 960);
    expectUniform(init.kaimingUniform(weight(), { mode: 'fanOut', nonlinearity: 'linear' }), -out, out);
  });

  test('xavierUniform and xavierNormal: gain · √(6 / (fanIn + fanOut)) and gain · √(2 / (fanIn + fanOut))', () => {
    const fanSum = 9 * 60 + 9 * 960;
    expectUniform(init.xavierUniform(weight()), -Math.sqrt(6 / fanSum), Math.sqrt(6 / fanSum));
    expectUniform(init.xavierUniform(weight(), 2), -2 * Math.sqrt(6 / fanSum), 2 * Math.sqrt(6 / fanSum));
    expectNormal(init.xavierNormal(weight()), 0, Math.sqrt(2 / fanSum));
    expectNormal(init.xavierNormal(ns.zeros([600, 864], { dtype: 'float64' }), init.calculateGain('tanh')), 0, (5 / 3) * Math.sqrt(2 / 1464));
  });

  test('normal_ and uniform_ with their parameters', () => {
    expectNormal(init.normal_(weight()), 0, 1);
    expectNormal(init.normal_(weight(), 3, 0.5), 3, 0.5);
    expectUniform(init.uniform_(weight()), 0, 1);
    expectUniform(init.uniform_(weight(960, 60, 'float64'), -2, 5), -2, 5);
  });
});

describe('constants, reproducibility and layers', () => {
  test('zeros_, ones_ and constant_ fill in place (int32 too) and return the tensor', () => {
    const t = ns.randn([3, 4]);
    expect(init.zeros_(t)).toBe(t);
    expect(Array.from(t.dataSync())).toEqual(new Array(12).fill(0));
    expect(Array.from(init.ones_(ns.zeros([5], { dtype: 'float64' })).dataSync())).toEqual([1, 1, 1, 1, 1]);
    expect(Array.from(init.constant_(ns.zeros([2], { dtype: 'int32' }), 7).dataSync())).toEqual([7, 7]);
  });

  test('the global generator makes initialisation reproducible', () => {
    ns.manualSeed(3);
    const a = init.kaimingNormal(ns.zeros([4, 4])).dataSync();
    const b = init.kaimingNormal(ns.zeros([4, 4])).dataSync();
    ns.manualSeed(3);
    expect(init.kaimingNormal(ns.zeros([4, 4])).dataSync()).toEqual(a);
    expect(b).not.toEqual(a);
  });

  test('layers initialise as PyTorch: Conv2d weight and bias within 1/√fanIn; the dynamic predictor head at initScale · He', () => {
    ns.manualSeed(5);
    const conv = new ns.nn.Conv2d(64, 128, 3);
    const bound = 1 / Math.sqrt(64 * 9);
    expectUniform(conv.weight, -bound, bound);
    const bias = stats(conv.bias!);
    expect(Math.max(-bias.min, bias.max)).toBeLessThanOrEqual(bound);
    const dyn = new ns.nn.DynamicSimilarityConv2d(16, 8, 3, { hidden: 256, form: 'spatial', initScale: 0.01 });
    expectNormal(dyn.head.weight, 0, 0.01 * Math.sqrt(2 / (256 * 9)));
  });

  describeErrors('initialiser errors', [
    ['fans of a vector', () => init.fans(ns.zeros([3])), RangeError, 'fans: expected a tensor of at least 2 dimensions [out, in, ...] but got shape [3]'],
    ['kaimingNormal of a vector', () => init.kaimingNormal(ns.zeros([3])), RangeError,
      'fans: expected a tensor of at least 2 dimensions [out, in, ...] but got shape [3]'],
    ['kaimingUniform of int32', () => init.kaimingUniform(ns.zeros([2, 2], { dtype: 'int32' })), TypeError,
      'kaimingUniform: expected t to be float32 or float64 but got int32'],
    ['an unknown mode', () => init.kaimingNormal(ns.zeros([2, 2]), { mode: 'fan_in' as never }), TypeError,
      "kaimingNormal: expected mode 'fanIn' or 'fanOut' but got fan_in"],
    ['an unknown option', () => init.kaimingNormal(ns.zeros([2, 2]), { gain: 2 } as never), TypeError,
      "kaimingNormal: unknown option 'gain' (expected a, mode or nonlinearity)"],
    ['an unknown nonlinearity', () => init.calculateGain('gelu' as never), TypeError,
      'calculateGain: expected a nonlinearity among linear, conv1d, conv2d, conv3d, convTranspose1d, convTranspose2d, convTranspose3d, sigmoid, tanh, relu, leakyRelu, selu but got gelu'],
    ['uniform_ with a > b', () => init.uniform_(ns.zeros([2]), 1, 0), RangeError, 'uniform_: expected a ≤ b but got a 1, b 0'],
    ['normal_ with a negative std', () => init.normal_(ns.zeros([2]), 0, -1), RangeError,
      'normal_: expected std to be a number in [0, Infinity] but got -1'],
    ['constant_ with NaN', () => init.constant_(ns.zeros([2]), NaN), RangeError, 'constant_: expected value to be a finite number but got NaN'],
    ['xavierUniform with a negative gain', () => init.xavierUniform(ns.zeros([2, 2]), -1), RangeError,
      'xavierUniform: expected gain to be a number in [0, Infinity] but got -1'],
  ]);
});

/**
 * The layers against float64 references written as plain loops: BatchNorm1d, LeakyReLU, GELU (exact and
 * tanh), AdaptiveAvgPool2d (uneven windows included), Flatten, Identity, pooling layers, and the containers.
 */
import * as ns from '../lib';
import * as ref from './reference';
import { Arr, arr } from './reference';
import { FLOAT_DTYPES, TOL, describeErrors, expectClose, fromTensor, rand, toTensor } from './helpers';
import { gradcheck } from './gradcheck';

const { nn } = ns;

/** erfc in float64: the Maclaurin series of erf below 3, a continued fraction above (both far below 1e-12 relative). */
function erfc(z: number): number {
  if (z < 0) return 2 - erfc(-z);
  if (z < 3) {
    let term = z, sum = z;
    for (let n = 1; n < 80; n++) {
      term *= (-z * z) / n;
      sum += term / (2 * n + 1);
    }
    return 1 - (2 / Math.sqrt(Math.PI)) * sum;
  }
  let f = z;
  for (let k = 80; k >= 1; k--) f = z + k / 2 / f;
  return Math.exp(-z * z) / (Math.sqrt(Math.PI) * f);
}

const geluExact = (x: number): number => x * 0.5 * erfc(-x / Math.SQRT2);
const geluTanh = (x: number): number => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));

/** Adaptive average pooling with PyTorch's windows, as loops. */
function adaptiveRef(x: Arr, ho: number, wo: number): Arr {
  const [n, c, h, w] = x.shape;
  const out = arr([n, c, ho, wo]);
  for (let p = 0; p < n * c; p++) {
    for (let i = 0; i < ho; i++) {
      for (let j = 0; j < wo; j++) {
        const y0 = Math.floor((i * h) / ho), y1 = Math.ceil(((i + 1) * h) / ho);
        const x0 = Math.floor((j * w) / wo), x1 = Math.ceil(((j + 1) * w) / wo);
        let s = 0;
        for (let y = y0; y < y1; y++) for (let xx = x0; xx < x1; xx++) s += x.data[(p * h + y) * w + xx];
        out.data[(p * ho + i) * wo + j] = s / ((y1 - y0) * (x1 - x0));
      }
    }
  }
  return out;
}

describe('activations', () => {
  const x = rand([3, 4, 5], 301, { lo: -6, hi: 6, awayFromZero: 1e-3 });

  test.each(FLOAT_DTYPES)('LeakyReLU (%s), default and custom slopes', (dtype) => {
    for (const slope of [0.01, 0.2, -0.5, 1.5]) {
      const layer = slope === 0.01 ? new nn.LeakyReLU() : new nn.LeakyReLU(slope);
      expectClose(layer.forward(toTensor(x, dtype)), ref.map(x, (v) => (v > 0 ? v : slope * v)), TOL[dtype]);
    }
    // At 0 the gradient is the slope, as PyTorch's.
    const z = ns.zeros([1], { dtype, requiresGrad: true });
    ns.sum(new nn.LeakyReLU(0.3).forward(z)).backward();
    expect(z.grad!.item()).toBeCloseTo(0.3, 6);
  });

  test('GELU: the exact form within 2e-7 relative of erf in float64, over small and large |x|', () => {
    const wide = arr([12], [-12, -8, -5, -3, -1.5, -1e-3, 0, 1e-3, 0.7, 2.5, 6, 12]);
    for (const input of [x, wide]) {
      expectClose(new nn.GELU().forward(toTensor(input)), ref.map(input, geluExact), { rtol: 2e-7, atol: 1e-30 });
      expectClose(new nn.GELU().forward(toTensor(input, 'float32')), ref.map(input, geluExact), TOL.float32);
    }
  });

  test.each(FLOAT_DTYPES)('GELU with the tanh approximation (%s)', (dtype) => {
    expectClose(new nn.GELU({ approximate: 'tanh' }).forward(toTensor(x, dtype)), ref.map(x, geluTanh), TOL[dtype]);
    expectClose(nn.functional.gelu(toTensor(x, dtype), 'tanh'), ref.map(x, geluTanh), TOL[dtype]);
  });

  test('gradients of LeakyReLU and both GELUs pass gradcheck', () => {
    const small = rand([2, 5], 302, { lo: -3, hi: 3, awayFromZero: 0.05 });
    gradcheck((t) => new nn.LeakyReLU(0.1).forward(t), [small]);
    gradcheck((t) => new nn.GELU().forward(t), [small]);
    gradcheck((t) => new nn.GELU({ approximate: 'tanh' }).forward(t), [small]);
  });

  test('Identity returns its input; Sigmoid and Tanh are the ops', () => {
    const t = toTensor(x);
    expect(new nn.Identity().forward(t)).toBe(t);
    expectClose(new nn.Sigmoid().forward(t), ref.map(x, ref.sigmoid), TOL.float64);
    expectClose(new nn.Tanh().forward(t), ref.map(x, Math.tanh), TOL.float64);
  });
});

describe('AdaptiveAvgPool2d', () => {
  test.each<[number[], number | [number | null, number | null], [number, number]]>([
    [[2, 3, 7, 5], [3, 2], [3, 2]],        // uneven both ways: overlapping windows of 3 rows, 3 columns
    [[1, 2, 5, 6], 4, [4, 4]],             // uneven both ways
    [[1, 1, 3, 3], [5, 4], [5, 4]],        // larger than the input: windows of 1 or 2
    [[2, 2, 6, 4], [3, 2], [3, 2]],        // dividing: avgPool2d
    [[2, 2, 6, 5], [3, null], [3, 5]],     // dividing rows, columns kept
    [[2, 2, 6, 5], [2, 3], [2, 3]],        // dividing rows, uneven columns
    [[2, 3, 5, 7], 1, [1, 1]],             // global
    [[1, 2, 4, 4], [4, 4], [4, 4]],        // the identity
  ])('%j to %j', (shape, size, [ho, wo]) => {
    const x = rand(shape, 303);
    const expected = adaptiveRef(x, ho, wo);
    for (const dtype of FLOAT_DTYPES) expectClose(new nn.AdaptiveAvgPool2d(size).forward(toTensor(x, dtype)), expected, TOL[dtype]);
  });

  test('gradients through uneven windows pass gradcheck', () => {
    gradcheck((t) => new nn.AdaptiveAvgPool2d([3, 2]).forward(t), [rand([1, 2, 5, 4], 304)]);
    gradcheck((t) => nn.functional.adaptiveAvgPool2d(t, [2, 3]), [rand([1, 1, 4, 5], 305)]);
  });
});

describe('normalisation and shape layers', () => {
  test.each([[[6, 3]], [[4, 3, 5]]])('BatchNorm1d on %j: training, running statistics and evaluation', (shape) => {
    const bn = new nn.BatchNorm1d(3, { momentum: 0.3, eps: 1e-3, dtype: 'float64' });
    const x = rand(shape, 306, { lo: -2, hi: 4 });
    const zeros = arr([3]), ones = arr([3], [1, 1, 1]);
    const trained = ref.batchNorm(x, ones, zeros, zeros, ones, true, 0.3, 1e-3);
    expectClose(bn.forward(toTensor(x)), trained.y, TOL.float64);
    expectClose(bn.runningMean, trained.runningMean, TOL.float64);
    expectClose(bn.runningVar, trained.runningVar, TOL.float64);
    bn.eval();
    expectClose(bn.forward(toTensor(x)), ref.batchNorm(x, ones, zeros, trained.runningMean, trained.runningVar, false, 0.3, 1e-3).y, TOL.float64);
    expect(bn.numBatchesTracked.item()).toBe(1);
  });

  test('Flatten collapses startDim … endDim', () => {
    const t = ns.zeros([2, 3, 4, 5]);
    expect(new nn.Flatten().forward(t).shape).toEqual([2, 60]);
    expect(new nn.Flatten(0, 1).forward(t).shape).toEqual([6, 4, 5]);
    expect(new nn.Flatten(1, 2).forward(t).shape).toEqual([2, 12, 5]);
    expect(new nn.Flatten(-2).forward(t).shape).toEqual([2, 3, 20]);
  });

  test('MaxPool2d and AvgPool2d layers apply their options', () => {
    const x = rand([2, 2, 5, 6], 307);
    expectClose(new nn.MaxPool2d([2, 3], { stride: [1, 2], padding: 1 }).forward(toTensor(x)),
      ref.maxPool2d(x, [2, 3], { stride: [1, 2], padding: 1 }), TOL.float64);
    expectClose(new nn.AvgPool2d(3, { stride: 2, padding: 1, ceilMode: true, countIncludePad: false }).forward(toTensor(x)),
      ref.avgPool2d(x, 3, { stride: 2, padding: 1, ceilMode: true, countIncludePad: false }), TOL.float64);
  });

  test('Dropout with p = 0 keeps every value; GlobalAvgPool2d averages H and W', () => {
    const x = rand([2, 3, 4, 4], 308);
    expectClose(new nn.Dropout(0).forward(toTensor(x)), x, TOL.float64);
    expectClose(new nn.GlobalAvgPool2d().forward(toTensor(x)), ref.reduce(x, 'mean', [2, 3]), TOL.float64);
  });
});

describe('containers', () => {
  test('Sequential: at (negative from the end), length, iteration, append, and the Map form', () => {
    const a = new nn.Linear(3, 4), b = new nn.ReLU(), c = new nn.Linear(4, 2);
    const seq = new nn.Sequential(a, b);
    expect([seq.at(0), seq.at(-1), seq.length]).toEqual([a, b, 2]);
    expect(seq.append(c)).toBe(seq);
    expect([...seq]).toEqual([a, b, c]);
    expect(seq.namedChildren().map(([n]) => n)).toEqual(['0', '1', '2']);
    const x = rand([5, 3], 309);
    const expected = c.forward(b.forward(a.forward(toTensor(x, 'float32'))));
    expect(seq.forward(toTensor(x, 'float32')).dataSync()).toEqual(expected.dataSync());
    const named = new nn.Sequential(new Map<string, ns.nn.Module>([['fc', a], ['act', b]]));
    expect(Object.keys(named.stateDict())).toEqual(['fc.weight', 'fc.bias']);
    expect(named.at(1)).toBe(b);
  });

  test('ModuleList: registered children 0, 1, … whose parameters are the owner\'s', () => {
    class Stack extends nn.Module {
      layers = new nn.ModuleList([new nn.Linear(2, 3), new nn.Linear(3, 3)]);
      forward(x: ns.Tensor): ns.Tensor {
        let y = x;
        for (const layer of this.layers) y = ns.relu(layer.forward(y));
        return y;
      }
    }
    const s = new Stack();
    s.layers.append(new nn.Linear(3, 1)).extend([new nn.Linear(1, 1)]);
    expect(s.layers.length).toBe(4);
    expect(s.layers.at(-2).outFeatures).toBe(1);
    expect(Object.keys(s.stateDict())).toEqual([
      'layers.0.weight', 'layers.0.bias', 'layers.1.weight', 'layers.1.bias', 'layers.2.weight', 'layers.2.bias', 'layers.3.weight', 'layers.3.bias']);
    expect(s.forward(ns.ones([5, 2])).shape).toEqual([5, 1]);
    expect(s.numParameters()).toBe(9 + 12 + 4 + 2);
  });

  describeErrors('layer errors', [
    ['Sequential index out of range', () => new nn.Sequential(new nn.ReLU()).at(1), RangeError, 'Sequential.at: expected an index in [-1, 0] but got 1'],
    ['ModuleList forward', () => new nn.ModuleList().forward(ns.ones([1])), Error,
      'ModuleList: has no forward pass of its own; iterate over it in the forward pass of the module that owns it'],
    ['ModuleList of a non-iterable', () => new nn.ModuleList(3 as never), TypeError, 'ModuleList: expected an iterable of modules but got number'],
    ['ModuleList of a non-module', () => new nn.ModuleList([{} as never]), TypeError, "ModuleList: expected a Module for '0' but got object"],
    ['GELU with an unknown approximation', () => new nn.GELU({ approximate: 'erf' as never }), TypeError,
      "GELU: expected approximate 'none' or 'tanh' but got erf"],
    ['GELU with an unknown option', () => new nn.GELU({ aproximate: 'tanh' } as never), TypeError,
      "GELU: unknown option 'aproximate' (expected approximate)"],
    ['LeakyReLU with NaN', () => new nn.LeakyReLU(NaN), RangeError, 'LeakyReLU: expected negativeSlope to be a finite number but got NaN'],
    ['AdaptiveAvgPool2d to 0', () => new nn.AdaptiveAvgPool2d([0, 2]), RangeError,
      'AdaptiveAvgPool2d: expected outputSize[0] to be an integer ≥ 1 but got 0'],
    ['AdaptiveAvgPool2d with a string', () => new nn.AdaptiveAvgPool2d('2' as never), TypeError,
      'AdaptiveAvgPool2d: expected outputSize to be a number or a pair [h, w] but got string'],
    ['AdaptiveAvgPool2d on 3-D input', () => new nn.AdaptiveAvgPool2d(2).forward(ns.ones([2, 3, 4])), RangeError,
      'adaptiveAvgPool2d: expected x to be a 4-D tensor [N, C, H, W] but got shape [2, 3, 4]'],
    ['BatchNorm1d on 4-D input', () => new nn.BatchNorm1d(2).forward(ns.ones([2, 2, 2, 2])), RangeError,
      'BatchNorm1d: expected x to be a 2-D [N, C] or 3-D [N, C, L] tensor but got shape [2, 2, 2, 2]'],
    ['BatchNorm2d on 2-D input', () => new nn.BatchNorm2d(2).forward(ns.ones([4, 2])), RangeError,
      'BatchNorm2d: expected x to be a 4-D tensor [N, C, H, W] but got shape [4, 2]'],
    ['BatchNorm1d with an unknown option', () => new nn.BatchNorm1d(2, { trackRunningStats: false } as never), TypeError,
      "BatchNorm1d: unknown option 'trackRunningStats' (expected eps, momentum, affine or dtype)"],
    ['Flatten with a fractional dimension', () => new nn.Flatten(1.5), RangeError, 'Flatten: expected startDim to be an integer but got 1.5'],
    ['MaxPool2d with a kernel of 0', () => new nn.MaxPool2d(0), RangeError, 'MaxPool2d: expected kernelSize[0] to be an integer ≥ 1 but got 0'],
    ['Conv2d with a stride of 0', () => new nn.Conv2d(2, 2, 3, { stride: 0 }), RangeError, 'Conv2d: expected stride[0] to be an integer ≥ 1 but got 0'],
  ]);
});

test('every layer runs in float32 against its float64 reference', () => {
  const x = rand([2, 3, 5, 7], 310, { lo: -3, hi: 3 });
  const x32 = toTensor(x, 'float32');
  expectClose(new nn.AdaptiveAvgPool2d([2, 3]).forward(x32), adaptiveRef(x, 2, 3), TOL.float32);
  expectClose(new nn.GELU().forward(x32), ref.map(x, geluExact), TOL.float32);
  expectClose(new nn.LeakyReLU(0.2).forward(x32), ref.map(x, (v) => (v > 0 ? v : 0.2 * v)), TOL.float32);
  const bn = new nn.BatchNorm1d(3);
  const flat = { shape: [2, 3, 35], data: x.data };
  expectClose(bn.forward(toTensor(flat, 'float32')), ref.batchNorm(flat, arr([3], [1, 1, 1]), arr([3]), arr([3]), arr([3], [1, 1, 1]), true).y,
    { rtol: 1e-4, atol: 1e-5 });
  expect(fromTensor(new nn.Flatten().forward(x32)).shape).toEqual([2, 105]);
});

import * as ns from '../lib';
import { fill_ } from '../lib/ops/transfer';
import * as ref from './reference';
import { TOL, describeErrors, expectClose, fromTensor, labels, rand, toTensor } from './helpers';

const { nn, optim, data } = ns;

describe('nn layers', () => {
  test('Linear: parameters, initialisation bound and forward', () => {
    ns.manualSeed(1);
    const layer = new nn.Linear(4, 3);
    expect(layer.numParameters()).toBe(15);
    expect(layer.namedParameters().map(([n, t]) => [n, t.shape])).toEqual([['weight', [3, 4]], ['bias', [3]]]);
    expect(layer.parameters().every((p) => p.requiresGrad && p.gradFn === null)).toBe(true);
    expect(fromTensor(layer.weight).data.every((v) => Math.abs(v) <= 0.5)).toBe(true);
    const x = rand([5, 4], 201);
    const y = layer.forward(toTensor(x, 'float32'));
    expectClose(y, ref.linear(x, fromTensor(layer.weight), fromTensor(layer.bias!)), TOL.float32);
    expect(y.dataSync()).toEqual(ns.linear(toTensor(x, 'float32'), layer.weight, layer.bias).dataSync());
    expect(new nn.Linear(4, 3, { bias: false }).numParameters()).toBe(12);
    expect(new nn.Linear(2, 2, { dtype: 'float64' }).weight.dtype).toBe('float64');
  });

  test('Conv2d: parameters and forward against the reference convolution', () => {
    const layer = new nn.Conv2d(4, 6, [3, 2], { groups: 2, stride: 2, padding: 1, dtype: 'float64' });
    expect(layer.numParameters()).toBe(6 * 2 * 3 * 2 + 6);
    expect(layer.weight.shape).toEqual([6, 2, 3, 2]);
    const x = rand([2, 4, 7, 6], 202);
    const y = layer.forward(toTensor(x));
    expectClose(y, ref.conv2d(x, fromTensor(layer.weight), fromTensor(layer.bias!), { groups: 2, stride: 2, padding: 1 }), TOL.float64);
    expect(y.dataSync()).toEqual(ns.conv2d(toTensor(x), layer.weight, { bias: layer.bias, groups: 2, stride: 2, padding: 1 }).dataSync());
    expect(new nn.Conv2d(3, 8, 3, { bias: false }).numParameters()).toBe(8 * 3 * 9);
  });

  test('BatchNorm2d: parameters, buffers, training and evaluation', () => {
    const bn = new nn.BatchNorm2d(3, { momentum: 0.2, dtype: 'float64' });
    expect(bn.numParameters()).toBe(6);
    expect(bn.namedBuffers().map(([n]) => n)).toEqual(['running_mean', 'running_var', 'num_batches_tracked']);
    const x = rand([4, 3, 2, 3], 203, { lo: -1, hi: 3 });
    const zeros = ref.arr([3]), ones = ref.arr([3], [1, 1, 1]);
    const trained = ref.batchNorm(x, ones, zeros, zeros, ones, true, 0.2);
    expectClose(bn.forward(toTensor(x)), trained.y, TOL.float64);
    expectClose(bn.runningMean, trained.runningMean, TOL.float64);
    expectClose(bn.runningVar, trained.runningVar, TOL.float64);
    bn.eval();
    const y = bn.forward(toTensor(x));
    expectClose(y, ref.batchNorm(x, ones, zeros, trained.runningMean, trained.runningVar, false).y, TOL.float64);
    expect(y.dataSync()).toEqual(ns.batchNorm2d(toTensor(x), bn.runningMean, bn.runningVar, { weight: bn.weight, bias: bn.bias }).dataSync());
    expectClose(bn.runningMean, trained.runningMean, TOL.float64);
    expect(new nn.BatchNorm2d(5, { affine: false }).numParameters()).toBe(0);
  });

  const model = (): ns.nn.Sequential => new nn.Sequential(
    new nn.Conv2d(1, 2, 3, { padding: 1 }), new nn.BatchNorm2d(2), new nn.ReLU(), new nn.MaxPool2d(2), new nn.Flatten(),
    new nn.Dropout(0.5), new nn.Linear(8, 3));

  test('Sequential: names, counts and forward as the composition of the reference ops', () => {
    const net = model();
    expect(net.length).toBe(7);
    expect(net.numParameters()).toBe(2 * 9 + 2 + 2 + 2 + 8 * 3 + 3);
    expect(Object.keys(net.stateDict())).toEqual(
      ['0.weight', '0.bias', '1.weight', '1.bias', '1.running_mean', '1.running_var', '1.num_batches_tracked', '6.weight', '6.bias']);
    net.eval();
    const x = rand([2, 1, 4, 4], 204);
    const p = (name: string): ref.Arr => fromTensor(net.stateDict()[name]);
    let y = ref.conv2d(x, p('0.weight'), p('0.bias'), { padding: 1 });
    y = ref.batchNorm(y, p('1.weight'), p('1.bias'), p('1.running_mean'), p('1.running_var'), false).y;
    y = ref.maxPool2d(ref.map(y, (v) => Math.max(v, 0)), 2);
    y = ref.linear({ shape: [2, 8], data: y.data }, p('6.weight'), p('6.bias'));
    expectClose(net.forward(toTensor(x, 'float32')), y, { rtol: 1e-4, atol: 1e-5 });
  });

  test('train() and eval() switch every child: dropout and batch norm', () => {
    const net = model();
    expect(net.training).toBe(true);
    net.eval();
    expect(net.modules().every((m) => !m.training)).toBe(true);
    const drop = new nn.Dropout(0.5);
    const ones = ns.ones([1000]);
    expect(Array.from(drop.eval().forward(ones).dataSync()).every((v) => v === 1)).toBe(true);
    const trainOut = Array.from(drop.train().forward(ones).dataSync());
    expect(trainOut.filter((v) => v === 0).length).toBeGreaterThan(400);
    expect(trainOut.filter((v) => v === 2).length).toBeGreaterThan(400);
    // Batch norm in eval mode ignores the batch: one sample gives the same output alone or in a batch.
    net.eval();
    const x = ns.randn([3, 1, 4, 4]);
    const alone = net.forward(ns.slice(x, [0], [1])).dataSync();
    expect(Array.from(net.forward(x).dataSync().slice(0, 3))).toEqual(Array.from(alone));
    net.train();
    expect(net.modules().every((m) => m.training)).toBe(true);
  });

  test('stateDict and loadStateDict copy parameters and buffers', () => {
    ns.manualSeed(11);
    const a = model();
    a.forward(ns.randn([4, 1, 4, 4]));  // moves the running statistics away from their initial values
    ns.manualSeed(12);
    const b = model();
    b.loadStateDict(a.stateDict());
    for (const [name, t] of Object.entries(a.stateDict())) expect(b.stateDict()[name].dataSync()).toEqual(t.dataSync());
    a.eval();
    b.eval();
    const x = ns.randn([2, 1, 4, 4]);
    expect(b.forward(x).dataSync()).toEqual(a.forward(x).dataSync());
    // The loaded tensors are copies: changing the source later leaves the destination alone.
    fill_(a.stateDict()['6.bias'], 42);
    expect(Array.from(b.stateDict()['6.bias'].dataSync())).not.toContain(42);
  });

  test('zeroGrad drops gradients', () => {
    const layer = new nn.Linear(2, 2);
    ns.sum(layer.forward(ns.ones([1, 2]))).backward();
    expect(layer.weight.grad).not.toBeNull();
    layer.zeroGrad();
    expect(layer.parameters().every((p) => p.grad === null)).toBe(true);
  });

  const linear = new nn.Linear(2, 3);
  describeErrors('layer errors', [
    ['Linear with 0 inputs', () => new nn.Linear(0, 3), RangeError, 'Linear: expected inFeatures to be an integer ≥ 1 but got 0'],
    ['Linear with fractional outputs', () => new nn.Linear(2, 1.5), RangeError, 'Linear: expected outFeatures to be an integer ≥ 1 but got 1.5'],
    ['Linear on the wrong features', () => linear.forward(ns.ones([1, 3])), RangeError,
      "linear: expected x's last dimension to be 2 (w is [3, 2]) but got shape [1, 3]"],
    ['Conv2d with groups not dividing the channels', () => new nn.Conv2d(3, 4, 3, { groups: 2 }), RangeError,
      'Conv2d: expected groups (2) to divide inChannels (3) and outChannels (4)'],
    ['Conv2d with a kernel of 0', () => new nn.Conv2d(3, 4, 0), RangeError, 'Conv2d: expected kernelSize to be an integer ≥ 1 but got 0'],
    ['BatchNorm2d with momentum above 1', () => new nn.BatchNorm2d(2, { momentum: 2 }), RangeError,
      'BatchNorm2d: expected momentum to be a number in [0, 1] but got 2'],
    ['BatchNorm2d on the wrong channels', () => new nn.BatchNorm2d(2).forward(ns.ones([2, 3, 2, 2])), RangeError,
      'batchNorm2d: expected weight of shape [3] but got [2]'],
    ['Dropout with p above 1', () => new nn.Dropout(2), RangeError, 'Dropout: expected p to be a number in [0, 1] but got 2'],
    ['Sequential of a non-module', () => new nn.Sequential({} as never), TypeError, "Sequential: expected a Module for '0' but got object"],
    ['loadStateDict with a missing tensor', () => linear.loadStateDict({ weight: ns.ones([3, 2]) }), Error, "loadStateDict: missing tensor 'bias'"],
    ['loadStateDict with a wrong shape', () => linear.loadStateDict({ weight: ns.ones([2, 3]), bias: ns.ones([3]) }), RangeError,
      "loadStateDict: expected 'weight' of shape [3, 2] but got [2, 3]"],
  ]);
});

describe('optimisers against the update formulas', () => {
  const STEPS = 3;
  const p0 = rand([5], 211), grads = Array.from({ length: STEPS }, (_, i) => rand([5], 212 + i));

  /** Runs `STEPS` steps of `make(params)` with the fixed gradients; returns the parameter after each step. */
  function run(dtype: 'float32' | 'float64', make: (params: ns.Tensor[]) => ns.optim.Optimizer): ref.Arr[] {
    const p = toTensor(p0, dtype, true);
    const opt = make([p]);
    return grads.map((g) => {
      opt.zeroGrad();
      p.grad = toTensor(g, dtype);
      opt.step();
      return fromTensor(p);
    });
  }

  interface SgdCfg { lr: number; momentum?: number; dampening?: number; weightDecay?: number; nesterov?: boolean }
  function sgdRef(c: SgdCfg): ref.Arr[] {
    const p = Float64Array.from(p0.data), buf = new Float64Array(p.length);
    const mu = c.momentum ?? 0, damp = c.dampening ?? 0, wd = c.weightDecay ?? 0;
    return grads.map((g, t) => {
      for (let i = 0; i < p.length; i++) {
        let d = g.data[i] + wd * p[i];
        if (mu !== 0) {
          buf[i] = t === 0 ? d : mu * buf[i] + (1 - damp) * d;
          d = c.nesterov ? d + mu * buf[i] : buf[i];
        }
        p[i] -= c.lr * d;
      }
      return ref.arr([5], p);
    });
  }

  test.each<SgdCfg>([
    { lr: 0.1 },
    { lr: 0.05, momentum: 0.9 },
    { lr: 0.05, momentum: 0.8, dampening: 0.3 },
    { lr: 0.1, momentum: 0.9, nesterov: true },
    { lr: 0.1, weightDecay: 0.01 },
    { lr: 0.02, momentum: 0.5, weightDecay: 0.1, nesterov: true },
  ])('SGD %j', (cfg) => {
    const expected = sgdRef(cfg);
    run('float64', (ps) => new optim.SGD(ps, cfg)).forEach((p, t) => expectClose(p, expected[t], TOL.float64));
    run('float32', (ps) => new optim.SGD(ps, cfg)).forEach((p, t) => expectClose(p, expected[t], { rtol: 1e-5, atol: 1e-6 }));
  });

  interface AdamCfg { lr?: number; betas?: [number, number]; eps?: number; weightDecay?: number }
  function adamRef(c: AdamCfg, decoupled: boolean): ref.Arr[] {
    const lr = c.lr ?? 1e-3, [b1, b2] = c.betas ?? [0.9, 0.999], eps = c.eps ?? 1e-8;
    const wd = c.weightDecay ?? (decoupled ? 0.01 : 0);
    const p = Float64Array.from(p0.data), m = new Float64Array(p.length), v = new Float64Array(p.length);
    return grads.map((g, t) => {
      const step = t + 1;
      for (let i = 0; i < p.length; i++) {
        let gi = g.data[i];
        if (decoupled) p[i] *= 1 - lr * wd;
        else gi += wd * p[i];
        m[i] = b1 * m[i] + (1 - b1) * gi;
        v[i] = b2 * v[i] + (1 - b2) * gi * gi;
        const mHat = m[i] / (1 - b1 ** step), vHat = v[i] / (1 - b2 ** step);
        p[i] -= (lr * mHat) / (Math.sqrt(vHat) + eps);
      }
      return ref.arr([5], p);
    });
  }

  test.each<AdamCfg>([{}, { lr: 0.01, betas: [0.8, 0.99] }, { lr: 0.05, weightDecay: 0.1, eps: 1e-6 }])('Adam and AdamW %j', (cfg) => {
    for (const [decoupled, make] of [
      [false, (ps: ns.Tensor[]) => new optim.Adam(ps, cfg)],
      [true, (ps: ns.Tensor[]) => new optim.AdamW(ps, cfg)],
    ] as const) {
      const expected = adamRef(cfg, decoupled);
      run('float64', make).forEach((p, t) => expectClose(p, expected[t], { rtol: 1e-10, atol: 1e-12 }));
      run('float32', make).forEach((p, t) => expectClose(p, expected[t], { rtol: 1e-5, atol: 1e-6 }));
    }
  });

  test('parameters without a gradient are skipped; training minimises a loss', () => {
    const a = ns.tensor([1, 2], [2], { requiresGrad: true }), b = ns.tensor([3], [1], { requiresGrad: true });
    const opt = new optim.SGD([a, b], { lr: 0.1, momentum: 0.9 });
    a.grad = ns.tensor([1, 1]);
    opt.step();
    expect(Array.from(b.dataSync())).toEqual([3]);
    expect(Array.from(a.dataSync())).toEqual([Math.fround(1 - 0.1), Math.fround(2 - 0.1)]);
    // Least squares with Adam: the loss falls by orders of magnitude.
    ns.manualSeed(3);
    const w = ns.zeros([3, 1], { requiresGrad: true });
    const x = ns.randn([32, 3]), target = ns.matmul(x, ns.tensor([[1], [-2], [0.5]]));
    const adam = new optim.Adam([w], { lr: 0.1 });
    const loss = (): number => ns.noGrad(() => ns.mseLoss(ns.matmul(x, w), target).item());
    const initial = loss();
    for (let i = 0; i < 200; i++) {
      ns.tidy(() => {
        adam.zeroGrad();
        ns.mseLoss(ns.matmul(x, w), target).backward();
        adam.step();
      });
    }
    expect(loss()).toBeLessThan(initial * 1e-3);
  });

  const p = ns.zeros([2], { requiresGrad: true });
  describeErrors('optimiser errors', [
    ['no parameters', () => new optim.SGD([], { lr: 0.1 }), RangeError, 'SGD: expected at least one parameter but got none'],
    ['params not iterable', () => new optim.Adam(5 as never), TypeError, 'Adam: expected params to be an iterable of tensors but got number'],
    ['a parameter that is not a tensor', () => new optim.SGD([p, 1 as never], { lr: 0.1 }), TypeError,
      'SGD: expected params[1] to be a Tensor but got number'],
    ['a parameter that is not a leaf', () => new optim.SGD([ns.mul(p, 2)], { lr: 0.1 }), TypeError,
      'SGD: expected params[0] to be a leaf tensor with requiresGrad'],
    ['a parameter without requiresGrad', () => new optim.AdamW([ns.zeros([2])]), TypeError,
      'AdamW: expected params[0] to be a leaf tensor with requiresGrad'],
    ['SGD without options', () => new optim.SGD([p], undefined as never), RangeError,
      'SGD: expected lr to be a number in [0, Infinity] but got undefined'],
    ['NaN learning rate', () => new optim.SGD([p], { lr: NaN }), RangeError, 'SGD: expected lr to be a number in [0, Infinity] but got NaN'],
    ['negative momentum', () => new optim.SGD([p], { lr: 0.1, momentum: -1 }), RangeError,
      'SGD: expected momentum to be a number in [0, Infinity] but got -1'],
    ['Nesterov without momentum', () => new optim.SGD([p], { lr: 0.1, nesterov: true }), RangeError,
      'SGD: Nesterov momentum expected momentum > 0 and dampening 0'],
    ['nesterov not a boolean', () => new optim.SGD([p], { lr: 0.1, momentum: 0.9, nesterov: 1 as never }), TypeError,
      'SGD: expected nesterov to be a boolean but got the number 1'],
    ['Adam options not an object', () => new optim.Adam([p], 0.1 as never), TypeError, 'Adam: expected options to be an object but got the number 0.1'],
    ['Adam beta above 1', () => new optim.Adam([p], { betas: [1.5, 0.9] }), RangeError,
      'Adam: expected betas[0] to be a number in [0, 1] but got 1.5'],
    ['Adam betas not a pair', () => new optim.Adam([p], { betas: [0.9] as never }), TypeError,
      'Adam: expected betas to be a pair [beta1, beta2] but got 1 values'],
    ['AdamW negative eps', () => new optim.AdamW([p], { eps: -1 }), RangeError, 'AdamW: expected eps to be a number in [0, Infinity] but got -1'],
  ]);
});

describe('data', () => {
  test('loadMnist: 10,000 test digits [10000, 1, 28, 28] float32, int32 labels in [0, 10)', () => {
    const { images, labels: lab } = data.loadMnist();
    expect([images.shape, images.dtype]).toEqual([[10000, 1, 28, 28], 'float32']);
    expect([lab.shape, lab.dtype]).toEqual([[10000], 'int32']);
    const l = lab.dataSync();
    const counts = new Array(10).fill(0);
    for (const v of l) counts[v]++;
    expect(counts.reduce((p, c) => p + c, 0)).toBe(10000);
    expect(counts.every((c) => c > 800 && c < 1200)).toBe(true);
    // The MNIST test set starts with a 7, a 2 and a 1.
    expect(Array.from(l.slice(0, 3))).toEqual([7, 2, 1]);
    // Normalised with MNIST's mean and std: about zero mean.
    expect(Math.abs(ns.mean(images).item())).toBeLessThan(0.02);
    const raw = data.loadMnist({ normalize: false }).images;
    expect([ns.min(raw).item(), ns.max(raw).item()]).toEqual([0, 1]);
    expect(Math.abs(ns.mean(raw).item() - 0.1325)).toBeLessThan(0.005);
  });

  const dataset = (n: number): ns.data.TensorDataset =>
    new data.TensorDataset(ns.tensor(Float64Array.from({ length: n * 2 }, (_, i) => i), [n, 2]), labels(Array.from({ length: n }, (_, i) => i)));

  test('DataLoader batches in order, with a smaller last batch unless dropLast', () => {
    const loader = new data.DataLoader(dataset(10), { batchSize: 4 });
    const batches = [...loader];
    expect(loader.length).toBe(3);
    expect(batches.map(([x, y]) => [x.shape, y.shape])).toEqual([[[4, 2], [4]], [[4, 2], [4]], [[2, 2], [2]]]);
    expect(batches[1][0].toArray()).toEqual([[8, 9], [10, 11], [12, 13], [14, 15]]);
    expect(Array.from(batches[2][1].dataSync())).toEqual([8, 9]);
    const dropped = new data.DataLoader(dataset(10), { batchSize: 4, dropLast: true });
    expect(dropped.length).toBe(2);
    expect([...dropped].map(([x]) => x.shape[0])).toEqual([4, 4]);
    expect([...new data.DataLoader(dataset(3))].map(([x]) => x.shape[0])).toEqual([3]);
  });

  test('DataLoader shuffles each epoch (a permutation, samples aligned, reproducible with manualSeed)', () => {
    const loader = new data.DataLoader(dataset(50), { batchSize: 8, shuffle: true });
    const epoch = (): number[] => [...loader].flatMap(([x, y]) => {
      const xs = x.dataSync(), ys = y.dataSync();
      ys.forEach((v, i) => expect([xs[2 * i], xs[2 * i + 1]]).toEqual([2 * v, 2 * v + 1]));
      return Array.from(ys);
    });
    ns.manualSeed(4);
    const first = epoch(), second = epoch();
    expect([...first].sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(first).not.toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(second).not.toEqual(first);
    ns.manualSeed(4);
    expect(epoch()).toEqual(first);
  });

  test('DataLoader over MNIST', () => {
    const { images, labels: lab } = data.loadMnist();
    const subset = new data.TensorDataset(images, lab).range(0, 100);
    const sizes = [...new data.DataLoader(subset, { batchSize: 32 })].map(([x, y]) => [x.shape, y.shape]);
    expect(sizes).toEqual([[[32, 1, 28, 28], [32]], [[32, 1, 28, 28], [32]], [[32, 1, 28, 28], [32]], [[4, 1, 28, 28], [4]]]);
  });

  describeErrors('data errors', [
    ['TensorDataset without tensors', () => new data.TensorDataset(), TypeError, 'TensorDataset: expected at least one tensor'],
    ['TensorDataset with misaligned tensors', () => new data.TensorDataset(ns.ones([3, 2]), ns.ones([4])), RangeError,
      'TensorDataset: expected tensors[1] to have 3 samples along dimension 0 but got shape [4]'],
    ['TensorDataset with a non-tensor', () => new data.TensorDataset([1, 2] as never), TypeError,
      'TensorDataset: expected tensors[0] to be a Tensor but got an array'],
    ['DataLoader with batch size 0', () => new data.DataLoader(dataset(3), { batchSize: 0 }), RangeError,
      'DataLoader: expected batchSize to be an integer ≥ 1 but got 0'],
    ['DataLoader with shuffle not a boolean', () => new data.DataLoader(dataset(3), { shuffle: 'yes' as never }), TypeError,
      'DataLoader: expected shuffle to be a boolean but got string'],
    ['readIdx of a file that is not IDX', () => data.readIdx(__filename), Error, /^readIdx: .* is not an IDX file \(bad magic number\)$/],
  ]);
});

describe('unknown option keys are errors, in ops and modules alike', () => {
  const x = ns.randn([1, 2, 5, 5]), w = ns.randn([3, 2, 3, 3]);
  test.each([
    ['conv2d', () => ns.conv2d(x, w, { pading: 1 } as ns.Conv2dOptions), "conv2d: unknown option 'pading' (expected bias, stride, padding, dilation or groups)"],
    ['similarityConv2d', () => ns.similarityConv2d(x, w, ns.ones([9]), { strides: 1 } as ns.SimilarityConv2dOptions), "similarityConv2d: unknown option 'strides' (expected bias, stride, padding, dilation or groups)"],
    ['randn', () => ns.randn([2], { sd: 2 } as ns.TensorOptions), "randn: unknown option 'sd' (expected dtype, requiresGrad, device, mean or std)"],
    ['crossEntropy', () => ns.crossEntropy(ns.zeros([1, 2]), ns.tensor(Int32Array.from([0])), { smoothing: 0.1 } as ns.CrossEntropyOptions), "crossEntropy: unknown option 'smoothing' (expected labelSmoothing or reduction)"],
    ['maxPool2d', () => ns.maxPool2d(x, 2, { strid: 2 } as ns.Pool2dOptions), "maxPool2d: unknown option 'strid' (expected stride, padding or ceilMode)"],
    ['nn.Conv2d', () => new nn.Conv2d(2, 3, 3, { pading: 1 } as ns.nn.Conv2dLayerOptions), "Conv2d: unknown option 'pading' (expected bias, dtype, stride, padding, dilation or groups)"],
    ['nn.DynamicSimilarityConv2d', () => new nn.DynamicSimilarityConv2d(2, 3, 3, { hiden: 8 } as ns.nn.DynamicSimilarityConv2dOptions), /^DynamicSimilarityConv2d: unknown option 'hiden'/],
    ['optim.SGD', () => new optim.SGD(new nn.Linear(2, 2).parameters(), { lr: 0.1, momentun: 0.9 } as ns.optim.SGDOptions), /^SGD: unknown option 'momentun'/],
  ])('%s', (_name, fn, message) => {
    expect(fn).toThrow(TypeError);
    expect(fn).toThrow(message);
  });
});

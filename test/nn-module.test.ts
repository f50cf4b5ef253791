/**
 * nn.Module: registration (fields and explicit), traversal in PyTorch's order, repr, summary, state dicts
 * with PyTorch's names, num_batches_tracked, to(device).
 */
import { inspect } from 'util';
import * as ns from '../lib';
import { describeErrors } from './helpers';

const { nn } = ns;

/** A module written PyTorch-style: layers and a parameter as fields, found without register calls. */
class Block extends nn.Module {
  conv = new nn.Conv2d(1, 2, 3, { padding: 1 });
  bn = new nn.BatchNorm2d(2);
  scale = ns.ones([2], { requiresGrad: true });
  /** A constant: a tensor without requiresGrad is a plain attribute (not saved, not moved by to()). */
  offset = ns.zeros([1, 2, 1, 1]);
  /** A plain array is not searched (ModuleList is the container to use). */
  extras = [new nn.Linear(2, 2)];
  head: ns.nn.Module | null;
  constructor() {
    super();
    this.head = new nn.Flatten();
  }
  forward(x: ns.Tensor): ns.Tensor {
    const y = ns.relu(this.bn.forward(this.conv.forward(x)));
    return this.head!.forward(ns.add(ns.mul(y, ns.reshape(this.scale, [1, 2, 1, 1])), this.offset));
  }
}

/** Runs `fn` with tensors created on `device` unless told otherwise, then restores the previous default. */
function onDevice<T>(device: ns.Device, fn: () => T): T {
  const previous = ns.defaultDevice();
  ns.setDefaultDevice(device);
  try {
    return fn();
  } finally {
    ns.setDefaultDevice(previous);
  }
}

const names = (pairs: [string, unknown][]): string[] => pairs.map(([n]) => n);
const shapes = (state: Record<string, ns.Tensor>): [string, number[], string][] =>
  Object.entries(state).map(([n, t]) => [n, [...t.shape], t.dtype]);

describe('registration', () => {
  test('fields of a subclass: modules are children, leaf tensors with requiresGrad are parameters, in assignment order', () => {
    const b = new Block();
    expect(names(b.namedChildren())).toEqual(['conv', 'bn', 'head']);
    expect(names(b.namedParameters())).toEqual(['scale', 'conv.weight', 'conv.bias', 'bn.weight', 'bn.bias']);
    expect(names(b.namedParameters('', false))).toEqual(['scale']);
    expect(names(b.namedBuffers())).toEqual(['bn.running_mean', 'bn.running_var', 'bn.num_batches_tracked']);
    expect(Object.keys(b.stateDict())).toEqual([
      'scale', 'conv.weight', 'conv.bias', 'bn.weight', 'bn.bias', 'bn.running_mean', 'bn.running_var', 'bn.num_batches_tracked']);
    expect(b.numParameters()).toBe(2 + 2 * 9 + 2 + 2 + 2);
    expect(b.parameters()[0]).toBe(b.scale);
    expect(b.forward(ns.ones([1, 1, 3, 3])).shape).toEqual([1, 18]);
    // Gradients reach the field parameter like any other.
    ns.sum(b.forward(ns.randn([2, 1, 3, 3]))).backward();
    expect(b.parameters().every((p) => p.grad !== null)).toBe(true);
  });

  test('reassignment replaces in place, null unregisters, aliases register once', () => {
    const b = new Block() as Block & { extra?: ns.Tensor; alias?: ns.nn.Module };
    const replacement = new nn.Conv2d(1, 2, 1);
    b.conv = replacement;
    expect(names(b.namedChildren())).toEqual(['conv', 'bn', 'head']);
    expect(b.namedChildren()[0][1]).toBe(replacement);
    b.head = null;
    expect(names(b.namedChildren())).toEqual(['conv', 'bn']);
    b.alias = b.bn;  // the same module under a second field: registered once, under its first name
    expect(names(b.namedChildren())).toEqual(['conv', 'bn']);
    b.extra = ns.ones([3], { requiresGrad: true });
    expect(names(b.namedParameters('', false))).toEqual(['scale', 'extra']);
    const w = ns.zeros([2]);
    expect(() => { b.scale = w; }).toThrow(new TypeError(
      "Block: cannot assign a tensor without requiresGrad to parameter 'scale' (expected a leaf tensor with requiresGrad or null)"));
    expect(() => { (b as unknown as { bn: number }).bn = 3; }).toThrow(new TypeError(
      "Block: cannot assign number to module 'bn' (expected a Module or null)"));
  });

  test('parameters made inside tidy outlive it', () => {
    let b: Block | undefined;
    ns.tidy(() => {
      b = new Block();
    });
    expect(b!.parameters().every((p) => !p.isDisposed)).toBe(true);
    expect(b!.buffers().every((t) => !t.isDisposed)).toBe(true);
    expect(b!.offset.isDisposed).toBe(false);
    expect(b!.forward(ns.ones([1, 1, 3, 3])).shape).toEqual([1, 18]);
  });

  test('registerParameter, registerBuffer (persistent or not) and registerModule under explicit names', () => {
    class Explicit extends nn.Module {
      constructor() {
        super();
        this.registerParameter('w', ns.zeros([2]));
        this.registerBuffer('count', ns.zeros([], { dtype: 'int32' }));
        this.registerBuffer('table', ns.ones([3]), { persistent: false });
        this.registerModule('inner', new nn.Linear(2, 1));
      }
      forward(x: ns.Tensor): ns.Tensor { return x; }
    }
    const e = new Explicit();
    expect(e.parameters()[0].requiresGrad).toBe(true);
    expect(names(e.namedParameters())).toEqual(['w', 'inner.weight', 'inner.bias']);
    expect(names(e.namedBuffers())).toEqual(['count', 'table']);
    expect(Object.keys(e.stateDict())).toEqual(['w', 'count', 'inner.weight', 'inner.bias']);
  });

  const e = new Block();
  describeErrors('registration errors', [
    ['a name with a dot', () => e.registerBuffer('a.b', ns.zeros([1])), RangeError, "Block: expected a non-empty buffer name without '.' but got 'a.b'"],
    ['a buffer over a module', () => e.registerBuffer('conv', ns.zeros([1])), Error, "Block: 'conv' is already registered as a module"],
    ['a parameter computed by an op', () => e.registerParameter('p', ns.mul(ns.ones([1], { requiresGrad: true }), 2)), TypeError,
      "Block: expected parameter 'p' to be a leaf tensor but got the output of mul"],
    ['an int32 parameter', () => e.registerParameter('p', ns.zeros([1], { dtype: 'int32' })), TypeError,
      "Block: expected parameter 'p' to be float32 or float64 but got int32"],
    ['a buffer option misspelt', () => e.registerBuffer('b', ns.zeros([1]), { persistant: false } as never), TypeError,
      "Block.registerBuffer: unknown option 'persistant' (expected persistent)"],
  ]);
});

describe('traversal', () => {
  /** features (Sequential of conv, bn, a shared ReLU twice), head (Linear), the shared ReLU again. */
  function net(): ns.nn.Module {
    const act = new nn.ReLU();
    class Net extends nn.Module {
      features = new nn.Sequential(new nn.Conv2d(1, 2, 3), new nn.BatchNorm2d(2), act, new nn.Sequential(new nn.Identity(), act));
      head = new nn.Linear(2, 3);
      act = act;
      forward(x: ns.Tensor): ns.Tensor { return this.head.forward(ns.mean(this.features.forward(x), [2, 3])); }
    }
    return new Net();
  }

  test('namedModules: depth first in registration order, each module once (PyTorch order)', () => {
    const n = net();
    expect(n.namedModules().map(([name, m]) => [name, m.constructor.name])).toEqual([
      ['', 'Net'], ['features', 'Sequential'], ['features.0', 'Conv2d'], ['features.1', 'BatchNorm2d'], ['features.2', 'ReLU'],
      ['features.3', 'Sequential'], ['features.3.0', 'Identity'], ['head', 'Linear']]);
    expect(n.namedModules('model').map(([name]) => name).slice(0, 3)).toEqual(['model', 'model.features', 'model.features.0']);
    expect(n.modules()).toHaveLength(8);
    // The shared ReLU is a child of Net too (children are each parent's own; modules() lists it once).
    expect(names(n.namedChildren())).toEqual(['features', 'head', 'act']);
    expect(n.children().map((m) => m.constructor.name)).toEqual(['Sequential', 'Linear', 'ReLU']);
    expect(names(n.namedParameters())).toEqual(['features.0.weight', 'features.0.bias', 'features.1.weight', 'features.1.bias', 'head.weight', 'head.bias']);
  });

  test('apply visits children before their parent; train/eval reach every module', () => {
    const n = net();
    const visited: string[] = [];
    expect(n.apply((m) => visited.push(m.constructor.name))).toBe(n);
    // PyTorch's recursion through each parent's children: the shared ReLU is visited under each of its parents.
    expect(visited).toEqual(['Conv2d', 'BatchNorm2d', 'ReLU', 'Identity', 'ReLU', 'Sequential', 'Sequential', 'Linear', 'ReLU', 'Net']);
    expect(n.eval().modules().every((m) => !m.training)).toBe(true);
    expect(n.train().modules().every((m) => m.training)).toBe(true);
    // apply is how PyTorch users initialise: every conv's weight to zeros here.
    n.apply((m) => { if (m instanceof nn.Conv2d) nn.init.zeros_(m.weight); });
    expect(Array.from((n.modules()[2] as ns.nn.Conv2d).weight.dataSync()).every((v) => v === 0)).toBe(true);
  });

  test('a parameter shared by two modules counts once', () => {
    const a = new nn.Linear(3, 3), b = new nn.Linear(3, 3);
    class Tied extends nn.Module {
      a = a;
      b = b;
      forward(x: ns.Tensor): ns.Tensor { return this.b.forward(this.a.forward(x)); }
    }
    const t = new Tied();
    (b as { weight: ns.Tensor }).weight = a.weight;  // weight tying, as PyTorch users write it
    expect(names(t.namedParameters())).toEqual(['a.weight', 'a.bias', 'b.bias']);
    expect(t.numParameters()).toBe(9 + 3 + 3);
    expect(Object.keys(t.stateDict())).toEqual(['a.weight', 'a.bias', 'b.weight', 'b.bias']);
  });

  test('zeroGrad drops every gradient', () => {
    const n = net();
    ns.sum(n.forward(ns.randn([2, 1, 4, 4]))).backward();
    expect(n.parameters().every((p) => p.grad !== null)).toBe(true);
    n.zeroGrad();
    expect(n.parameters().every((p) => p.grad === null)).toBe(true);
  });
});

describe('repr', () => {
  test('String(model) prints the tree as PyTorch does', () => {
    const model = new nn.Sequential(
      new nn.Conv2d(1, 16, 3, { padding: 1 }), new nn.BatchNorm2d(16), new nn.ReLU(), new nn.MaxPool2d(2), new nn.Flatten(),
      new nn.Dropout(0.5), new nn.Linear(3136, 10));
    const expected = [
      'Sequential(',
      '  (0): Conv2d(1, 16, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))',
      '  (1): BatchNorm2d(16, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)',
      '  (2): ReLU()',
      '  (3): MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)',
      '  (4): Flatten(start_dim=1, end_dim=-1)',
      '  (5): Dropout(p=0.5, inplace=False)',
      '  (6): Linear(in_features=3136, out_features=10, bias=True)',
      ')',
    ].join('\n');
    expect(String(model)).toBe(expected);
    expect(inspect(model)).toBe(expected);
  });

  test('nested modules, ModuleList runs and the other layers', () => {
    class Net extends nn.Module {
      stem = new nn.Sequential(new Map<string, ns.nn.Module>([
        ['conv', new nn.Conv2d(3, 8, [3, 5], { stride: 2, padding: [1, 2], dilation: [1, 2], groups: 1, bias: false })],
        ['bn', new nn.BatchNorm1d(8, { eps: 1e-3, momentum: 0.01, affine: false })],
        ['act', new nn.LeakyReLU(0.2)],
      ]));
      pool = new nn.AdaptiveAvgPool2d([2, null]);
      blocks = new nn.ModuleList([new nn.Linear(8, 8), new nn.Linear(8, 8), new nn.Linear(8, 4, { bias: false }), new nn.GELU({ approximate: 'tanh' })]);
      forward(x: ns.Tensor): ns.Tensor { return x; }
    }
    expect(String(new Net())).toBe([
      'Net(',
      '  (stem): Sequential(',
      '    (conv): Conv2d(3, 8, kernel_size=(3, 5), stride=(2, 2), padding=(1, 2), dilation=(1, 2), bias=False)',
      '    (bn): BatchNorm1d(8, eps=0.001, momentum=0.01, affine=False, track_running_stats=True)',
      '    (act): LeakyReLU(negative_slope=0.2)',
      '  )',
      '  (pool): AdaptiveAvgPool2d(output_size=(2, None))',
      '  (blocks): ModuleList(',
      '    (0-1): 2 x Linear(in_features=8, out_features=8, bias=True)',
      '    (2): Linear(in_features=8, out_features=4, bias=False)',
      "    (3): GELU(approximate='tanh')",
      '  )',
      ')',
    ].join('\n'));
    expect(String(new nn.Conv2d(4, 4, 1, { padding: 'same', groups: 2 }))).toBe('Conv2d(4, 4, kernel_size=(1, 1), stride=(1, 1), padding=same, groups=2)');
    expect(String(new nn.AvgPool2d([2, 3], { stride: 1, padding: [1, 1] }))).toBe('AvgPool2d(kernel_size=(2, 3), stride=1, padding=(1, 1))');
    expect(String(new nn.GELU())).toBe("GELU(approximate='none')");
    expect(String(new nn.Identity())).toBe('Identity()');
    expect(String(new nn.ModuleList())).toBe('ModuleList()');
    expect(String(new nn.SimilarityConv2d(2, 3, 3, { padding: 1 }))).toBe(
      "SimilarityConv2d(2, 3, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), form='spatial', l2=0.005)");
    expect(String(new nn.DynamicSimilarityConv2d(2, 3, 3, { padding: 1, hidden: 4, form: 'spatial' }))).toBe([
      "DynamicSimilarityConv2d(",
      "  2, 3, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), form='spatial', hidden=4",
      "  (sphere): SphereConv2d(2, 4, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), bias=False, norm='input')",
      '  (bn1): BatchNorm2d(4, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)',
      '  (head): Conv2d(4, 81, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), bias=False)',
      ')',
    ].join('\n'));
  });
});

describe('summary', () => {
  test('output shapes, parameters and multiply-adds per layer, computed by hand', () => {
    const model = new nn.Sequential(
      new nn.Conv2d(1, 4, 3, { padding: 1 }), new nn.BatchNorm2d(4), new nn.ReLU(), new nn.MaxPool2d(2), new nn.Flatten(),
      new nn.Linear(64, 10));
    (model.at(1) as ns.nn.BatchNorm2d).eval();
    const bn = model.at(1) as ns.nn.BatchNorm2d;
    const s = model.summary([2, 1, 8, 8]);
    expect(s.layers.map((l) => [l.name, l.type, l.depth, l.outputShape, l.parameters, l.macs, l.calls])).toEqual([
      ['', 'Sequential', 0, [2, 10], 698, 5888, 1],
      ['0', 'Conv2d', 1, [2, 4, 8, 8], 4 * 9 + 4, 2 * 4 * 8 * 8 * 1 * 9, 1],
      ['1', 'BatchNorm2d', 1, [2, 4, 8, 8], 8, 0, 1],
      ['2', 'ReLU', 1, [2, 4, 8, 8], 0, 0, 1],
      ['3', 'MaxPool2d', 1, [2, 4, 4, 4], 0, 0, 1],
      ['4', 'Flatten', 1, [2, 64], 0, 0, 1],
      ['5', 'Linear', 1, [2, 10], 64 * 10 + 10, 2 * 64 * 10, 1],
    ]);
    expect([s.inputShape, s.outputShape, s.totalParameters, s.trainableParameters, s.totalMacs]).toEqual([[2, 1, 8, 8], [2, 10], 698, 698, 5888]);
    expect(s.text.split('\n').slice(-6)).toEqual([
      'Total params: 698', 'Trainable params: 698', 'Non-trainable params: 0', 'Total mult-adds: 5,888',
      'Input shape: [2, 1, 8, 8]', 'Output shape: [2, 10]']);
    expect(s.text).toContain('  0 (Conv2d)');
    // The pass leaves no trace: modes restored, running statistics and the batch count untouched, forward unwrapped.
    expect(model.training).toBe(true);
    expect(bn.training).toBe(false);
    expect(bn.numBatchesTracked.item()).toBe(0);
    expect(Array.from(bn.runningMean.dataSync())).toEqual([0, 0, 0, 0]);
    expect(model.modules().some((m) => Object.hasOwn(m, 'forward'))).toBe(false);
  });

  test('similarity layers: the fused transform and the predictor\'s own convolutions', () => {
    // Dynamic diagonal, C = 2 → F = 3, K = 9, h = 4, on 5×5: main conv 75·18, M_p applied 25·2·9; sphere conv
    // 100·18, squares 50, box filter 25·9; head conv (4 → 9 filters) 225·36.
    const dyn = new nn.DynamicSimilarityConv2d(2, 3, 3, { padding: 1, hidden: 4 });
    const s = dyn.summary([1, 2, 5, 5]);
    expect(s.layers.map((l) => [l.name, l.outputShape, l.parameters, l.macs])).toEqual([
      ['', [1, 3, 5, 5], 54 + 3 + 72 + 8 + 324 + 18, 1350 + 450 + 1800 + 50 + 225 + 8100],
      ['sphere', [1, 4, 5, 5], 72, 1800 + 50 + 225],
      ['bn1', [1, 4, 5, 5], 8, 0],
      ['head', [1, 9, 5, 5], 324, 8100],
      ['bn2', [1, 9, 5, 5], 18, 0],
    ]);
    // Dynamic spatial: M_p costs K²·C per position.
    expect(new nn.DynamicSimilarityConv2d(2, 3, 3, { padding: 1, hidden: 4, form: 'spatial' }).summary([1, 2, 5, 5]).layers[0].macs)
      .toBe(1350 + 25 * 2 * 81 + (1800 + 50 + 225) + 81 * 25 * 36);
    // Static spatial: the convolution plus folding M into the weight, F·C·K².
    expect(new nn.SimilarityConv2d(2, 3, 3, { padding: 1 }).summary([1, 2, 5, 5]).totalMacs).toBe(1350 + 54 * 9);
    // Dynamic filters: the per-sample convolution plus the generator's two Linear layers.
    const filt = new nn.DynamicFilterConv2d(2, 3, 3, { padding: 1, hidden: 4 }).summary([1, 2, 5, 5]);
    expect([filt.totalParameters, filt.totalMacs]).toEqual([57 + 12 + 270, 1350 + 8 + 216]);
  });

  test('print writes the table', () => {
    const log = jest.spyOn(console, 'log').mockImplementation(() => undefined);
    try {
      const s = new nn.Linear(3, 2).summary([4, 3], { print: true });
      expect(log).toHaveBeenCalledWith(s.text);
      expect(s.totalMacs).toBe(24);
    } finally {
      log.mockRestore();
    }
  });
});

describe('state dicts', () => {
  const convBnReluLinear = (): ns.nn.Sequential => new nn.Sequential(
    new nn.Conv2d(3, 8, 3), new nn.BatchNorm2d(8), new nn.ReLU(), new nn.Flatten(), new nn.Linear(8 * 6 * 6, 10));

  test('names, layouts and order as PyTorch\'s for Conv-BN-ReLU-Linear', () => {
    expect(shapes(convBnReluLinear().stateDict())).toEqual([
      ['0.weight', [8, 3, 3, 3], 'float32'],
      ['0.bias', [8], 'float32'],
      ['1.weight', [8], 'float32'],
      ['1.bias', [8], 'float32'],
      ['1.running_mean', [8], 'float32'],
      ['1.running_var', [8], 'float32'],
      ['1.num_batches_tracked', [], 'int32'],
      ['4.weight', [10, 288], 'float32'],
      ['4.bias', [10], 'float32'],
    ]);
  });

  test('strict loading: everything matches, or an error listing the missing and unexpected names and nothing copied', () => {
    const a = convBnReluLinear(), b = convBnReluLinear();
    expect(b.loadStateDict(a.stateDict())).toEqual({ missingKeys: [], unexpectedKeys: [] });
    const state = { ...a.stateDict(), extra: ns.ones([1]) } as Record<string, ns.Tensor>;
    delete state['1.running_var'];
    delete state['4.bias'];
    nn.init.constant_(a.stateDict()['0.weight'], 7);
    expect(() => b.loadStateDict(state)).toThrow(new Error("loadStateDict: missing tensors '1.running_var', '4.bias'; unexpected tensor 'extra'"));
    expect(Array.from(b.stateDict()['0.weight'].dataSync())).not.toContain(7);
  });

  test('non-strict loading copies what matches and reports the rest', () => {
    const a = convBnReluLinear(), b = convBnReluLinear();
    const state: Record<string, ns.Tensor> = { '0.weight': a.stateDict()['0.weight'], '9.weight': ns.ones([2]) };
    expect(b.loadStateDict(state, { strict: false })).toEqual({
      missingKeys: ['0.bias', '1.weight', '1.bias', '1.running_mean', '1.running_var', '1.num_batches_tracked', '4.weight', '4.bias'],
      unexpectedKeys: ['9.weight'],
    });
    expect(b.stateDict()['0.weight'].dataSync()).toEqual(a.stateDict()['0.weight'].dataSync());
    expect(b.stateDict()['0.bias'].dataSync()).not.toEqual(a.stateDict()['0.bias'].dataSync());
  });

  test('dtypes are converted and the module keeps its own; the loaded tensors are copies', () => {
    const m = new nn.Sequential(new nn.Linear(2, 2), new nn.BatchNorm1d(2));
    const state: Record<string, ns.Tensor> = {
      '0.weight': ns.tensor([[1, 2], [3, 4]], undefined, { dtype: 'float64' }),
      '0.bias': ns.tensor([0.5, -0.5], undefined, { dtype: 'float64' }),
      '1.weight': ns.ones([2]), '1.bias': ns.zeros([2]), '1.running_mean': ns.zeros([2]), '1.running_var': ns.ones([2]),
      '1.num_batches_tracked': ns.tensor(42, undefined, { dtype: 'float32' }),
    };
    m.loadStateDict(state);
    const own = m.stateDict();
    expect([own['0.weight'].dtype, own['1.num_batches_tracked'].dtype]).toEqual(['float32', 'int32']);
    expect(own['0.weight'].toArray()).toEqual([[1, 2], [3, 4]]);
    expect(own['1.num_batches_tracked'].item()).toBe(42);
    expect(own['0.weight']).not.toBe(state['0.weight']);
  });

  const target = new nn.Linear(2, 3);
  describeErrors('loading errors', [
    ['a shape mismatch, even when not strict', () => target.loadStateDict({ weight: ns.ones([2, 3]) }, { strict: false }), RangeError,
      "loadStateDict: expected 'weight' of shape [3, 2] but got [2, 3]"],
    ['a value that is not a tensor', () => target.loadStateDict({ weight: [1, 2] as never, bias: ns.ones([3]) }), TypeError,
      "loadStateDict: expected 'weight' to be a Tensor but got an object (Array)"],
    ['a state that is not a record', () => target.loadStateDict(null as never), TypeError,
      'loadStateDict: expected a record of tensors by name but got null'],
    ['strict not a boolean', () => target.loadStateDict({}, { strict: 'no' as never }), TypeError,
      'loadStateDict: expected strict to be a boolean but got string'],
  ]);
});

describe('buffers and devices', () => {
  test('num_batches_tracked counts training-mode forward passes only', () => {
    const bn = new nn.BatchNorm2d(2);
    const x = ns.randn([3, 2, 2, 2]);
    for (let i = 0; i < 3; i++) ns.tidy(() => bn.forward(x));
    ns.noGrad(() => bn.forward(x));  // noGrad is not evaluation mode: it counts
    expect([bn.numBatchesTracked.item(), bn.numBatchesTracked.dtype, bn.numBatchesTracked.shape]).toEqual([4, 'int32', []]);
    bn.eval();
    bn.forward(x);
    expect(bn.numBatchesTracked.item()).toBe(4);
    expect(bn.stateDict()['num_batches_tracked']).toBe(bn.numBatchesTracked);
  });

  test("to('cpu') on CPU tensors keeps every tensor, its identity and its values", () => {
    const m = onDevice('cpu', () => new Block());
    ns.sum(m.forward(ns.randn([2, 1, 3, 3], { device: 'cpu' }))).backward();
    const before = [...m.parameters(), ...m.buffers()].map((t) => [t, Array.from(t.dataSync())] as const);
    expect(m.to('cpu')).toBe(m);
    expect(m.cpu()).toBe(m);
    for (const [t, values] of before) {
      expect(t.device).toBe('cpu');
      expect(Array.from(t.dataSync())).toEqual(values);
    }
    expect([...m.parameters(), ...m.buffers()]).toEqual(before.map(([t]) => t));
    expect(m.parameters().every((p) => p.grad?.device === 'cpu')).toBe(true);
    expect(() => m.to('gpu' as never)).toThrow(new TypeError("Block.to: expected device 'cpu' or 'cuda' but got gpu"));
  });

  test('non-persistent buffers move with the module but stay out of the state dict', () => {
    const sphere = new nn.SphereConv2d(2, 3, 3);
    expect(names(sphere.namedBuffers())).toEqual(['box']);
    expect(Object.keys(sphere.stateDict())).toEqual(['weight']);
    const dyn = new nn.DynamicSimilarityConv2d(2, 3, 3, { hidden: 4 });
    expect(names(dyn.namedBuffers())).toEqual([
      'identity', 'sphere.box', 'bn1.running_mean', 'bn1.running_var', 'bn1.num_batches_tracked',
      'bn2.running_mean', 'bn2.running_var', 'bn2.num_batches_tracked']);
    expect(Object.keys(dyn.stateDict())).not.toContain('identity');
  });
});

const cudaAvailable = ns.cuda.isAvailable();
if (!cudaAvailable) console.warn(`test/nn-module.test.ts: CUDA part skipped: no usable CUDA device (${ns.backendInfo().reason})`);

(cudaAvailable ? describe : describe.skip)('on CUDA', () => {
  const build = (): ns.nn.Sequential => new nn.Sequential(new nn.DynamicSimilarityConv2d(2, 3, 3, { padding: 1, hidden: 4 }), new nn.BatchNorm2d(3),
    new nn.GELU(), new nn.AdaptiveAvgPool2d([2, 3]), new nn.Flatten(), new nn.Linear(18, 4));

  test("to('cuda') moves parameters, gradients and every buffer (non-persistent ones too); CPU state loads onto CUDA", () => {
    ns.manualSeed(9);
    const model = onDevice('cpu', build);
    const data = ns.randn([2, 2, 5, 5], { device: 'cpu' }).dataSync();
    ns.sum(model.forward(ns.tensor(data, [2, 2, 5, 5], { device: 'cpu' }))).backward();
    const twin = onDevice('cuda', build);
    expect([...twin.parameters(), ...twin.buffers()].every((t) => t.device === 'cuda')).toBe(true);
    twin.loadStateDict(model.stateDict());  // CPU tensors copied onto the module's device
    expect(Object.values(twin.stateDict()).every((t) => t.device === 'cuda')).toBe(true);
    model.to('cuda');
    expect(model.parameters().every((p) => p.device === 'cuda' && p.grad?.device === 'cuda')).toBe(true);
    expect(model.buffers().every((t) => t.device === 'cuda')).toBe(true);
    model.eval();
    twin.eval();
    const x = ns.tensor(data, [2, 2, 5, 5], { device: 'cuda' });
    const a = model.forward(x), b = twin.forward(x);
    expect(a.device).toBe('cuda');
    expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
    model.to('cpu');
    expect([...model.parameters(), ...model.buffers()].every((t) => t.device === 'cpu')).toBe(true);
  });

  test('num_batches_tracked counts on the device; summary runs on the module\'s device', () => {
    onDevice('cuda', () => {
      const bn = new nn.BatchNorm2d(2);
      const x = ns.randn([3, 2, 2, 2]);
      for (let i = 0; i < 3; i++) ns.tidy(() => bn.forward(x));
      expect([bn.numBatchesTracked.device, bn.numBatchesTracked.item()]).toEqual(['cuda', 3]);
      const model = new nn.Sequential(new nn.Conv2d(1, 2, 3, { padding: 1 }), bn, new nn.Flatten());
      const s = model.summary([1, 1, 4, 4]);
      expect([s.outputShape, s.totalMacs]).toEqual([[1, 32], 16 * 2 * 9]);
      expect(bn.numBatchesTracked.item()).toBe(3);
    });
  });

  test('the composite layers agree with the CPU', () => {
    const data = ns.randn([2, 3, 7, 5], { device: 'cpu' }).dataSync();
    const on = (device: ns.Device): ns.Tensor => ns.tensor(data, [2, 3, 7, 5], { device });
    for (const layer of [new nn.GELU(), new nn.GELU({ approximate: 'tanh' }), new nn.LeakyReLU(0.2), new nn.AdaptiveAvgPool2d([3, 2]), new nn.AdaptiveAvgPool2d(1)]) {
      const cpu = layer.forward(on('cpu')).dataSync(), gpu = layer.forward(on('cuda')).dataSync();
      gpu.forEach((v, i) => expect(Math.abs(v - cpu[i])).toBeLessThan(1e-6 * Math.max(1, Math.abs(cpu[i]))));
    }
  });
});

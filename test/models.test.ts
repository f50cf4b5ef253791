/**
 * The paper's networks (lib/models): the 9-layer network's shapes for 32×32 and 28×28 inputs and its layer
 * kinds, Conv-4's embedding sizes, configs rebuilding the same network, and the argument checks.
 */
import * as ns from '../lib';
import { expectError } from './helpers';

const { cifar9, conv4, buildModel } = ns.models;

test('cifar9: a logit per class for 32×32 and 28×28 inputs (the classifier kernel follows the input)', () => {
  ns.noGrad(() => ns.tidy(() => {
    expect(cifar9('plain').forward(ns.zeros([2, 3, 32, 32])).shape).toEqual([2, 10]);
    const small = cifar9('static-diagonal', { inChannels: 1, classes: 7, inputSize: 28 });
    expect(small.forward(ns.zeros([3, 1, 28, 28])).shape).toEqual([3, 7]);
    expect(small.summary([1, 1, 28, 28]).layers.find((l) => l.name === '33')?.outputShape).toEqual([1, 7, 1, 1]);
  }));
});

test('conv4: four blocks of width 64; a 28×28 image embeds into 64 features, 84×84 into 1,600', () => {
  ns.noGrad(() => ns.tidy(() => {
    for (const kind of ns.models.LAYER_KINDS) {
      const model = conv4(kind);
      expect(model.forward(ns.zeros([2, 1, 28, 28])).shape).toEqual([2, 64]);
      const names = [...model.namedModules()].filter(([name]) => /^\d+$/.test(name)).map(([, m]) => m.constructor.name);
      expect(names.filter((n) => n === 'MaxPool2d')).toHaveLength(4);
      expect(names.filter((n) => n === 'BatchNorm2d')).toHaveLength(4);
    }
    expect(conv4('plain', { inChannels: 3 }).forward(ns.zeros([1, 3, 84, 84])).shape).toEqual([1, 1600]);
  }));
});

test('buildModel rebuilds conv4 and cifar9 from their configs (same state-dict names and shapes)', () => {
  const a = conv4('dynamic-diagonal'), b = buildModel({ name: 'conv4', kind: 'dynamic-diagonal', inChannels: 1 });
  const shapes = (m: ns.nn.Module) => Object.fromEntries(Object.entries(m.stateDict()).map(([k, t]) => [k, t.shape]));
  expect(shapes(b)).toEqual(shapes(a));
  const c = buildModel({ name: 'cifar9', kind: 'plain', inChannels: 1, classes: 10, inputSize: 28 });
  expect(c.stateDict()['33.weight'].shape).toEqual([10, 128, 3, 3]);
});

test('bad arguments', () => {
  expectError(() => conv4('plain', { channels: 3 } as never), TypeError, "conv4: unknown option 'channels' (expected inChannels)");
  expectError(() => cifar9('plain', { size: 28 } as never), TypeError, "cifar9: unknown option 'size' (expected inChannels, classes or inputSize)");
  expectError(() => conv4('fancy' as never), TypeError, /conv4: expected kind to be one of plain, .* but got fancy/);
  expectError(() => cifar9('plain', { inputSize: 4 }), RangeError, 'cifar9: expected inputSize to be an integer ≥ 8 but got 4');
  expectError(() => buildModel({ name: 'resnet' } as never), TypeError, "buildModel: expected name 'cifar9', 'smallCnn' or 'conv4' but got resnet");
});

import * as ns from '../lib';
import { describeErrors, rand, toTensor } from './helpers';
import { gradcheck } from './gradcheck';

const leaf = (values: number[], dtype: ns.DType = 'float64'): ns.Tensor => ns.tensor(values, [values.length], { dtype, requiresGrad: true });
const grad = (t: ns.Tensor): number[] => Array.from(t.grad!.dataSync());

describe('autograd', () => {
  test('gradients accumulate across backward calls', () => {
    const x = leaf([1, -2, 3]);
    ns.sum(ns.mul(x, x)).backward();
    expect(grad(x)).toEqual([2, -4, 6]);
    ns.sum(ns.mul(x, 3)).backward();
    expect(grad(x)).toEqual([5, -1, 9]);
  });

  test('a tensor used twice gets the sum of both gradients', () => {
    const x = leaf([1, 2, 3]);
    ns.sum(ns.add(ns.mul(x, x), x)).backward();
    expect(grad(x)).toEqual([3, 5, 7]);
    // A diamond: both branches go through the same intermediate.
    const y = leaf([0.5, -1]);
    const a = ns.mul(y, 2);
    ns.sum(ns.mul(ns.exp(a), ns.sub(a, 1))).backward();
    [0.5, -1].forEach((v, i) => expect(grad(y)[i]).toBeCloseTo(2 * Math.exp(2 * v) * 2 * v, 12));
  });

  test('only leaves that require grad receive .grad', () => {
    const x = leaf([1, 2]), c = ns.tensor([3, 4], [2], { dtype: 'float64' });
    const h = ns.mul(x, c);
    ns.sum(h).backward();
    expect(grad(x)).toEqual([3, 4]);
    expect(c.grad).toBeNull();
    expect(c.requiresGrad).toBe(false);
    expect(h.grad).toBeNull();
    expect(h.requiresGrad).toBe(true);
  });

  test('noGrad records nothing and restores the previous state, even after a throw', () => {
    const x = leaf([1, 2]);
    const y = ns.noGrad(() => {
      expect(ns.isGradEnabled()).toBe(false);
      return ns.mul(x, x);
    });
    expect(ns.isGradEnabled()).toBe(true);
    expect(y.requiresGrad).toBe(false);
    expect(() => ns.noGrad(() => { throw new Error('inside'); })).toThrow('inside');
    expect(ns.isGradEnabled()).toBe(true);
    expect(() => y.backward()).toThrow(/^backward: expected a tensor that requires grad/);
  });

  test('detach shares the elements but cuts the graph', () => {
    const x = leaf([1, 2, 3]);
    const d = x.detach();
    expect(d.requiresGrad).toBe(false);
    expect(Array.from(d.dataSync())).toEqual([1, 2, 3]);
    ns.sum(ns.mul(x, d)).backward();
    expect(grad(x)).toEqual([1, 2, 3]);  // not 2x: the detached factor is a constant
  });

  test('retainGraph allows a second backward; without it the second one throws', () => {
    const x = leaf([1, 2]);
    const y = ns.sum(ns.mul(x, x));
    y.backward(undefined, { retainGraph: true });
    y.backward();
    expect(grad(x)).toEqual([4, 8]);
    expect(() => y.backward()).toThrow(
      "backward: the graph through 'sum' was already used by an earlier backward(); pass { retainGraph: true } to the first call to go through it twice");
  });

  test('backward with an explicit gradient, which it leaves intact', () => {
    const x = ns.tensor(Float64Array.from([1, 2, 3, 4, 5, 6]), [2, 3], { requiresGrad: true });
    const b = leaf([1, 1, 1]);
    const g = ns.tensor(Float64Array.from([1, 0, -1, 2, 0.5, 3]), [2, 3]);
    ns.add(ns.mul(x, 2), b).backward(g);
    expect(grad(x)).toEqual([2, 0, -2, 4, 1, 6]);
    expect(grad(b)).toEqual([3, 0.5, 2]);  // summed over the broadcast dimension
    expect(g.isDisposed).toBe(false);
    expect(Array.from(g.dataSync())).toEqual([1, 0, -1, 2, 0.5, 3]);
  });

  test('backward of a leaf sets its own gradient', () => {
    const x = leaf([5]);
    x.backward();
    expect(grad(x)).toEqual([1]);
  });

  test('saved tensors are released after backward (and kept with retainGraph)', () => {
    const x = leaf([1, 2]), w = leaf([3, 4]);
    const y = ns.sum(ns.mul(x, w));
    const kept = ns.sum(ns.mul(x, w));
    const node = y.gradFn!, keptNode = kept.gradFn!;
    expect(node.backward).not.toBeNull();
    y.backward();
    expect(node.backward).toBeNull();
    expect(node.inputs).toEqual([]);
    kept.backward(undefined, { retainGraph: true });
    expect(keptNode.backward).not.toBeNull();
    expect(keptNode.inputs.length).toBe(1);
  });

  test('a deep graph does not overflow the stack', () => {
    const x = leaf([1]);
    let y = x;
    for (let i = 0; i < 20000; i++) y = ns.add(y, 1);
    y.backward();
    expect(grad(x)).toEqual([1]);
  });

  test('intermediate gradients are freed during backward', () => {
    ns.tidy(() => {
      const x = leaf([1, 2, 3]);
      const loss = ns.sum(ns.exp(ns.mul(ns.tanh(x), 2)));
      const before = ns.memory().numTensors;
      loss.backward();
      // Only the leaf's gradient remains.
      expect(ns.memory().numTensors).toBe(before + 1);
      x.grad!.dispose();
    });
  });

  test('the gradient check detects a wrong gradient', () => {
    // x · detach(x) has analytic gradient x but derivative 2x.
    expect(() => gradcheck((x) => ns.mul(x, x.detach()), [rand([3], 1, { lo: 1, hi: 2 })])).toThrow(/analytic/);
  });

  test('float32 gradients', () => {
    const x = leaf([1, 2], 'float32');
    ns.sum(ns.square(x)).backward();
    expect(x.grad!.dtype).toBe('float32');
    expect(grad(x)).toEqual([2, 4]);
  });
});

describe('autograd errors', () => {
  const x = leaf([1, 2, 3]);
  describeErrors('backward and requiresGrad', [
    ['backward of a non-scalar without a gradient', () => ns.mul(x, 2).backward(), RangeError,
      'backward: expected a gradient argument for a tensor of shape [3] (only one-element tensors get an implicit gradient of 1)'],
    ['backward of a tensor that does not require grad', () => ns.ones([1]).backward(), Error,
      'backward: expected a tensor that requires grad (computed from tensors with requiresGrad) but got one that does not'],
    ['gradient of the wrong shape', () => ns.mul(x, 2).backward(ns.ones([2], { dtype: 'float64' })), RangeError,
      'backward: expected grad of shape [3] but got [2]'],
    ['gradient of the wrong dtype', () => ns.mul(x, 2).backward(ns.ones([3])), TypeError, 'backward: expected grad of dtype float64 but got float32'],
    ['gradient not a tensor', () => ns.mul(x, 2).backward([1, 1, 1] as never), TypeError, 'backward: expected grad to be a Tensor but got object'],
    ['disposed gradient', () => ns.mul(x, 2).backward(((g) => (g.dispose(), g))(ns.ones([3], { dtype: 'float64' }))), Error,
      'backward: grad (shape [3]) is disposed'],
    ['disposed root', () => ((y) => (y.dispose(), y.backward()))(ns.sum(x)), Error, 'backward: the tensor (shape []) is disposed'],
    ['retainGraph not a boolean', () => ns.sum(x).backward(undefined, { retainGraph: 1 as never }), TypeError,
      'backward: expected retainGraph to be a boolean but got the number 1'],
    ['options not an object', () => ns.sum(x).backward(undefined, 'keep' as never), TypeError,
      'backward: expected options to be an object but got string'],
    ['requiresGrad on int32', () => { ns.zeros([2], { dtype: 'int32' }).requiresGrad = true; }, TypeError,
      'requiresGrad: expected a float32 or float64 tensor but got int32 (integers have no gradient)'],
    ['requiresGrad not a boolean', () => { ns.zeros([2]).requiresGrad = 1 as never; }, TypeError,
      'requiresGrad: expected a boolean but got number'],
    ['requiresGrad turned off on an op output', () => { ns.mul(x, 2).requiresGrad = false; }, Error,
      'requiresGrad: cannot be turned off on a tensor computed by an op; use detach()'],
    ['a saved input disposed before backward', () => {
      const a = toTensor(rand([2], 3), 'float64', true), b = toTensor(rand([2], 4), 'float64');
      const y = ns.sum(ns.mul(a, b));
      b.dispose();
      y.backward();
    }, Error, 'mul: b (shape [2]) is disposed'],
  ]);
});

/**
 * Finite-difference gradient check in float64, as PyTorch's gradcheck: the analytic gradient of
 * loss = Σ op(inputs) · R (R a fixed random projection, so the whole Jacobian-vector product is
 * checked) against central differences with eps = 1e-6, element by element:
 * |analytic − numeric| ≤ 1e-3 · max(1, |numeric|).
 */
import * as ns from '../lib';
import { Arr } from './reference';
import { rand, toTensor } from './helpers';

export interface GradcheckOptions {
  /** Which inputs to differentiate with respect to (default all). */
  wrt?: boolean[];
  /** Seed of the projection R. */
  seed?: number;
}

const EPS = 1e-6;
const RTOL = 1e-3;

/** Σ out·R computed in plain float64 from the op's output (no library arithmetic). */
function projected(fn: (...xs: ns.Tensor[]) => ns.Tensor, inputs: Arr[], r: Arr): number {
  return ns.noGrad(() => ns.tidy(() => {
    const out = fn(...inputs.map((a) => toTensor(a)));
    const y = out.dataSync();
    let s = 0;
    for (let i = 0; i < y.length; i++) s += y[i] * r.data[i];
    return s;
  }));
}

export function gradcheck(fn: (...xs: ns.Tensor[]) => ns.Tensor, inputs: Arr[], options: GradcheckOptions = {}): void {
  const wrt = options.wrt ?? inputs.map(() => true);
  // Analytic: backward through the library.
  let r: Arr = { shape: [], data: new Float64Array(0) };
  const analytic = ns.tidy(() => {
    const xs = inputs.map((a, i) => toTensor(a, 'float64', wrt[i]));
    const out = fn(...xs);
    expect(out.dtype).toBe('float64');
    expect(out.requiresGrad).toBe(true);
    r = rand([...out.shape], options.seed ?? 1234);
    ns.sum(ns.mul(out, toTensor(r))).backward();
    return xs.map((x) => {
      const g = x.grad ? Float64Array.from(x.grad.dataSync()) : null;
      if (g) expect(x.grad!.shape).toEqual(x.shape);
      x.grad?.dispose();
      return g;
    });
  });
  // Numeric: central differences, one element at a time.
  const failures: string[] = [];
  inputs.forEach((input, k) => {
    if (!wrt[k]) return;
    const a = analytic[k] ?? new Float64Array(input.data.length);
    for (let i = 0; i < input.data.length; i++) {
      const at = (delta: number): number => {
        const data = Float64Array.from(input.data);
        data[i] += delta;
        return projected(fn, inputs.map((x, j) => (j === k ? { shape: x.shape, data } : x)), r);
      };
      const numeric = (at(EPS) - at(-EPS)) / (2 * EPS);
      if (!(Math.abs(a[i] - numeric) <= RTOL * Math.max(1, Math.abs(numeric))) && failures.length < 8) {
        failures.push(`input ${k} element ${i}: analytic ${a[i]}, numeric ${numeric}`);
      }
    }
  });
  expect(failures).toEqual([]);
}

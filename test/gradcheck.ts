/**
 * Finite-difference gradient check in float64, as PyTorch's gradcheck: the analytic gradient of
 * loss = Σ op(inputs) · R (R a fixed random projection, so the whole Jacobian-vector product is
 * checked) against central differences with eps = 1e-6, element by element:
 * |analytic − numeric| ≤ 1e-3 · max(1, |numeric|).
 * The float32 backward runs too, on the same (float32-representable) inputs and R, and is held to the
 * same bound against the float64 numeric gradient.
 */
import * as ns from '../lib';
import { Arr } from './reference';
import { FloatDtype, rand, toTensor } from './helpers';

export interface GradcheckOptions {
  /** Which inputs to differentiate with respect to (default all). */
  wrt?: boolean[];
  /** Seed of the projection R. */
  seed?: number;
  /** Also check the float32 backward (default true). */
  float32?: boolean;
}

const EPS = 1e-6;
const RTOL = 1e-3;

/** Σ out·R computed in plain float64 from the op's output (no library arithmetic). */
function projected(fn: (...xs: ns.Tensor[]) => ns.Tensor, inputs: Arr[], r: Arr): number {
  return ns.noGrad(() => ns.tidy(() => {
    const y = fn(...inputs.map((a) => toTensor(a))).dataSync();
    let s = 0;
    for (let i = 0; i < y.length; i++) s += y[i] * r.data[i];
    return s;
  }));
}

/** The output shape of fn on the inputs. */
function outputShape(fn: (...xs: ns.Tensor[]) => ns.Tensor, inputs: Arr[]): number[] {
  return ns.noGrad(() => ns.tidy(() => [...fn(...inputs.map((a) => toTensor(a))).shape]));
}

/** Gradients of Σ fn(inputs)·R through the library's backward, in `dtype`. */
function analytic(fn: (...xs: ns.Tensor[]) => ns.Tensor, inputs: Arr[], wrt: boolean[], r: Arr, dtype: FloatDtype): (Float64Array | null)[] {
  return ns.tidy(() => {
    const xs = inputs.map((a, i) => toTensor(a, dtype, wrt[i]));
    const out = fn(...xs);
    expect(out.dtype).toBe(dtype);
    expect(out.requiresGrad).toBe(true);
    ns.sum(ns.mul(out, toTensor(r, dtype))).backward();
    return xs.map((x) => {
      if (!x.grad) return null;
      expect([x.grad.shape, x.grad.dtype]).toEqual([x.shape, dtype]);
      const g = Float64Array.from(x.grad.dataSync());
      x.grad.dispose();
      return g;
    });
  });
}

export function gradcheck(fn: (...xs: ns.Tensor[]) => ns.Tensor, inputs: Arr[], options: GradcheckOptions = {}): void {
  const wrt = options.wrt ?? inputs.map(() => true);
  const r = rand(outputShape(fn, inputs), options.seed ?? 1234);
  const dtypes: FloatDtype[] = options.float32 === false ? ['float64'] : ['float64', 'float32'];
  const grads = dtypes.map((dtype) => analytic(fn, inputs, wrt, r, dtype));
  const failures: string[] = [];
  inputs.forEach((input, k) => {
    if (!wrt[k]) return;
    for (let i = 0; i < input.data.length; i++) {
      const at = (delta: number): number => {
        const data = Float64Array.from(input.data);
        data[i] += delta;
        return projected(fn, inputs.map((x, j) => (j === k ? { shape: x.shape, data } : x)), r);
      };
      const numeric = (at(EPS) - at(-EPS)) / (2 * EPS);
      dtypes.forEach((dtype, d) => {
        const a = grads[d][k]?.[i] ?? 0;  // no gradient: zero
        if (!(Math.abs(a - numeric) <= RTOL * Math.max(1, Math.abs(numeric))) && failures.length < 8) {
          failures.push(`${dtype} input ${k} element ${i}: analytic ${a}, numeric ${numeric}`);
        }
      });
    }
  });
  expect(failures).toEqual([]);
}

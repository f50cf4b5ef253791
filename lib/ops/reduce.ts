/**
 * Reductions: sum, mean, max, min over any set of axes (keepDims or not), argmax, and sumTo (the
 * gradient of broadcasting).
 */
import { ReduceOp } from '../backend/native.generated';
import { backendOf } from '../backend/context';
import { Tensor, formatShape } from '../tensor';
import { record } from '../autograd/node';
import { checkBool, checkTensor, normalizeAxis } from './util';
import { broadcastTo, reshape } from './shape';
import { div, eq, mul } from './elementwise';

/** Axes to reduce: one, several, or (undefined) all. */
export type Axes = number | readonly number[] | undefined;

function resolveAxes(op: string, x: Tensor, axes: Axes): number[] {
  if (axes === undefined) return x.shape.map((_, i) => i);
  const list = typeof axes === 'number' ? [axes] : axes;
  if (!Array.isArray(list)) throw new TypeError(`${op}: expected axes to be a number or an array of numbers but got ${typeof axes}`);
  const resolved = list.map((a) => normalizeAxis(op, a, x.rank));
  if (new Set(resolved).size !== resolved.length) throw new RangeError(`${op}: expected distinct axes but got [${list.join(', ')}]`);
  return resolved.sort((a, b) => a - b);
}

/** The shape after reducing `axes` with keepDims. */
function keptShape(shape: readonly number[], axes: number[]): number[] {
  return shape.map((d, i) => (axes.includes(i) ? 1 : d));
}

/**
 * Runs the native reduction over `axes`, one pass per run of adjacent axes (each pass views the tensor
 * as [outer, r, inner]). Returns a tensor of the kept shape.
 */
function reduceKernel(name: string, code: number, x: Tensor, axes: number[], scale: number): Tensor {
  const k = backendOf(name, x);
  let current = x;
  let shape = [...x.shape];
  // Adjacent axes form one run; runs are reduced from the last one so indices stay valid.
  const runs: [number, number][] = [];
  for (const a of axes) {
    const last = runs[runs.length - 1];
    if (last && last[1] === a) last[1] = a + 1;
    else runs.push([a, a + 1]);
  }
  if (runs.length === 0) runs.push([0, 0]);
  for (let run = runs.length - 1; run >= 0; run--) {
    const [lo, hi] = runs[run];
    const outer = shape.slice(0, lo).reduce((p, d) => p * d, 1);
    const r = shape.slice(lo, hi).reduce((p, d) => p * d, 1);
    const inner = shape.slice(hi).reduce((p, d) => p * d, 1);
    if (code !== ReduceOp.sum && r === 0) {
      throw new RangeError(`${code === ReduceOp.max ? 'max' : 'min'}: expected a non-empty reduction but got shape ${formatShape(x.shape)}`);
    }
    shape = [...shape.slice(0, lo), ...shape.slice(lo, hi).map(() => 1), ...shape.slice(hi)];
    const out = k.empty(shape, x.dtype);
    k.run('reduce', code, outer, r, inner, run === 0 ? scale : 1, current.buffer, out.buffer);
    if (current !== x) current.dispose();
    current = out;
  }
  return current;
}

function finishShape(kept: Tensor, x: Tensor, axes: number[], keepDims: boolean): Tensor {
  if (keepDims) return kept;
  const squeezed = x.shape.filter((_, i) => !axes.includes(i));
  const out = reshape(kept, squeezed);
  kept.dispose();
  return out;
}

/** Σ over `axes` (all by default). */
export function sum(x: Tensor, axes?: Axes, keepDims = false): Tensor {
  checkTensor('sum', 'x', x);
  keepDims = checkBool('sum', 'keepDims', keepDims, false);
  const ax = resolveAxes('sum', x, axes);
  const out = finishShape(reduceKernel('sum', ReduceOp.sum, x, ax, 1), x, ax, keepDims);
  return record('sum', [x], out, (g) => [expandGrad(g, x, ax)]);
}

/** Mean over `axes` (all by default). */
export function mean(x: Tensor, axes?: Axes, keepDims = false): Tensor {
  checkTensor('mean', 'x', x);
  if (x.dtype === 'int32') throw new TypeError('mean: expected float32 or float64 but got int32');
  keepDims = checkBool('mean', 'keepDims', keepDims, false);
  const ax = resolveAxes('mean', x, axes);
  const count = ax.reduce((p, a) => p * x.shape[a], 1);
  const out = finishShape(reduceKernel('mean', ReduceOp.sum, x, ax, count === 0 ? 1 : 1 / count), x, ax, keepDims);
  if (count === 0) backendOf('mean', out).run('fill', NaN, out.buffer);  // 0/0, as PyTorch
  return record('mean', [x], out, (g) => {
    const e = expandGrad(g, x, ax);
    const r = mul(e, 1 / count);
    e.dispose();
    return [r];
  });
}

function extreme(name: 'max' | 'min', code: number, x: Tensor, axes: Axes, keepDims: boolean): Tensor {
  checkTensor(name, 'x', x);
  keepDims = checkBool(name, 'keepDims', keepDims, false);
  const ax = resolveAxes(name, x, axes);
  const kept = reduceKernel(name, code, x, ax, 1);
  const out = finishShape(kept, x, ax, keepDims);
  // The gradient goes to every element equal to the extreme, split evenly among ties.
  return record(name, [x], out, (g) => {
    const m = keepDims ? out : reshape(out, keptShape(x.shape, ax));
    const mask = eq(x, m);
    const count = reduceKernel(name, ReduceOp.sum, mask, ax, 1);
    const gk = keepDims ? g : reshape(g, keptShape(x.shape, ax));
    const share = div(gk, count);
    const r = mul(mask, share);
    for (const t of [mask, count, share]) t.dispose();
    if (m !== out) m.dispose();
    if (gk !== g) gk.dispose();
    return [r];
  });
}

/** Maximum over `axes` (all by default); ties share the gradient. */
export function max(x: Tensor, axes?: Axes, keepDims = false): Tensor {
  return extreme('max', ReduceOp.max, x, axes, keepDims);
}

/** Minimum over `axes` (all by default); ties share the gradient. */
export function min(x: Tensor, axes?: Axes, keepDims = false): Tensor {
  return extreme('min', ReduceOp.min, x, axes, keepDims);
}

/** Index of the first maximum along `axis` (int32, no gradient). */
export function argmax(x: Tensor, axis = -1, keepDims = false): Tensor {
  checkTensor('argmax', 'x', x);
  keepDims = checkBool('argmax', 'keepDims', keepDims, false);
  const a = normalizeAxis('argmax', axis, x.rank);
  if (x.rank === 0) return Tensor.fromHost([0], [], 'int32', x.device);
  if (x.shape[a] === 0) throw new RangeError(`argmax: expected a non-empty axis but got shape ${formatShape(x.shape)}`);
  const outer = x.shape.slice(0, a).reduce((p, d) => p * d, 1);
  const inner = x.shape.slice(a + 1).reduce((p, d) => p * d, 1);
  const shape = keepDims ? keptShape(x.shape, [a]) : x.shape.filter((_, i) => i !== a);
  const k = backendOf('argmax', x);
  const out = k.empty(shape, 'int32');
  k.run('argmax', outer, x.shape[a], inner, x.buffer, out.buffer);
  return out;
}

/** g (shaped like the reduction's output) broadcast back over x's shape. */
function expandGrad(g: Tensor, x: Tensor, axes: number[]): Tensor {
  const kept = reshape(g, keptShape(x.shape, axes));
  const out = broadcastTo(kept, x.shape);
  kept.dispose();
  return out;
}

/** Sums `g` over the dimensions along which `shape` was broadcast to g's shape (the gradient of broadcasting). */
export function sumTo(g: Tensor, shape: readonly number[]): Tensor {
  const lead = g.rank - shape.length;
  const axes: number[] = [];
  g.shape.forEach((d, i) => {
    if (i < lead || (shape[i - lead] === 1 && d !== 1)) axes.push(i);
  });
  const s = sum(g, axes, true);
  const out = reshape(s, shape);
  s.dispose();
  return out;
}

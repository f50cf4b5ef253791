/**
 * Pooling over the spatial dimensions of [N, C, H, W]: max, average, global average.
 */
import { backendOf } from '../backend/context';
import { Tensor } from '../tensor';
import { record } from '../autograd/node';
import { checkBool, checkOptions, checkPair, checkRank, floatTensor } from './util';
import { mean } from './reduce';

/** Options of the pooling ops. */
export interface Pool2dOptions {
  /** Step between windows (default: the kernel size). */
  stride?: number | [number, number];
  /** Implicit padding on each side, at most half the kernel (default 0). */
  padding?: number | [number, number];
  /** Round the output size up rather than down (default false). */
  ceilMode?: boolean;
}

/** Options of avgPool2d. */
export interface AvgPool2dOptions extends Pool2dOptions {
  /** Count padding positions in the divisor (default true, as PyTorch). */
  countIncludePad?: boolean;
}

interface PoolGeometry { dims: number[]; ho: number; wo: number }

function poolGeometry(op: string, x: Tensor, kernelSize: unknown, options: Pool2dOptions): PoolGeometry {
  checkRank(op, 'x', x, 4, '[N, C, H, W]');
  const [n, c, h, w] = x.shape;
  const [kh, kw] = checkPair(op, 'kernelSize', kernelSize ?? null, 0, 1);
  const [sh, sw] = checkPair(op, 'stride', options.stride, 0, 1).map((s, i) => (options.stride === undefined ? [kh, kw][i] : s));
  const [ph, pw] = checkPair(op, 'padding', options.padding, 0, 0);
  const ceil = checkBool(op, 'ceilMode', options.ceilMode, false);
  if (2 * ph > kh || 2 * pw > kw) {
    throw new RangeError(`${op}: expected padding at most half the kernel size (${kh}×${kw}) but got [${ph}, ${pw}]`);
  }
  if (h + 2 * ph < kh || w + 2 * pw < kw) {
    throw new RangeError(`${op}: expected the padded input (${h + 2 * ph}×${w + 2 * pw}) to be at least the kernel (${kh}×${kw})`);
  }
  if (x.size === 0) throw new RangeError(`${op}: expected a non-empty input but got shape [${x.shape.join(', ')}]`);
  const out = (size: number, k: number, s: number, p: number): number => {
    const span = size + 2 * p - k;
    let o = (ceil ? Math.ceil(span / s) : Math.floor(span / s)) + 1;
    if (ceil && (o - 1) * s >= size + p) o--;
    return o;
  };
  return { dims: [n, c, h, w, kh, kw, sh, sw, ph, pw, ceil ? 1 : 0], ho: out(h, kh, sh, ph), wo: out(w, kw, sw, pw) };
}

/** Max over kh × kw windows: x [N, C, H, W] → [N, C, Ho, Wo]; padding never wins. */
export function maxPool2d(x: Tensor, kernelSize: number | [number, number], options?: Pool2dOptions): Tensor {
  const op = 'maxPool2d';
  floatTensor(op, 'x', x);
  const g = poolGeometry(op, x, kernelSize, checkOptions(op, options, ['stride', 'padding', 'ceilMode']));
  const shape = [x.shape[0], x.shape[1], g.ho, g.wo];
  const k = backendOf(op, x);
  const y = k.empty(shape, x.dtype);
  const argmax = k.empty(shape, 'int32');
  k.run('maxPool2d', g.dims, x.buffer, y.buffer, argmax.buffer);
  const out = record(op, [x], y, (dy) => {
    const dx = k.empty(x.shape, x.dtype);
    k.run('maxPool2dBackward', g.dims, dy.buffer, argmax.buffer, dx.buffer);
    return [dx];
  });
  if (!out.gradFn) argmax.dispose();
  return out;
}

/** Mean over kh × kw windows: x [N, C, H, W] → [N, C, Ho, Wo]. */
export function avgPool2d(x: Tensor, kernelSize: number | [number, number], options?: AvgPool2dOptions): Tensor {
  const op = 'avgPool2d';
  floatTensor(op, 'x', x);
  const o = checkOptions(op, options, ['stride', 'padding', 'ceilMode', 'countIncludePad']);
  const g = poolGeometry(op, x, kernelSize, o);
  const includePad = checkBool(op, 'countIncludePad', o.countIncludePad, true) ? 1 : 0;
  const k = backendOf(op, x);
  const y = k.empty([x.shape[0], x.shape[1], g.ho, g.wo], x.dtype);
  k.run('avgPool2d', g.dims, includePad, x.buffer, y.buffer);
  return record(op, [x], y, (dy) => {
    const dx = k.empty(x.shape, x.dtype);
    k.run('avgPool2dBackward', g.dims, includePad, dy.buffer, dx.buffer);
    return [dx];
  });
}

/** Mean over H and W: x [N, C, H, W] → [N, C] (or [N, C, 1, 1] with keepDims). */
export function globalAvgPool2d(x: Tensor, keepDims = false): Tensor {
  floatTensor('globalAvgPool2d', 'x', x);
  checkRank('globalAvgPool2d', 'x', x, 4, '[N, C, H, W]');
  return mean(x, [2, 3], checkBool('globalAvgPool2d', 'keepDims', keepDims, false));
}

/**
 * Helpers shared by the layers: PyTorch-style value formatting for module reprs (extraRepr) and the
 * convolution geometry options every convolution layer takes. @internal
 */
import { checkInt, checkPair } from '../ops/util';

/** A Python float's repr: 0.1 → "0.1", 1 → "1.0", 1e-5 → "1e-05" (scientific below 1e-4 and from 1e16). @internal */
export function pyFloat(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  const [mantissa, exponent] = x.toExponential().split('e');
  const e = Number(exponent);
  if (e < -4 || e >= 16) return `${mantissa}e${e < 0 ? '-' : '+'}${String(Math.abs(e)).padStart(2, '0')}`;
  const s = String(x);
  return s.includes('.') ? s : `${s}.0`;
}

/** A Python bool: "True" / "False". @internal */
export function pyBool(b: boolean): string {
  return b ? 'True' : 'False';
}

/** A Python str's repr: 'text'. @internal */
export function pyStr(s: string): string {
  return `'${s}'`;
}

/** Indents every line but the first by two spaces (PyTorch's _addindent), for nested reprs. @internal */
export function indent(s: string): string {
  return s.split('\n').join('\n  ');
}

/** An int or a pair as PyTorch prints it: 2 → "2", [2, 3] → "(2, 3)". @internal */
export function pyIntOrPair(v: number | readonly [number, number]): string {
  return typeof v === 'number' ? String(v) : `(${v[0]}, ${v[1]})`;
}

/** Geometry options of a convolution layer (validated at construction, normalised to pairs). @internal */
export interface ConvGeometry {
  stride: [number, number];
  padding: [number, number] | 'valid' | 'same';
  dilation: [number, number];
}

/**
 * Checks a convolution layer's stride, padding and dilation (a number, a pair, or 'valid' / 'same' for the
 * padding) and returns them as pairs; the op checks the rest against the input at each call. @internal
 */
export function convGeometry(op: string, options: {
  stride?: number | [number, number];
  padding?: number | [number, number] | 'valid' | 'same';
  dilation?: number | [number, number];
}): ConvGeometry {
  const stride = checkPair(op, 'stride', options.stride, 1, 1);
  const dilation = checkPair(op, 'dilation', options.dilation, 1, 1);
  const padding = options.padding === 'valid' || options.padding === 'same' ? options.padding
    : checkPair(op, 'padding', options.padding, 0, 0);
  return { stride, padding, dilation };
}

/**
 * PyTorch's Conv2d repr arguments: "3, 8, kernel_size=(3, 3), stride=(1, 1)", then padding unless zero,
 * dilation unless one, groups unless one, and bias=False without a bias. @internal
 */
export function convRepr(inChannels: number, outChannels: number, kernel: readonly [number, number], geometry: ConvGeometry,
                         groups: number, bias: boolean): string {
  const { stride, padding, dilation } = geometry;
  let s = `${inChannels}, ${outChannels}, kernel_size=${pyIntOrPair(kernel)}, stride=${pyIntOrPair(stride)}`;
  if (typeof padding === 'string') s += `, padding=${padding}`;
  else if (padding[0] !== 0 || padding[1] !== 0) s += `, padding=${pyIntOrPair(padding)}`;
  if (dilation[0] !== 1 || dilation[1] !== 1) s += `, dilation=${pyIntOrPair(dilation)}`;
  if (groups !== 1) s += `, groups=${groups}`;
  if (!bias) s += ', bias=False';
  return s;
}

/** Checks an adaptive output size: [h, w], each an integer ≥ 1 or null (the input's size). @internal */
export function checkAdaptiveSize(op: string, outputSize: unknown): [number | null, number | null] {
  const pair = typeof outputSize === 'number' ? [outputSize, outputSize] : outputSize;
  if (!Array.isArray(pair) || pair.length !== 2) {
    throw new TypeError(`${op}: expected outputSize to be a number or a pair [h, w] but got ${outputSize === null ? 'null' : typeof outputSize}`);
  }
  const size = (i: number): number | null => (pair[i] === null ? null : checkInt(op, `outputSize[${i}]`, pair[i], 1));
  return [size(0), size(1)];
}

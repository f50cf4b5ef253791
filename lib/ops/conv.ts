/**
 * 2-D convolution (cross-correlation, as in PyTorch) with stride, padding, dilation and groups.
 */
import { backendOf } from '../backend/context';
import { Tensor, formatShape } from '../tensor';
import { record } from '../autograd/node';
import { checkInt, checkOptions, checkPair, checkRank, checkSameDtype, floatTensor } from './util';

/** Options of conv2d. Sizes are a number for both dimensions or [h, w]. */
export interface Conv2dOptions {
  /** [F] added to every output position of filter f. */
  bias?: Tensor | null;
  /** Step between output positions (default 1). */
  stride?: number | [number, number];
  /** Zeros added on each side (default 0), or 'valid' (0) or 'same' (output size = input size; stride 1). */
  padding?: number | [number, number] | 'valid' | 'same';
  /** Spacing between kernel taps (default 1). */
  dilation?: number | [number, number];
  /** Input channels and filters split into this many independent groups (default 1; C for depthwise). */
  groups?: number;
}

/** Resolved convolution geometry; `dims` is the binding's descriptor. @internal */
export interface ConvGeometry {
  n: number; c: number; h: number; w: number; f: number; kh: number; kw: number; groups: number;
  stride: [number, number]; padding: [number, number]; dilation: [number, number];
  ho: number; wo: number;
  dims: number[];
}

/**
 * Checks x [N, C, H, W], a kernel of kh × kw taps and the attributes; returns the geometry. `op` names
 * the caller in messages. @internal
 */
export function convGeometry(op: string, x: Tensor, f: number, cPerGroup: number, kh: number, kw: number,
                             options: Conv2dOptions, wName = 'w'): ConvGeometry {
  checkRank(op, 'x', x, 4, '[N, C, H, W]');
  const [n, c, h, w] = x.shape;
  const groups = checkInt(op, 'groups', options.groups ?? 1, 1);
  const stride = checkPair(op, 'stride', options.stride, 1, 1);
  const dilation = checkPair(op, 'dilation', options.dilation, 1, 1);
  let padding: [number, number];
  if (options.padding === 'valid') padding = [0, 0];
  else if (options.padding === 'same') {
    const th = dilation[0] * (kh - 1), tw = dilation[1] * (kw - 1);
    if (stride[0] !== 1 || stride[1] !== 1 || th % 2 || tw % 2) {
      throw new RangeError(`${op}: padding 'same' expected stride 1 and an odd effective kernel size but got stride ${formatShape(stride)}, kernel ${kh}×${kw}, dilation ${formatShape(dilation)}`);
    }
    padding = [th / 2, tw / 2];
  } else padding = checkPair(op, 'padding', options.padding, 0, 0);
  if (c % groups !== 0 || f % groups !== 0) {
    throw new RangeError(`${op}: expected groups (${groups}) to divide the input channels (${c}) and the filters (${f})`);
  }
  if (cPerGroup !== c / groups) {
    throw new RangeError(`${op}: expected ${wName} to have ${c / groups} input channels per group (x has C=${c}, groups=${groups}) but got ${cPerGroup}`);
  }
  const effH = dilation[0] * (kh - 1) + 1, effW = dilation[1] * (kw - 1) + 1;
  if (h + 2 * padding[0] < effH || w + 2 * padding[1] < effW) {
    throw new RangeError(`${op}: expected the padded input (${h + 2 * padding[0]}×${w + 2 * padding[1]}) to be at least the kernel's extent (${effH}×${effW})`);
  }
  const ho = Math.floor((h + 2 * padding[0] - effH) / stride[0]) + 1;
  const wo = Math.floor((w + 2 * padding[1] - effW) / stride[1]) + 1;
  const dims = [n, c, h, w, f, kh, kw, groups, stride[0], stride[1], padding[0], padding[1], dilation[0], dilation[1]];
  return { n, c, h, w, f, kh, kw, groups, stride, padding, dilation, ho, wo, dims };
}

/** Checks an optional bias [F] against x. @internal */
export function checkBias(op: string, bias: Tensor | null | undefined, f: number, x: Tensor): Tensor | null {
  if (bias === undefined || bias === null) return null;
  floatTensor(op, 'bias', bias);
  checkSameDtype(op, x, 'x', bias, 'bias');
  if (bias.rank !== 1 || bias.shape[0] !== f) {
    throw new RangeError(`${op}: expected bias of shape [${f}] but got ${formatShape(bias.shape)}`);
  }
  return bias;
}

/** Plain convolution on resolved geometry, recorded for autograd. @internal */
export function conv2dRaw(op: string, x: Tensor, w: Tensor, bias: Tensor | null, g: ConvGeometry): Tensor {
  const k = backendOf(op, x, w, bias);
  const y = k.empty([g.n, g.f, g.ho, g.wo], x.dtype);
  k.run('conv2dForward', g.dims, x.buffer, w.buffer, bias ? bias.buffer : null, y.buffer);
  return record(op, [x, w, bias], y, (dy) => {
    let dx: Tensor | null = null, dw: Tensor | null = null, db: Tensor | null = null;
    if (x.requiresGrad) {
      dx = k.empty(x.shape, x.dtype);
      k.run('conv2dBackwardInput', g.dims, dy.buffer, w.buffer, dx.buffer);
    }
    if (w.requiresGrad || bias?.requiresGrad) {
      const dwAll = k.empty(w.shape, w.dtype);
      db = bias?.requiresGrad ? k.empty(bias.shape, bias.dtype) : null;
      k.run('conv2dBackwardWeight', g.dims, x.buffer, dy.buffer, dwAll.buffer, db ? db.buffer : null);
      if (w.requiresGrad) dw = dwAll;
      else dwAll.dispose();
    }
    return [dx, dw, db];
  });
}

/**
 * 2-D convolution: x [N, C, H, W], w [F, C/groups, kh, kw] → [N, F, Ho, Wo] with
 * Ho = ⌊(H + 2·padH − dilH·(kh − 1) − 1) / strideH⌋ + 1 (likewise Wo).
 */
export function conv2d(x: Tensor, w: Tensor, options?: Conv2dOptions): Tensor {
  const op = 'conv2d';
  floatTensor(op, 'x', x);
  floatTensor(op, 'w', w);
  const o = checkOptions(op, options, ['bias', 'stride', 'padding', 'dilation', 'groups']);
  checkRank(op, 'w', w, 4, '[F, C/groups, kh, kw]');
  checkSameDtype(op, x, 'x', w, 'w');
  const [f, cg, kh, kw] = w.shape;
  if (f < 1 || kh < 1 || kw < 1) throw new RangeError(`${op}: expected a non-empty kernel but got w of shape ${formatShape(w.shape)}`);
  const g = convGeometry(op, x, f, cg, kh, kw, o);
  if (x.size === 0) throw new RangeError(`${op}: expected a non-empty input but got x of shape ${formatShape(x.shape)}`);
  return conv2dRaw(op, x, w, checkBias(op, o.bias, f, x), g);
}

/**
 * Float64 reference implementations of every op, written as plain loops over row-major arrays. They do
 * not use the library: tests compare the library's float32 and float64 results against them.
 */

/** A dense row-major float64 array. */
export interface Arr {
  shape: number[];
  data: Float64Array;
}

export const size = (shape: readonly number[]): number => shape.reduce((p, d) => p * d, 1);

export function strides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  for (let i = shape.length - 1, acc = 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

export const arr = (shape: number[], data?: ArrayLike<number>): Arr =>
  ({ shape: [...shape], data: data ? Float64Array.from(data) : new Float64Array(size(shape)) });

/** Multi-index of flat index `i` in `shape`. */
function unravel(i: number, shape: readonly number[]): number[] {
  const idx = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    idx[d] = i % shape[d];
    i = Math.floor(i / shape[d]);
  }
  return idx;
}

function ravel(idx: readonly number[], shape: readonly number[]): number {
  let i = 0;
  for (let d = 0; d < shape.length; d++) i = i * shape[d] + idx[d];
  return i;
}

export function broadcastShape(a: readonly number[], b: readonly number[]): number[] {
  const rank = Math.max(a.length, b.length);
  return Array.from({ length: rank }, (_, i) => {
    const da = a[i - (rank - a.length)] ?? 1, db = b[i - (rank - b.length)] ?? 1;
    if (da !== db && da !== 1 && db !== 1) throw new Error(`reference: shapes do not broadcast`);
    return Math.max(da, db) === 1 ? Math.min(da, db) : Math.max(da, db);
  });
}

/** Element of `a` read at an index of a (larger) broadcast shape. */
function readBroadcast(a: Arr, outIdx: readonly number[]): number {
  const lead = outIdx.length - a.shape.length;
  const idx = a.shape.map((d, k) => (d === 1 ? 0 : outIdx[lead + k]));
  return a.data[ravel(idx, a.shape)];
}

export function map(a: Arr, f: (x: number) => number): Arr {
  return { shape: [...a.shape], data: a.data.map(f) };
}

export function zip(a: Arr, b: Arr, f: (x: number, y: number) => number): Arr {
  const out = arr(broadcastShape(a.shape, b.shape));
  for (let i = 0; i < out.data.length; i++) {
    const idx = unravel(i, out.shape);
    out.data[i] = f(readBroadcast(a, idx), readBroadcast(b, idx));
  }
  return out;
}

export const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

export type ReduceKind = 'sum' | 'mean' | 'max' | 'min';

export function reduce(a: Arr, kind: ReduceKind, axes?: number | number[], keepDims = false): Arr {
  const rank = a.shape.length;
  const list = axes === undefined ? a.shape.map((_, i) => i) : (typeof axes === 'number' ? [axes] : axes);
  const ax = list.map((x) => (x < 0 ? x + rank : x));
  const kept = a.shape.map((d, i) => (ax.includes(i) ? 1 : d));
  const out = arr(kept);
  const count = ax.reduce((p, x) => p * a.shape[x], 1);
  out.data.fill(kind === 'max' ? -Infinity : kind === 'min' ? Infinity : 0);
  for (let i = 0; i < a.data.length; i++) {
    const idx = unravel(i, a.shape).map((v, d) => (ax.includes(d) ? 0 : v));
    const o = ravel(idx, kept), v = a.data[i];
    if (kind === 'max') out.data[o] = Math.max(out.data[o], v);
    else if (kind === 'min') out.data[o] = Math.min(out.data[o], v);
    else out.data[o] += v;
  }
  if (kind === 'mean') for (let o = 0; o < out.data.length; o++) out.data[o] /= count;
  return keepDims ? out : { shape: a.shape.filter((_, i) => !ax.includes(i)), data: out.data };
}

export function argmax(a: Arr, axis: number, keepDims = false): Arr {
  const ax = axis < 0 ? axis + a.shape.length : axis;
  const kept = a.shape.map((d, i) => (i === ax ? 1 : d));
  const out = arr(kept);
  const best = new Float64Array(out.data.length).fill(-Infinity);
  for (let i = 0; i < a.data.length; i++) {
    const idx = unravel(i, a.shape);
    const k = idx[ax];
    idx[ax] = 0;
    const o = ravel(idx, kept);
    if (a.data[i] > best[o]) {
      best[o] = a.data[i];
      out.data[o] = k;
    }
  }
  return keepDims ? out : { shape: a.shape.filter((_, i) => i !== ax), data: out.data };
}

export function permute(a: Arr, dims: number[]): Arr {
  const out = arr(dims.map((d) => a.shape[d]));
  for (let i = 0; i < out.data.length; i++) {
    const oi = unravel(i, out.shape);
    const src = new Array<number>(dims.length);
    dims.forEach((d, k) => (src[d] = oi[k]));
    out.data[i] = a.data[ravel(src, a.shape)];
  }
  return out;
}

export function slice(a: Arr, begin: number[], sizes: number[]): Arr {
  const out = arr(sizes);
  for (let i = 0; i < out.data.length; i++) {
    const idx = unravel(i, sizes).map((v, d) => v + begin[d]);
    out.data[i] = a.data[ravel(idx, a.shape)];
  }
  return out;
}

export function concat(parts: Arr[], axis: number): Arr {
  const shape = [...parts[0].shape];
  shape[axis] = parts.reduce((p, t) => p + t.shape[axis], 0);
  const out = arr(shape);
  let at = 0;
  for (const p of parts) {
    for (let i = 0; i < p.data.length; i++) {
      const idx = unravel(i, p.shape);
      idx[axis] += at;
      out.data[ravel(idx, shape)] = p.data[i];
    }
    at += p.shape[axis];
  }
  return out;
}

export function stack(parts: Arr[], axis: number): Arr {
  return concat(parts.map((p) => ({ shape: [...p.shape.slice(0, axis), 1, ...p.shape.slice(axis)], data: p.data })), axis);
}

export function broadcastTo(a: Arr, shape: number[]): Arr {
  const out = arr(shape);
  for (let i = 0; i < out.data.length; i++) out.data[i] = readBroadcast(a, unravel(i, shape));
  return out;
}

/** Matrix product with NumPy/PyTorch semantics (1-D operands promoted, batch dimensions broadcast). */
export function matmul(a: Arr, b: Arr): Arr {
  const a2 = a.shape.length === 1 ? { shape: [1, a.shape[0]], data: a.data } : a;
  const b2 = b.shape.length === 1 ? { shape: [b.shape[0], 1], data: b.data } : b;
  const [m, k] = a2.shape.slice(-2), n = b2.shape[b2.shape.length - 1];
  const batch = broadcastShape(a2.shape.slice(0, -2), b2.shape.slice(0, -2));
  const out = arr([...batch, m, n]);
  const ab = { shape: a2.shape.slice(0, -2), data: new Float64Array(0) };
  const bb = { shape: b2.shape.slice(0, -2), data: new Float64Array(0) };
  for (let q = 0; q < size(batch); q++) {
    const bi = unravel(q, batch);
    const pick = (t: { shape: number[] }): number => {
      const lead = bi.length - t.shape.length;
      return ravel(t.shape.map((d, j) => (d === 1 ? 0 : bi[lead + j])), t.shape);
    };
    const ao = pick(ab) * m * k, bo = pick(bb) * k * n;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let p = 0; p < k; p++) s += a2.data[ao + i * k + p] * b2.data[bo + p * n + j];
        out.data[(q * m + i) * n + j] = s;
      }
    }
  }
  let shape = [...batch, m, n];
  if (a.shape.length === 1) shape = shape.filter((_, i) => i !== shape.length - 2);
  if (b.shape.length === 1) shape = shape.slice(0, -1);
  return { shape, data: out.data };
}

/** y = x·wᵀ + bias over the last dimension of x. */
export function linear(x: Arr, w: Arr, bias?: Arr): Arr {
  const [outF, inF] = w.shape;
  const rows = size(x.shape) / inF;
  const out = arr([...x.shape.slice(0, -1), outF]);
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < outF; o++) {
      let s = bias ? bias.data[o] : 0;
      for (let i = 0; i < inF; i++) s += x.data[r * inF + i] * w.data[o * inF + i];
      out.data[r * outF + o] = s;
    }
  }
  return out;
}

export type Pair = number | [number, number];
const pair = (v: Pair | undefined, fallback: number): [number, number] =>
  v === undefined ? [fallback, fallback] : typeof v === 'number' ? [v, v] : v;

export interface ConvAttrs { stride?: Pair; padding?: Pair; dilation?: Pair; groups?: number }

/** 2-D cross-correlation, PyTorch semantics: x [N,C,H,W], w [F,C/groups,kh,kw] → [N,F,Ho,Wo]. */
export function conv2d(x: Arr, w: Arr, bias: Arr | null, attrs: ConvAttrs = {}): Arr {
  const [n, c, h, wd] = x.shape, [f, cg, kh, kw] = w.shape;
  const [sh, sw] = pair(attrs.stride, 1), [ph, pw] = pair(attrs.padding, 0), [dh, dw] = pair(attrs.dilation, 1);
  const groups = attrs.groups ?? 1, fg = f / groups;
  if (cg * groups !== c) throw new Error('reference conv2d: channel mismatch');
  const ho = Math.floor((h + 2 * ph - dh * (kh - 1) - 1) / sh) + 1;
  const wo = Math.floor((wd + 2 * pw - dw * (kw - 1) - 1) / sw) + 1;
  const out = arr([n, f, ho, wo]);
  for (let b = 0; b < n; b++) {
    for (let o = 0; o < f; o++) {
      const g = Math.floor(o / fg);
      for (let oy = 0; oy < ho; oy++) {
        for (let ox = 0; ox < wo; ox++) {
          let s = bias ? bias.data[o] : 0;
          for (let ci = 0; ci < cg; ci++) {
            for (let i = 0; i < kh; i++) {
              const iy = oy * sh - ph + i * dh;
              if (iy < 0 || iy >= h) continue;
              for (let j = 0; j < kw; j++) {
                const ix = ox * sw - pw + j * dw;
                if (ix < 0 || ix >= wd) continue;
                s += x.data[((b * c + g * cg + ci) * h + iy) * wd + ix] * w.data[((o * cg + ci) * kh + i) * kw + j];
              }
            }
          }
          out.data[((b * f + o) * ho + oy) * wo + ox] = s;
        }
      }
    }
  }
  return out;
}

/** The adjoint of conv2d: gradients of Σ conv2d(x, w, b)·dy with respect to x, w and b. */
export function conv2dBackward(x: Arr, w: Arr, dy: Arr, attrs: ConvAttrs = {}): { dx: Arr; dw: Arr; db: Arr } {
  const [n, c, h, wd] = x.shape, [f, cg, kh, kw] = w.shape, [, , ho, wo] = dy.shape;
  const [sh, sw] = pair(attrs.stride, 1), [ph, pw] = pair(attrs.padding, 0), [dh, dw] = pair(attrs.dilation, 1);
  const fg = f / (attrs.groups ?? 1);
  const gx = arr(x.shape), gw = arr(w.shape), gb = arr([f]);
  for (let b = 0; b < n; b++) {
    for (let o = 0; o < f; o++) {
      const g = Math.floor(o / fg);
      for (let oy = 0; oy < ho; oy++) {
        for (let ox = 0; ox < wo; ox++) {
          const d = dy.data[((b * f + o) * ho + oy) * wo + ox];
          gb.data[o] += d;
          for (let ci = 0; ci < cg; ci++) {
            for (let i = 0; i < kh; i++) {
              const iy = oy * sh - ph + i * dh;
              if (iy < 0 || iy >= h) continue;
              for (let j = 0; j < kw; j++) {
                const ix = ox * sw - pw + j * dw;
                if (ix < 0 || ix >= wd) continue;
                const xi = ((b * c + g * cg + ci) * h + iy) * wd + ix, wi = ((o * cg + ci) * kh + i) * kw + j;
                gx.data[xi] += w.data[wi] * d;
                gw.data[wi] += x.data[xi] * d;
              }
            }
          }
        }
      }
    }
  }
  return { dx: gx, dw: gw, db: gb };
}

export interface PoolAttrs { stride?: Pair; padding?: Pair; ceilMode?: boolean; countIncludePad?: boolean }

/** PyTorch's pooled size, with its rule that the last window must start inside the input or left padding. */
function pooledSize(size: number, k: number, s: number, p: number, ceil: boolean): number {
  let o = (ceil ? Math.ceil((size + 2 * p - k) / s) : Math.floor((size + 2 * p - k) / s)) + 1;
  if (ceil && (o - 1) * s >= size + p) o--;
  return o;
}

function pool2d(x: Arr, kernel: Pair, attrs: PoolAttrs, kind: 'max' | 'avg'): Arr {
  const [n, c, h, w] = x.shape;
  const [kh, kw] = pair(kernel, 0);
  const [sh, sw] = pair(attrs.stride, 0).map((s, i) => (attrs.stride === undefined ? [kh, kw][i] : s));
  const [ph, pw] = pair(attrs.padding, 0);
  const ceil = attrs.ceilMode ?? false, includePad = attrs.countIncludePad ?? true;
  const ho = pooledSize(h, kh, sh, ph, ceil), wo = pooledSize(w, kw, sw, pw, ceil);
  const out = arr([n, c, ho, wo]);
  for (let pl = 0; pl < n * c; pl++) {
    for (let oy = 0; oy < ho; oy++) {
      for (let ox = 0; ox < wo; ox++) {
        let y0 = oy * sh - ph, x0 = ox * sw - pw;
        let y1 = Math.min(y0 + kh, h + ph), x1 = Math.min(x0 + kw, w + pw);
        const padded = (y1 - y0) * (x1 - x0);
        y0 = Math.max(y0, 0);
        x0 = Math.max(x0, 0);
        y1 = Math.min(y1, h);
        x1 = Math.min(x1, w);
        let acc = kind === 'max' ? -Infinity : 0;
        for (let iy = y0; iy < y1; iy++) {
          for (let ix = x0; ix < x1; ix++) {
            const v = x.data[(pl * h + iy) * w + ix];
            acc = kind === 'max' ? Math.max(acc, v) : acc + v;
          }
        }
        out.data[(pl * ho + oy) * wo + ox] = kind === 'max' ? acc : acc / (includePad ? padded : (y1 - y0) * (x1 - x0));
      }
    }
  }
  return out;
}

export const maxPool2d = (x: Arr, kernel: Pair, attrs: PoolAttrs = {}): Arr => pool2d(x, kernel, attrs, 'max');
export const avgPool2d = (x: Arr, kernel: Pair, attrs: PoolAttrs = {}): Arr => pool2d(x, kernel, attrs, 'avg');

export interface BatchNormResult { y: Arr; runningMean: Arr; runningVar: Arr }

/** Batch norm over axis 1 of [N, C, ...]: batch statistics (training) or the running ones (eval). */
export function batchNorm(x: Arr, gamma: Arr | null, beta: Arr | null, runningMean: Arr, runningVar: Arr,
                          training: boolean, momentum = 0.1, eps = 1e-5): BatchNormResult {
  const [n, c] = x.shape, hw = size(x.shape.slice(2)), count = n * hw;
  const rm = arr([c], runningMean.data), rv = arr([c], runningVar.data);
  const y = arr(x.shape);
  for (let ch = 0; ch < c; ch++) {
    const at = (i: number, k: number): number => (i * c + ch) * hw + k;
    let mu = rm.data[ch], variance = rv.data[ch];
    if (training) {
      let s = 0;
      for (let i = 0; i < n; i++) for (let k = 0; k < hw; k++) s += x.data[at(i, k)];
      mu = s / count;
      let sq = 0;
      for (let i = 0; i < n; i++) for (let k = 0; k < hw; k++) sq += (x.data[at(i, k)] - mu) ** 2;
      variance = sq / count;
      rm.data[ch] = (1 - momentum) * rm.data[ch] + momentum * mu;
      rv.data[ch] = (1 - momentum) * rv.data[ch] + momentum * (sq / (count - 1));
    }
    const g = gamma ? gamma.data[ch] : 1, b = beta ? beta.data[ch] : 0;
    for (let i = 0; i < n; i++) {
      for (let k = 0; k < hw; k++) y.data[at(i, k)] = ((x.data[at(i, k)] - mu) / Math.sqrt(variance + eps)) * g + b;
    }
  }
  return { y, runningMean: rm, runningVar: rv };
}

/** softmax or log-softmax along `axis`. */
export function softmax(a: Arr, axis: number, log = false): Arr {
  const ax = axis < 0 ? axis + a.shape.length : axis;
  const out = arr(a.shape);
  const dim = a.shape[ax], inner = size(a.shape.slice(ax + 1)), outer = size(a.shape.slice(0, ax));
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const at = (k: number): number => (o * dim + k) * inner + i;
      let m = -Infinity;
      for (let k = 0; k < dim; k++) m = Math.max(m, a.data[at(k)]);
      let s = 0;
      for (let k = 0; k < dim; k++) s += Math.exp(a.data[at(k)] - m);
      for (let k = 0; k < dim; k++) {
        out.data[at(k)] = log ? a.data[at(k)] - m - Math.log(s) : Math.exp(a.data[at(k)] - m) / s;
      }
    }
  }
  return out;
}

export type Reduction = 'mean' | 'sum' | 'none';

function reduceLoss(perSample: number[], reduction: Reduction, shape = [perSample.length]): Arr {
  if (reduction === 'none') return arr(shape, perSample);
  const total = perSample.reduce((p, v) => p + v, 0);
  return arr([], [reduction === 'mean' ? total / perSample.length : total]);
}

/** Cross-entropy of logits [N, C] against integer labels, with label smoothing ε: q = (1 − ε)·onehot + ε/C. */
export function crossEntropy(logits: Arr, labels: ArrayLike<number>, smoothing = 0, reduction: Reduction = 'mean'): Arr {
  const [n, c] = logits.shape;
  const logp = softmax(logits, 1, true);
  const losses: number[] = [];
  for (let i = 0; i < n; i++) {
    let l = 0;
    for (let k = 0; k < c; k++) {
      const q = (k === labels[i] ? 1 - smoothing : 0) + smoothing / c;
      l -= q * logp.data[i * c + k];
    }
    losses.push(l);
  }
  return reduceLoss(losses, reduction);
}

export function mseLoss(p: Arr, t: Arr, reduction: Reduction = 'mean'): Arr {
  return reduceLoss(Array.from(p.data, (v, i) => (v - t.data[i]) ** 2), reduction, p.shape);
}

/**
 * Neural similarity convolution (DESIGN.md §2): y[f,p] = Σ_{c,a,b} w[f,c,a] · M_p[a,b] · P_p[c,b] (+ bias[f]),
 * and dynamic filters (a kernel per sample).
 *
 * Static forms of M fold into the weight (w' = w·M, one small contraction) and run as conv2d; the
 * diagonal and spatial forms fold their gradients back inside the convolution's weight gradient.
 * Dynamic forms run a fused native kernel whose packing applies M_p to each patch, with its own backward.
 */
import { backendOf } from '../backend/context';
import { Tensor, formatShape } from '../tensor';
import { record } from '../autograd/node';
import { checkOptions, checkRank, checkSameDtype, floatTensor } from './util';
import { Conv2dOptions, ConvGeometry, checkBias, conv2d, conv2dRaw, convGeometry } from './conv';
import { add } from './elementwise';
import { matmul } from './matmul';
import { reshape } from './shape';

/** Options of similarityConv2d (as conv2d's, without groups). */
export type SimilarityConv2dOptions = Omit<Conv2dOptions, 'groups'>;

/** The five forms of M, told apart by the shape of m. */
export type SimilarityForm = 'static-diagonal' | 'static-spatial' | 'static-full' | 'dynamic-diagonal' | 'dynamic-spatial';

/**
 * Which form an m of this shape is for a kernel of `taps` = kh·kw taps over `c` channels, producing
 * `n` × ho × wo outputs; null when it fits none.
 */
export function similarityForm(m: readonly number[], c: number, taps: number, n: number, ho: number, wo: number): SimilarityForm | null {
  if (m.length === 1 && m[0] === taps) return 'static-diagonal';
  if (m.length === 2 && m[0] === taps && m[1] === taps) return 'static-spatial';
  if (m.length === 2 && m[0] === c * taps && m[1] === c * taps) return 'static-full';
  if (m.length === 4 && m[0] === n && m[2] === ho && m[3] === wo) {
    if (m[1] === taps) return 'dynamic-diagonal';
    if (m[1] === taps * taps) return 'dynamic-spatial';
  }
  return null;
}

/**
 * Neural similarity convolution: x [N, C, H, W], w [F, C, kh, kw] and m in one of five forms (K = kh·kw):
 * static diagonal [K], static spatial [K, K], static full [C·K, C·K] (index c·K + a), dynamic diagonal
 * [N, K, Ho, Wo] or dynamic spatial [N, K·K, Ho, Wo] (index a·K + b). → [N, F, Ho, Wo].
 * With M = I every form is conv2d(x, w).
 */
export function similarityConv2d(x: Tensor, w: Tensor, m: Tensor, options?: SimilarityConv2dOptions): Tensor {
  const op = 'similarityConv2d';
  floatTensor(op, 'x', x);
  floatTensor(op, 'w', w);
  floatTensor(op, 'm', m);
  const o = checkOptions(op, options, ['bias', 'stride', 'padding', 'dilation', 'groups']);
  if ((o as Conv2dOptions).groups !== undefined && (o as Conv2dOptions).groups !== 1) {
    throw new RangeError(`${op}: expected no groups option (similarity convolutions are not grouped) but got groups ${(o as Conv2dOptions).groups}`);
  }
  checkRank(op, 'w', w, 4, '[F, C, kh, kw]');
  checkSameDtype(op, x, 'x', w, 'w');
  checkSameDtype(op, x, 'x', m, 'm');
  const [f, cw, kh, kw] = w.shape;
  if (f < 1 || kh < 1 || kw < 1) throw new RangeError(`${op}: expected a non-empty kernel but got w of shape ${formatShape(w.shape)}`);
  const g = convGeometry(op, x, f, cw, kh, kw, { ...o, groups: 1 });
  if (g.n === 0 || g.c === 0) throw new RangeError(`${op}: expected a non-empty input but got x of shape ${formatShape(x.shape)}`);
  const bias = checkBias(op, o.bias, f, x);
  const taps = kh * kw;
  const form = similarityForm(m.shape, g.c, taps, g.n, g.ho, g.wo);
  if (!form) {
    const k = taps, ck = g.c * taps;
    let hint = '';
    if (m.rank === 4 && m.shape[0] === g.n && (m.shape[1] === k || m.shape[1] === k * k)) {
      hint = ` (a dynamic m must match the output's spatial size ${g.ho}×${g.wo}, got ${m.shape[2]}×${m.shape[3]})`;
    } else if (m.rank === 4 && m.shape[0] === g.n) {
      hint = ` (its K = ${m.shape[1]} matches neither the kernel's K = ${k} nor K·K = ${k * k})`;
    }
    throw new RangeError(`${op}: expected m of shape [${k}], [${k}, ${k}], [${ck}, ${ck}], [${g.n}, ${k}, ${g.ho}, ${g.wo}] or [${g.n}, ${k * k}, ${g.ho}, ${g.wo}] for a ${kh}×${kw} kernel over ${g.c} channels but got ${formatShape(m.shape)}${hint}`);
  }
  if (form === 'static-full') return conv2dRaw(op, x, reshape(matmul(reshape(w, [f, g.c * taps]), m), w.shape), bias, g);
  if (form.startsWith('static')) return staticSimilarity(op, x, w, m, bias, g, form === 'static-spatial' ? 1 : 0);
  const spatial = form === 'dynamic-spatial' ? 1 : 0;
  const k = backendOf(op, x, w, m, bias);
  const y = k.empty([g.n, f, g.ho, g.wo], x.dtype);
  k.run('similarityConv2dForward', g.dims, spatial, x.buffer, w.buffer, m.buffer, bias ? bias.buffer : null, y.buffer);
  return record(op, [x, w, m, bias], y, (dy) => {
    const dx = x.requiresGrad ? k.empty(x.shape, x.dtype) : null;
    const dw = w.requiresGrad ? k.empty(w.shape, w.dtype) : null;
    const dm = m.requiresGrad ? k.empty(m.shape, m.dtype) : null;
    const db = bias?.requiresGrad ? k.empty(bias.shape, bias.dtype) : null;
    k.run('similarityConv2dBackward', g.dims, spatial, x.buffer, w.buffer, m.buffer, dy.buffer, dx?.buffer ?? null,
      dw?.buffer ?? null, dm?.buffer ?? null, db?.buffer ?? null);
    return [dx, dw, dm, db];
  });
}

/**
 * The static diagonal and spatial forms: w'[f,c,b] = Σ_a w[f,c,a]·M[a,b] (a native fold over the F·C rows
 * of K taps), then conv2d with w'. The backward takes dx through w' and the gradients of w and m straight
 * from the convolution's weight-gradient product, which folds its rows back as it finishes them, so that
 * ∂L/∂w' is never stored.
 */
function staticSimilarity(op: string, x: Tensor, w: Tensor, m: Tensor, bias: Tensor | null, g: ConvGeometry, spatial: number): Tensor {
  const [f, c, kh, kw] = w.shape;
  const k = backendOf(op, x, w, m, bias);
  const folded = k.empty(w.shape, w.dtype);
  k.run('similarityFold', spatial, f * c, kh * kw, w.buffer, m.buffer, folded.buffer);
  const y = k.empty([g.n, f, g.ho, g.wo], x.dtype);
  k.run('conv2dForward', g.dims, x.buffer, folded.buffer, bias ? bias.buffer : null, y.buffer);
  record(op, [x, w, m, bias], y, (dy) => {
    const dx = x.requiresGrad ? k.empty(x.shape, x.dtype) : null;
    if (dx) k.run('conv2dBackwardInput', g.dims, dy.buffer, folded.buffer, dx.buffer);
    const dw = w.requiresGrad ? k.empty(w.shape, w.dtype) : null;
    const dm = m.requiresGrad ? k.empty(m.shape, m.dtype) : null;
    const db = bias?.requiresGrad ? k.empty(bias.shape, bias.dtype) : null;
    if (dw || dm || db) {
      k.run('similarityStaticBackwardWeight', g.dims, spatial, x.buffer, dy.buffer, w.buffer, m.buffer, dw?.buffer ?? null,
        dm?.buffer ?? null, db?.buffer ?? null);
    }
    return [dx, dw, dm, db];
  });
  if (!y.gradFn) folded.dispose();
  return y;
}

/**
 * Dynamic filters: every sample n is convolved with its own kernel w[n]: x [N, C, H, W],
 * w [N, F, C, kh, kw] → [N, F, Ho, Wo]; bias [F] is shared. (Runs as one grouped convolution.)
 */
export function dynamicConv2d(x: Tensor, w: Tensor, options?: SimilarityConv2dOptions): Tensor {
  const op = 'dynamicConv2d';
  floatTensor(op, 'x', x);
  floatTensor(op, 'w', w);
  const o = checkOptions(op, options, ['bias', 'stride', 'padding', 'dilation']);
  checkRank(op, 'x', x, 4, '[N, C, H, W]');
  checkRank(op, 'w', w, 5, '[N, F, C, kh, kw]');
  checkSameDtype(op, x, 'x', w, 'w');
  const [n, c, h, wd] = x.shape;
  const [wn, f, wc, kh, kw] = w.shape;
  if (wn !== n) throw new RangeError(`${op}: expected w to hold one kernel per sample (${n}) but got shape ${formatShape(w.shape)}`);
  if (wc !== c) throw new RangeError(`${op}: expected w to have ${c} input channels (x is ${formatShape(x.shape)}) but got shape ${formatShape(w.shape)}`);
  if (n === 0 || f === 0 || kh === 0 || kw === 0) throw new RangeError(`${op}: expected non-empty tensors but got x ${formatShape(x.shape)} and w ${formatShape(w.shape)}`);
  const bias = checkBias(op, o.bias, f, x);
  const y = conv2d(reshape(x, [1, n * c, h, wd]), reshape(w, [n * f, c, kh, kw]),
    { stride: o.stride, padding: o.padding, dilation: o.dilation, groups: n });
  const out = reshape(y, [n, f, y.shape[2], y.shape[3]]);
  return bias ? add(out, reshape(bias, [1, f, 1, 1])) : out;
}

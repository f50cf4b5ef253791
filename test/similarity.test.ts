/**
 * Neural similarity convolution (all five forms of M), dynamic filters and the similarity layers:
 * forward against float64 references written as plain loops, finite-difference gradient checks,
 * the identities of DESIGN.md §2, and error messages.
 */
import * as ns from '../lib';
import { fill_ } from '../lib/ops/transfer';
import { Arr, arr, conv2d as convRef, ConvAttrs, size } from './reference';
import { gradcheck } from './gradcheck';
import { FLOAT_DTYPES, FloatDtype, TOL, checkForward, describeErrors, expectClose, fromTensor, rand, toTensor } from './helpers';

type Form = 'static-diagonal' | 'static-spatial' | 'static-full' | 'dynamic-diagonal' | 'dynamic-spatial';
const FORMS: Form[] = ['static-diagonal', 'static-spatial', 'static-full', 'dynamic-diagonal', 'dynamic-spatial'];

const pair = (v: number | [number, number] | undefined, d: number): [number, number] =>
  v === undefined ? [d, d] : typeof v === 'number' ? [v, v] : v;

function outSize(x: number[], w: number[], a: ConvAttrs): [number, number] {
  const [sh, sw] = pair(a.stride, 1), [ph, pw] = pair(a.padding, 0), [dh, dw] = pair(a.dilation, 1);
  return [Math.floor((x[2] + 2 * ph - dh * (w[2] - 1) - 1) / sh) + 1, Math.floor((x[3] + 2 * pw - dw * (w[3] - 1) - 1) / sw) + 1];
}

/** The shape of m for a form. */
function mShape(form: Form, x: number[], w: number[], a: ConvAttrs): number[] {
  const k = w[2] * w[3], [ho, wo] = outSize(x, w, a);
  switch (form) {
    case 'static-diagonal': return [k];
    case 'static-spatial': return [k, k];
    case 'static-full': return [x[1] * k, x[1] * k];
    case 'dynamic-diagonal': return [x[0], k, ho, wo];
    default: return [x[0], k * k, ho, wo];
  }
}

/** M_{n,p}[(c,a),(c',b)] of any form as a function (the full bilinear form over the flattened patch). */
function bilinear(form: Form, m: Arr, c: number, k: number, plane: number) {
  return (n: number, p: number, ca: number, cb: number): number => {
    const [c1, a] = [Math.floor(ca / k), ca % k], [c2, b] = [Math.floor(cb / k), cb % k];
    switch (form) {
      case 'static-full': return m.data[ca * c * k + cb];
      case 'static-diagonal': return c1 === c2 && a === b ? m.data[a] : 0;
      case 'static-spatial': return c1 === c2 ? m.data[a * k + b] : 0;
      case 'dynamic-diagonal': return c1 === c2 && a === b ? m.data[(n * k + a) * plane + p] : 0;
      default: return c1 === c2 ? m.data[(n * k * k + a * k + b) * plane + p] : 0;
    }
  };
}

/** y[n,f,p] = Σ w[f,(c,a)] · X̃[(c,a)] with X̃ = M_{n,p} · P_p (+ bias), straight from DESIGN.md §2. */
function similarityRef(form: Form, x: Arr, w: Arr, m: Arr, bias: Arr | null, a: ConvAttrs): Arr {
  const [n, c, h, wd] = x.shape, [f, , kh, kw] = w.shape, k = kh * kw;
  const [sh, sw] = pair(a.stride, 1), [ph, pw] = pair(a.padding, 0), [dh, dw] = pair(a.dilation, 1);
  const [ho, wo] = outSize(x.shape, w.shape, a);
  const M = bilinear(form, m, c, k, ho * wo);
  const out = arr([n, f, ho, wo]);
  const patch = new Float64Array(c * k), xt = new Float64Array(c * k);
  for (let b = 0; b < n; b++)
    for (let oy = 0; oy < ho; oy++)
      for (let ox = 0; ox < wo; ox++) {
        const p = oy * wo + ox;
        for (let ci = 0; ci < c; ci++)
          for (let t = 0; t < k; t++) {
            const iy = oy * sh - ph + Math.floor(t / kw) * dh, ix = ox * sw - pw + (t % kw) * dw;
            patch[ci * k + t] = iy < 0 || iy >= h || ix < 0 || ix >= wd ? 0 : x.data[((b * c + ci) * h + iy) * wd + ix];
          }
        for (let i = 0; i < c * k; i++) {
          // Only the full form mixes channels; the others are zero off the channel's own K×K block.
          const [j0, j1] = form === 'static-full' ? [0, c * k] : [i - (i % k), i - (i % k) + k];
          let s = 0;
          for (let j = j0; j < j1; j++) s += M(b, p, i, j) * patch[j];
          xt[i] = s;
        }
        for (let o = 0; o < f; o++) {
          let s = bias ? bias.data[o] : 0;
          for (let i = 0; i < c * k; i++) s += w.data[o * c * k + i] * xt[i];
          out.data[((b * f + o) * ho + oy) * wo + ox] = s;
        }
      }
  return out;
}

interface Case { name: string; x: number[]; w: number[]; attrs: ConvAttrs }
const CASES: Case[] = [
  { name: '3×3 pad 1', x: [2, 3, 5, 6], w: [4, 3, 3, 3], attrs: { padding: 1 } },
  { name: 'stride 2, odd sizes', x: [2, 2, 7, 5], w: [3, 2, 3, 3], attrs: { stride: 2, padding: 1 } },
  { name: 'dilation 2', x: [1, 2, 7, 7], w: [5, 2, 3, 3], attrs: { dilation: 2, padding: 2 } },
  { name: '5×5 kernel', x: [1, 2, 6, 7], w: [3, 2, 5, 5], attrs: { padding: 2 } },
  { name: 'non-square 3×2, batch 1', x: [1, 3, 5, 4], w: [9, 3, 3, 2], attrs: { padding: [1, 0], stride: [1, 2] } },
  { name: '9×9 kernel (more taps than the vector code holds)', x: [1, 2, 10, 9], w: [3, 2, 9, 9], attrs: { padding: [1, 1] } },
];

describe('similarityConv2d forward against the float64 reference', () => {
  for (const form of FORMS)
    for (const cs of CASES)
      for (const dtype of FLOAT_DTYPES) {
        test(`${form}, ${cs.name}, ${dtype}`, () => {
          const inputs = [rand(cs.x, 1), rand(cs.w, 2), rand(mShape(form, cs.x, cs.w, cs.attrs), 3), rand([cs.w[0]], 4)];
          const tol = dtype === 'float32' ? { rtol: 1e-4, atol: 1e-4 } : TOL.float64;
          checkForward(dtype, inputs, (x, w, m, b) => ns.similarityConv2d(x, w, m, { ...cs.attrs, bias: b }),
            (x, w, m, b) => similarityRef(form, x, w, m, b, cs.attrs), tol);
        });
      }

  test('large enough to cross GEMM blocks and threads (dynamic spatial, float32)', () => {
    const cs: Case = { name: 'big', x: [3, 40, 9, 11], w: [20, 40, 3, 3], attrs: { padding: 1 } };
    const inputs = [rand(cs.x, 5), rand(cs.w, 6), rand(mShape('dynamic-spatial', cs.x, cs.w, cs.attrs), 7)];
    checkForward('float32', inputs, (x, w, m) => ns.similarityConv2d(x, w, m, cs.attrs),
      (x, w, m) => similarityRef('dynamic-spatial', x, w, m, null, cs.attrs), { rtol: 1e-4, atol: 2e-4 });
  });
});

/** Gradients of the dynamic forms for upstream dy, from the formulas of DESIGN.md §2 as plain loops. */
function similarityBackwardRef(form: Form, x: Arr, w: Arr, m: Arr, dy: Arr, a: ConvAttrs): { dx: Arr; dw: Arr; dm: Arr } {
  const [n, c, h, wd] = x.shape, [f, , kh, kw] = w.shape, k = kh * kw;
  const [sh, sw] = pair(a.stride, 1), [ph, pw] = pair(a.padding, 0), [dh, dw] = pair(a.dilation, 1);
  const [ho, wo] = outSize(x.shape, w.shape, a), plane = ho * wo, spatial = form === 'dynamic-spatial';
  const dx = arr(x.shape), dW = arr(w.shape), dm = arr(m.shape);
  const mAt = (b: number, p: number, i: number, j: number): number =>
    spatial ? m.data[(b * k * k + i * k + j) * plane + p] : i === j ? m.data[(b * k + i) * plane + p] : 0;
  const pix = (oy: number, ox: number, t: number): [number, number] =>
    [oy * sh - ph + Math.floor(t / kw) * dh, ox * sw - pw + (t % kw) * dw];
  for (let b = 0; b < n; b++)
    for (let oy = 0; oy < ho; oy++)
      for (let ox = 0; ox < wo; ox++) {
        const p = oy * wo + ox;
        for (let ci = 0; ci < c; ci++) {
          const patch = new Float64Array(k), xt = new Float64Array(k), gxt = new Float64Array(k);
          for (let t = 0; t < k; t++) {
            const [iy, ix] = pix(oy, ox, t);
            patch[t] = iy < 0 || iy >= h || ix < 0 || ix >= wd ? 0 : x.data[((b * c + ci) * h + iy) * wd + ix];
          }
          for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) xt[i] += mAt(b, p, i, j) * patch[j];
          for (let o = 0; o < f; o++) {
            const g = dy.data[(b * f + o) * plane + p];
            for (let i = 0; i < k; i++) {
              dW.data[(o * c + ci) * k + i] += g * xt[i];
              gxt[i] += w.data[(o * c + ci) * k + i] * g;
            }
          }
          for (let i = 0; i < k; i++)
            for (let j = 0; j < k; j++) {
              if (!spatial && i !== j) continue;
              dm.data[(b * (spatial ? k * k : k) + (spatial ? i * k + j : i)) * plane + p] += gxt[i] * patch[j];
              const [iy, ix] = pix(oy, ox, j);
              if (iy >= 0 && iy < h && ix >= 0 && ix < wd) dx.data[((b * c + ci) * h + iy) * wd + ix] += mAt(b, p, i, j) * gxt[i];
            }
        }
      }
  return { dx, dw: dW, dm };
}

/** Runs similarityConv2d forward and backward in `dtype` and checks dx, dw and dm against `expected`. */
function expectGradients(dtype: FloatDtype, x: Arr, w: Arr, m: Arr, dy: Arr, attrs: ConvAttrs, expected: { dx: Arr; dw: Arr; dm: Arr }) {
  const tol = dtype === 'float32' ? { rtol: 2e-4, atol: 2e-4 } : TOL.float64;
  ns.tidy(() => {
    const [tx, tw, tm] = [x, w, m].map((v) => toTensor(v, dtype, true));
    // Pooled buffers of the gradients' sizes hold NaN, so a kernel that leaves an element unwritten fails.
    for (const shape of [x.shape, w.shape, m.shape]) ns.full(shape, NaN, { dtype }).dispose();
    ns.similarityConv2d(tx, tw, tm, attrs).backward(toTensor(dy, dtype));
    expectClose(tx.grad!, expected.dx, tol);
    expectClose(tw.grad!, expected.dw, tol);
    expectClose(tm.grad!, expected.dm, tol);
    for (const t of [tx, tw, tm]) t.grad!.dispose();
  });
}

describe('similarityConv2d gradients at sizes that cross tiles, channel chunks, bands and threads', () => {
  const cases: Case[] = [
    { name: '3×3 pad 1', x: [3, 40, 9, 11], w: [20, 40, 3, 3], attrs: { padding: 1 } },
    { name: 'stride 2, dilation 2, 3×2', x: [1, 17, 12, 13], w: [9, 17, 3, 2], attrs: { padding: 2, stride: 2, dilation: 2 } },
    { name: 'dilation 2, smaller output', x: [2, 9, 11, 12], w: [7, 9, 3, 3], attrs: { padding: 1, dilation: 2 } },
    // One channel chunk (dY read in place), several tiles per image, a 5×5 kernel.
    { name: '3 channels, 5×5', x: [2, 3, 19, 23], w: [6, 3, 5, 5], attrs: { padding: 2 } },
    // One channel chunk, tiles of whole vectors on planes of 16·k positions: dm written straight into place.
    { name: '3 channels, dm in place', x: [2, 3, 16, 16], w: [5, 3, 3, 3], attrs: { padding: 1 } },
    // Weights small next to the output: dw comes from the same tiles (per-thread copies summed), over
    // three channel chunks, the last one partial.
    { name: 'weight gradient fused, 20 channels', x: [4, 20, 24, 26], w: [8, 20, 3, 3], attrs: { padding: 1 } },
    // Weights large next to the output, fewer patch rows than filters: dw from its own product.
    { name: 'fewer patch rows than filters', x: [1, 1, 6, 5], w: [12, 1, 3, 3], attrs: { padding: 1 } },
  ];
  for (const form of ['dynamic-diagonal', 'dynamic-spatial'] as Form[])
    for (const cs of cases)
      for (const dtype of FLOAT_DTYPES)
        test(`${form}, ${cs.name}, ${dtype}`, () => {
          const [x, w, m] = [rand(cs.x, 51), rand(cs.w, 52), rand(mShape(form, cs.x, cs.w, cs.attrs), 53)];
          const y0 = similarityRef(form, x, w, m, null, cs.attrs), dy = rand(y0.shape, 54);
          expectGradients(dtype, x, w, m, dy, cs.attrs, similarityBackwardRef(form, x, w, m, dy, cs.attrs));
        });
});

describe('static forms: gradients with many weight rows (fold chunks across threads)', () => {
  // F·C = 2560 rows of taps (1,280 for 3×2, 320 for 5×5: the vector kernels with a run-time K and the
  // portable ones). Reference: the dynamic form with M repeated at every position (whose plain-loop
  // backward is above), dm summed over samples and positions.
  const cases: Case[] = [
    { name: '3×3', x: [2, 40, 5, 4], w: [64, 40, 3, 3], attrs: { padding: 1 } },
    { name: '3×2', x: [2, 40, 5, 4], w: [32, 40, 3, 2], attrs: { padding: [1, 0] } },
    { name: '5×5', x: [1, 16, 5, 5], w: [20, 16, 5, 5], attrs: { padding: 2 } },
    // Fewer patch rows than filters: the weight gradient's other product (dY·Pᵀ), three blocks of filters.
    { name: 'fewer patch rows than filters', x: [2, 3, 6, 5], w: [40, 3, 3, 3], attrs: { padding: 1 } },
    // 4,608 positions: the weight gradient's product splits its reduction over threads.
    { name: 'many positions', x: [2, 6, 48, 48], w: [24, 6, 3, 3], attrs: { padding: 1 } },
    // 16 filters × 80 channels: a block of filters holds more than one chunk of 1,024 rows.
    { name: 'blocks of filters over several chunks', x: [1, 80, 4, 3], w: [20, 80, 3, 3], attrs: { padding: 1 } },
    // w and w' of 1.1 MiB in float32: the folds stream their outputs past the caches.
    { name: 'weights over 1 MiB', x: [1, 256, 3, 3], w: [128, 256, 3, 3], attrs: { padding: 1 } },
  ];
  const pairs = [['static-diagonal', 'dynamic-diagonal'], ['static-spatial', 'dynamic-spatial']] as [Form, Form][];

  function staticCase(stat: Form, dyn: Form, cs: Case) {
    const [x, w, ms] = [rand(cs.x, 61), rand(cs.w, 62), rand(mShape(stat, cs.x, cs.w, cs.attrs), 63)];
    const [ho, wo] = outSize(cs.x, cs.w, cs.attrs), plane = ho * wo, rows = ms.data.length;
    const md = arr([cs.x[0], rows, ho, wo]);
    for (let n = 0; n < cs.x[0]; n++) for (let r = 0; r < rows; r++) md.data.fill(ms.data[r], (n * rows + r) * plane, (n * rows + r + 1) * plane);
    const dy = rand([cs.x[0], cs.w[0], ho, wo], 64);
    const ref = similarityBackwardRef(dyn, x, w, md, dy, cs.attrs);
    const dm = arr(ms.shape);
    for (let n = 0; n < cs.x[0]; n++)
      for (let r = 0; r < rows; r++)
        for (let p = 0; p < plane; p++) dm.data[r] += ref.dm.data[(n * rows + r) * plane + p];
    return { x, w, m: ms, dy, expected: { dx: ref.dx, dw: ref.dw, dm } };
  }

  for (const [stat, dyn] of pairs)
    for (const cs of cases)
      for (const dtype of FLOAT_DTYPES)
        test(`${stat}, ${cs.name}, ${dtype}`, () => {
          const { x, w, m, dy, expected } = staticCase(stat, dyn, cs);
          expectGradients(dtype, x, w, m, dy, cs.attrs, expected);
        });

  for (const [stat, dyn] of pairs)
    test(`${stat}: the gradient of m alone, of w alone, and of x alone`, () => {
      const cs = cases[0];
      const { x, w, m, dy, expected } = staticCase(stat, dyn, cs);
      const wanted: [string, Arr][] = [['x', expected.dx], ['w', expected.dw], ['m', expected.dm]];
      for (const [name, grad] of wanted)
        ns.tidy(() => {
          const [tx, tw, tm] = [x, w, m].map((v, i) => toTensor(v, 'float32', ['x', 'w', 'm'][i] === name));
          ns.similarityConv2d(tx, tw, tm, cs.attrs).backward(toTensor(dy, 'float32'));
          const leaf = { x: tx, w: tw, m: tm }[name]!;
          expectClose(leaf.grad!, grad, { rtol: 2e-4, atol: 2e-4 });
          expect([tx, tw, tm].filter((t) => t.grad).length).toBe(1);
        });
    });
});

describe('similarityConv2d gradients (float64 finite differences)', () => {
  const small: Case[] = [
    { name: '2×2 pad 1 stride 2', x: [2, 2, 4, 3], w: [3, 2, 2, 2], attrs: { padding: 1, stride: 2 } },
    { name: '3×3 dilation 2, batch 1', x: [1, 2, 5, 5], w: [2, 2, 3, 3], attrs: { padding: 1, dilation: 2 } },
    { name: 'non-square 3×2, odd sizes', x: [2, 1, 3, 5], w: [3, 1, 3, 2], attrs: { padding: [1, 0] } },
  ];
  for (const form of FORMS)
    for (const cs of small) {
      test(`${form}, ${cs.name}`, () => {
        gradcheck((x, w, m, b) => ns.similarityConv2d(x, w, m, { ...cs.attrs, bias: b }),
          [rand(cs.x, 11), rand(cs.w, 12), rand(mShape(form, cs.x, cs.w, cs.attrs), 13), rand([cs.w[0]], 14)]);
      });
    }
  test('dynamic spatial with a 5×5 kernel, gradients of x and m only', () => {
    const cs: Case = { name: '5×5', x: [1, 2, 4, 4], w: [2, 2, 5, 5], attrs: { padding: 1 } };
    gradcheck((x, w, m) => ns.similarityConv2d(x, w, m, cs.attrs),
      [rand(cs.x, 21), rand(cs.w, 22), rand(mShape('dynamic-spatial', cs.x, cs.w, cs.attrs), 23)], { wrt: [true, true, true] });
  });
});

describe('identities of DESIGN.md §2', () => {
  const x = rand([2, 3, 6, 5], 31), w = rand([4, 3, 3, 3], 32), b = rand([4], 33);
  const attrs: ConvAttrs = { padding: 1, stride: [1, 2] };
  const [ho, wo] = outSize(x.shape, w.shape, attrs);
  const conv = convRef(x, w, b, attrs);
  const eye = (k: number): Arr => arr([k, k], Array.from({ length: k * k }, (_, i) => (i % (k + 1) === 0 ? 1 : 0)));
  const tol = TOL.float64;

  test('the static spatial form with M = I equals conv2d', () => {
    expectClose(ns.similarityConv2d(toTensor(x), toTensor(w), toTensor(eye(9)), { ...attrs, bias: toTensor(b) }), conv, tol);
  });

  test('the dynamic spatial form with every M_p = I equals conv2d', () => {
    const m = arr([2, 81, ho, wo]);
    for (let n = 0; n < 2; n++) for (let a = 0; a < 9; a++) m.data.fill(1, (n * 81 + a * 10) * ho * wo, (n * 81 + a * 10 + 1) * ho * wo);
    expectClose(ns.similarityConv2d(toTensor(x), toTensor(w), toTensor(m), { ...attrs, bias: toTensor(b) }), conv, tol);
  });

  test('each static form equals conv2d with the folded weight w\'[f,c,b] = Σ w·M', () => {
    for (const form of ['static-diagonal', 'static-spatial', 'static-full'] as Form[]) {
      const m = rand(mShape(form, x.shape, w.shape, attrs), 34);
      const M = bilinear(form, m, 3, 9, 1);
      const folded = arr(w.shape);
      for (let f = 0; f < 4; f++)
        for (let j = 0; j < 27; j++) {
          let s = 0;
          for (let i = 0; i < 27; i++) s += w.data[f * 27 + i] * M(0, 0, i, j);
          folded.data[f * 27 + j] = s;
        }
      expectClose(ns.similarityConv2d(toTensor(x), toTensor(w), toTensor(m), { ...attrs, bias: toTensor(b) }),
        convRef(x, folded, b, attrs), { rtol: 1e-12, atol: 1e-11 });
    }
  });

  test('a dynamic form with the same M at every position equals the static form', () => {
    for (const [dyn, stat, rows] of [['dynamic-diagonal', 'static-diagonal', 9], ['dynamic-spatial', 'static-spatial', 81]] as const) {
      const ms = rand(mShape(stat, x.shape, w.shape, attrs), 35);
      const md = arr([2, rows, ho, wo]);
      for (let n = 0; n < 2; n++) for (let r = 0; r < rows; r++) md.data.fill(ms.data[r], (n * rows + r) * ho * wo, (n * rows + r + 1) * ho * wo);
      expect([ns.similarityForm(ms.shape, 3, 9, 2, ho, wo), ns.similarityForm(md.shape, 3, 9, 2, ho, wo)]).toEqual([stat, dyn]);
      const ys = fromTensor(ns.similarityConv2d(toTensor(x), toTensor(w), toTensor(ms), attrs));
      expectClose(ns.similarityConv2d(toTensor(x), toTensor(w), toTensor(md), attrs), ys, { rtol: 1e-12, atol: 1e-11 });
    }
  });
});

/** Per-sample convolution reference for dynamicConv2d. */
function dynamicRef(x: Arr, w: Arr, bias: Arr | null, attrs: ConvAttrs): Arr {
  const [n] = x.shape, [, f, c, kh, kw] = w.shape;
  const outs = Array.from({ length: n }, (_, i) => convRef(
    arr([1, ...x.shape.slice(1)], x.data.subarray(i * size(x.shape.slice(1)), (i + 1) * size(x.shape.slice(1)))),
    arr([f, c, kh, kw], w.data.subarray(i * f * c * kh * kw, (i + 1) * f * c * kh * kw)), bias, attrs));
  const out = arr([n, ...outs[0].shape.slice(1)]);
  outs.forEach((o, i) => out.data.set(o.data, i * o.data.length));
  return out;
}

describe('dynamicConv2d (per-sample kernels)', () => {
  const attrs: ConvAttrs = { padding: 1, stride: 2 };
  for (const dtype of FLOAT_DTYPES) {
    test(`forward against the reference, ${dtype}`, () => {
      checkForward(dtype, [rand([3, 4, 7, 6], 41), rand([3, 5, 4, 3, 3], 42), rand([5], 43)],
        (x, w, b) => ns.dynamicConv2d(x, w, { ...attrs, bias: b }), (x, w, b) => dynamicRef(x, w, b, attrs));
    });
  }
  test('gradients (float64 finite differences)', () => {
    gradcheck((x, w, b) => ns.dynamicConv2d(x, w, { padding: 1, bias: b }),
      [rand([2, 2, 4, 3], 44), rand([2, 3, 2, 3, 3], 45), rand([3], 46)]);
  });
});

describe('similarity layers', () => {
  beforeEach(() => ns.manualSeed(7));
  const x = () => ns.randn([2, 4, 6, 6]);

  test('SimilarityConv2d starts as a plain convolution and has the L2 penalty on M', () => {
    for (const form of ['diagonal', 'spatial', 'full'] as const) {
      const layer = new ns.nn.SimilarityConv2d(4, 5, 3, { form, padding: 1 });
      const input = x();
      const y = fromTensor(ns.conv2d(input, layer.weight, { bias: layer.bias, padding: 1 }));
      expectClose(layer.forward(input), y, { rtol: 1e-6, atol: 1e-6 });
      expect(layer.m.shape).toEqual(form === 'diagonal' ? [9] : form === 'spatial' ? [9, 9] : [36, 36]);
      const penalty = layer.regularization();
      const sumSq = Array.from(layer.m.dataSync()).reduce((s, v) => s + v * v, 0);
      if (form === 'spatial') expect(penalty!.item()).toBeCloseTo(5e-3 * sumSq, 8);
      else expect(penalty).toBeNull();
    }
    const custom = new ns.nn.SimilarityConv2d(2, 2, 3, { form: 'diagonal', l2: 0.1 });
    expect(custom.regularization()!.item()).toBeCloseTo(0.1 * 9, 6);
  });

  test('SimilarityConv2d trains M: gradients reach weight, bias and m', () => {
    const layer = new ns.nn.SimilarityConv2d(4, 3, 3, { padding: 1 });
    ns.sum(ns.square(layer.forward(x()))).backward();
    for (const p of layer.parameters()) expect(p.grad).not.toBeNull();
  });

  test('SphereConv2d divides by the patch norm (and the filter norm with norm "full")', () => {
    const input = ns.randn([1, 3, 5, 5], { dtype: 'float64' });
    for (const norm of ['input', 'full'] as const) {
      const layer = new ns.nn.SphereConv2d(3, 2, 3, { padding: 1, norm, dtype: 'float64' });
      const xa = fromTensor(input), wa = fromTensor(layer.weight);
      const y = convRef(xa, wa, null, { padding: 1 });
      const sq = arr(xa.shape, xa.data.map((v) => v * v));
      const ones = arr([1, 3, 3, 3], new Float64Array(27).fill(1));
      const norms = convRef(sq, ones, null, { padding: 1 });
      const expected = arr(y.shape, y.data.map((v, i) => {
        const f = Math.floor(i / 25) % 2, pnorm = Math.sqrt(norms.data[i % 25] + 1e-4);
        const wn = Math.sqrt(wa.data.slice(f * 27, (f + 1) * 27).reduce((s, q) => s + q * q, 0));
        return v / pnorm / (norm === 'full' ? wn : 1);
      }));
      expectClose(layer.forward(input), expected, { rtol: 1e-9, atol: 1e-12 });
    }
  });

  test('DynamicSimilarityConv2d predicts M of the output\'s size and starts near the identity', () => {
    for (const form of ['diagonal', 'spatial'] as const) {
      const layer = new ns.nn.DynamicSimilarityConv2d(4, 6, 3, { form, padding: 1, stride: 2, hidden: 8 });
      const input = x();
      const m = layer.predict(input);
      expect(m.shape).toEqual([2, form === 'diagonal' ? 9 : 81, 3, 3]);
      const y = layer.forward(input);
      const plain = fromTensor(ns.conv2d(input, layer.weight, { bias: layer.bias, padding: 1, stride: 2 }));
      expect(y.shape).toEqual(plain.shape);
      const scale = Math.max(...plain.data.map(Math.abs));
      expectClose(y, plain, { rtol: 0, atol: 0.05 * scale });
      ns.sum(ns.square(y)).backward();
      for (const [name, p] of layer.namedParameters()) expect([name, p.grad !== null]).toEqual([name, true]);
    }
  });

  test('DynamicSimilarityConv2d with g = 0 is exactly a plain convolution', () => {
    const layer = new ns.nn.DynamicSimilarityConv2d(4, 6, 3, { form: 'spatial', padding: 1, hidden: 8 });
    fill_(layer.head.weight, 0);
    const input = x();
    expectClose(layer.forward(input), fromTensor(ns.conv2d(input, layer.weight, { bias: layer.bias, padding: 1 })), { rtol: 1e-6, atol: 1e-6 });
  });

  test('DynamicFilterConv2d produces per-sample kernels around its base kernel', () => {
    const layer = new ns.nn.DynamicFilterConv2d(4, 5, 3, { padding: 1, hidden: 8 });
    const input = x();
    const kernels = layer.generate(input);
    expect(kernels.shape).toEqual([2, 5, 4, 3, 3]);
    const y = layer.forward(input);
    expectClose(y, dynamicRef(fromTensor(input), fromTensor(kernels), fromTensor(layer.bias!), { padding: 1 }), { rtol: 1e-4, atol: 1e-4 });
    ns.sum(ns.square(y)).backward();
    for (const p of layer.parameters()) expect(p.grad).not.toBeNull();
  });
});

describe('error cases', () => {
  const x = ns.zeros([2, 3, 6, 6]), w = ns.zeros([4, 3, 3, 3]);
  describeErrors('similarityConv2d', [
    ['m fits no form', () => ns.similarityConv2d(x, w, ns.zeros([5, 5])), RangeError,
      'similarityConv2d: expected m of shape [9], [9, 9], [27, 27], [2, 9, 4, 4] or [2, 81, 4, 4] for a 3×3 kernel over 3 channels but got [5, 5]'],
    ['dynamic m of the wrong spatial size', () => ns.similarityConv2d(x, w, ns.zeros([2, 81, 6, 6])), RangeError,
      /must match the output's spatial size 4×4, got 6×6/],
    ['K that does not match the kernel', () => ns.similarityConv2d(x, w, ns.zeros([2, 16, 4, 4])), RangeError,
      /its K = 16 matches neither the kernel's K = 9 nor K·K = 81/],
    ['static K that does not match', () => ns.similarityConv2d(x, w, ns.zeros([4])), RangeError, /but got \[4\]$/],
    ['groups', () => ns.similarityConv2d(x, w, ns.ones([9]), { groups: 3 } as never), RangeError, /expected no groups option/],
    ['mismatched channels', () => ns.similarityConv2d(x, ns.zeros([4, 2, 3, 3]), ns.ones([9])), RangeError,
      /expected w to have 3 input channels per group/],
    ['non-tensor m', () => ns.similarityConv2d(x, w, [1, 2] as never), TypeError, 'similarityConv2d: expected m to be a Tensor but got an array'],
    ['dtype mismatch', () => ns.similarityConv2d(x, w, ns.ones([9], { dtype: 'float64' })), TypeError,
      'similarityConv2d: expected m to have dtype float32 (as x) but got float64'],
    ['int32 m', () => ns.similarityConv2d(x, w, ns.ones([9], { dtype: 'int32' })), TypeError,
      'similarityConv2d: expected m to be float32 or float64 but got int32'],
    ['NaN stride', () => ns.similarityConv2d(x, w, ns.ones([9]), { stride: NaN }), RangeError,
      'similarityConv2d: expected stride[0] to be an integer ≥ 1 but got NaN'],
    ['wrong rank of w', () => ns.similarityConv2d(x, ns.zeros([4, 27]), ns.ones([9])), RangeError,
      'similarityConv2d: expected w to be a 4-D tensor [F, C, kh, kw] but got shape [4, 27]'],
  ]);
  describeErrors('dynamicConv2d', [
    ['one kernel per sample', () => ns.dynamicConv2d(x, ns.zeros([3, 4, 3, 3, 3])), RangeError,
      'dynamicConv2d: expected w to hold one kernel per sample (2) but got shape [3, 4, 3, 3, 3]'],
    ['channels', () => ns.dynamicConv2d(x, ns.zeros([2, 4, 2, 3, 3])), RangeError,
      'dynamicConv2d: expected w to have 3 input channels (x is [2, 3, 6, 6]) but got shape [2, 4, 2, 3, 3]'],
    ['rank', () => ns.dynamicConv2d(x, w), RangeError, 'dynamicConv2d: expected w to be a 5-D tensor [N, F, C, kh, kw] but got shape [4, 3, 3, 3]'],
  ]);
  describeErrors('similarity layers', [
    ['bad form', () => new ns.nn.SimilarityConv2d(2, 2, 3, { form: 'cubic' as never }), TypeError,
      "SimilarityConv2d: expected form 'diagonal', 'spatial' or 'full' but got cubic"],
    ['dynamic full form', () => new ns.nn.DynamicSimilarityConv2d(2, 2, 3, { form: 'full' as never }), TypeError,
      "DynamicSimilarityConv2d: expected form 'diagonal' or 'spatial' but got full"],
    ['fractional hidden', () => new ns.nn.DynamicSimilarityConv2d(2, 2, 3, { hidden: 2.5 }), RangeError,
      'DynamicSimilarityConv2d: expected hidden to be an integer ≥ 1 but got 2.5'],
    ['bad sphere norm', () => new ns.nn.SphereConv2d(2, 2, 3, { norm: 'l1' as never }), TypeError,
      "SphereConv2d: expected norm 'input' or 'full' but got l1"],
  ]);
});

describe('run-to-run determinism (same seed, same thread count)', () => {
  // The bits of each tensor, copied out.
  const bits = (tensors: Record<string, ns.Tensor | null>): Record<string, Uint8Array> => Object.fromEntries(
    Object.entries(tensors).map(([name, t]) => {
      const d = t!.dataSync();
      return [name, new Uint8Array(d.buffer, d.byteOffset, d.byteLength).slice()];
    }));
  // Per tensor, how many bytes differ between two runs (all zero when bit-identical).
  const differing = (a: Record<string, Uint8Array>, b: Record<string, Uint8Array>): Record<string, number> =>
    Object.fromEntries(Object.keys(a).map((name) => [name, a[name].reduce((n, v, i) => n + (v !== b[name][i] ? 1 : 0), 0)]));
  const zeros = (a: Record<string, Uint8Array>): Record<string, number> => Object.fromEntries(Object.keys(a).map((k) => [k, 0]));
  const RUNS = 3;

  // 16 images of 16×16 on 2 threads: the fused dynamic backward takes dw with the other gradients (its
  // per-thread dWᵀ copies summed at the end: 2·C·K·F·2 ≤ N·F·Ho·Wo) over 8 images per thread, and conv2d's
  // weight gradient splits its reduction over positions (N·Ho·Wo ≥ 2048 per thread) into per-thread parts.
  test.each(['conv2d', 'dynamic diagonal', 'dynamic spatial'])('%s backward gives bit-identical gradients on 2 threads', (kind) => {
    const previous = ns.getNumThreads();
    ns.setNumThreads(2);
    try {
      const [n, c, hw, f] = [16, 16, 16, 32];
      const run = () => ns.tidy(() => {
        ns.manualSeed(7);
        const x = ns.randn([n, c, hw, hw], { requiresGrad: true });
        const w = ns.randn([f, c, 3, 3], { std: 0.1, requiresGrad: true });
        const bias = ns.randn([f], { requiresGrad: true });
        const dy = ns.randn([n, f, hw, hw]);
        const leaves: Record<string, ns.Tensor> = { x, w, bias };
        let y: ns.Tensor;
        if (kind === 'conv2d') {
          y = ns.conv2d(x, w, { bias, padding: 1 });
        } else {
          const m = ns.randn([n, kind === 'dynamic diagonal' ? 9 : 81, hw, hw], { mean: kind === 'dynamic diagonal' ? 1 : 0, std: 0.3, requiresGrad: true });
          leaves.m = m;
          y = ns.similarityConv2d(x, w, m, { bias, padding: 1 });
        }
        y.backward(dy);
        return bits(Object.fromEntries(Object.entries(leaves).map(([name, t]) => [name, t.grad])));
      });
      const first = run();
      for (let r = 1; r < RUNS; r++) expect(differing(first, run())).toEqual(zeros(first));
    } finally {
      ns.setNumThreads(previous);
    }
  });

  test('a DynamicSimilarityConv2d training step from the same seed gives bit-identical weights on 2 threads', () => {
    const previous = ns.getNumThreads();
    ns.setNumThreads(2);
    try {
      for (const form of ['diagonal', 'spatial'] as const) {
        const run = () => ns.tidy(() => {
          ns.manualSeed(0);
          const layer = new ns.nn.DynamicSimilarityConv2d(16, 32, 3, { padding: 1, form });
          const optimizer = new ns.optim.SGD(layer.parameters(), { lr: 0.05, momentum: 0.9 });
          const x = ns.randn([16, 16, 16, 16]);
          for (let step = 0; step < 2; step++) {
            optimizer.zeroGrad();
            const y = layer.forward(x);
            ns.mean(ns.square(y)).backward();
            optimizer.step();
          }
          const state = bits(layer.stateDict());
          layer.dispose();
          return state;
        });
        const first = run();
        for (let r = 1; r < RUNS; r++) expect([form, differing(first, run())]).toEqual([form, zeros(first)]);
      }
    } finally {
      ns.setNumThreads(previous);
    }
  });
});

/**
 * Pictures of what a similarity layer learned (DESIGN.md §2): a K×K matrix M as a heat map on a diverging
 * scale centred at 0 with the identity it started from outlined, and a diagonal m as a kh×kw kernel-shape
 * map (each tap a cell coloured by its weight).
 */
import { escapeHtml, formatNumber } from './format';
import { symmetricLimit } from './colour';
import { gridChart } from './charts';
import type { SimilarityKind, SimilarityPicture } from './types';

/** A static-full M up to this size (C·K) is drawn whole, besides its channel-averaged K×K block. */
const FULL_MATRIX_LIMIT = 96;

/** Numbers written inside cells: two decimals, or four significant digits when large. */
function cellText(v: number): string {
  if (!Number.isFinite(v) || Math.abs(v) >= 100) return formatNumber(v);
  const text = v.toFixed(2);
  return text === '-0.00' ? '0.00' : text;
}

function clampCell(size: number, lo: number, hi: number): number {
  return Math.max(lo, Math.min(hi, Math.floor(size)));
}

/** (i, j) of tap a in a kh×kw kernel with kw columns. */
function tapName(a: number, kw: number): string {
  return `a=${a} (i=${Math.floor(a / kw)}, j=${a % kw})`;
}

/**
 * Checks a picture against its kind and kernel; returns C (the channels of a static-full M, else 1).
 * @throws RangeError naming the layer, with what was got and what was expected.
 */
function checkPicture(op: string, p: SimilarityPicture): number {
  const where = `${op}: similarity layer ${JSON.stringify(p.layer)} (${p.kind})`;
  const [kh, kw] = p.kernel;
  if (!Number.isInteger(kh) || !Number.isInteger(kw) || kh < 1 || kw < 1) {
    throw new RangeError(`${where}: got kernel [${p.kernel.join(', ')}] but expected two positive integers [kh, kw]`);
  }
  const k = kh * kw;
  const n = p.values.length;
  switch (p.kind) {
    case 'static-diagonal':
    case 'dynamic-diagonal':
      if (n !== k) throw new RangeError(`${where}: got ${n} values but expected K = kh·kw = ${k}`);
      return 1;
    case 'static-spatial':
    case 'dynamic-spatial':
      if (n !== k * k) throw new RangeError(`${where}: got ${n} values but expected K² = ${k * k} (K = ${k})`);
      return 1;
    case 'static-full': {
      const side = Math.round(Math.sqrt(n));
      if (side * side !== n || side === 0 || side % k !== 0) {
        throw new RangeError(`${where}: got ${n} values but expected (C·K)² for a whole number of channels C (K = ${k})`);
      }
      return side / k;
    }
    default:
      throw new RangeError(`${where}: got kind ${JSON.stringify(p.kind satisfies never)} but expected one of static-diagonal, ` +
        'static-spatial, static-full, dynamic-diagonal, dynamic-spatial');
  }
}

/** ‖M − I‖_F of an n×n row-major matrix. */
function distanceFromIdentity(m: readonly number[], n: number): number {
  let s = 0;
  for (let a = 0; a < n; a++) for (let b = 0; b < n; b++) s += (m[a * n + b] - (a === b ? 1 : 0)) ** 2;
  return Math.sqrt(s);
}

/** ‖m − 1‖₂ of a diagonal. */
function distanceFromOnes(m: readonly number[]): number {
  return Math.sqrt(m.reduce((s, v) => s + (v - 1) ** 2, 0));
}

/** The channel-averaged K×K block of a (C·K)×(C·K) M: B[a, b] = (1/C) Σ_c M[c·K + a, c·K + b]. */
function blockMean(m: readonly number[], k: number, c: number): number[] {
  const n = c * k;
  const out = new Array<number>(k * k).fill(0);
  for (let ch = 0; ch < c; ch++) {
    for (let a = 0; a < k; a++) for (let b = 0; b < k; b++) out[a * k + b] += m[(ch * k + a) * n + ch * k + b] / c;
  }
  return out;
}

/** The kh×kw kernel-shape map of a diagonal m. */
function kernelMap(id: string, p: SimilarityPicture, title: string): string {
  const [kh, kw] = p.kernel;
  return gridChart({
    id, chart: 'similarity-kernel', title, attributes: { 'data-layer': p.layer, 'data-kind': p.kind },
    rows: kh, cols: kw, cell: clampCell(240 / Math.max(kh, kw), 16, 56),
    colourValue: (i, j) => p.values[i * kw + j],
    tooltip: (i, j) => `${tapName(i * kw + j, kw)}: ${formatNumber(p.values[i * kw + j])}`,
    text: (i, j) => cellText(p.values[i * kw + j]),
    rowLabels: Array.from({ length: kh }, (_, i) => String(i)),
    colLabels: Array.from({ length: kw }, (_, j) => String(j)),
    rowAxis: 'i (kernel row)', colAxis: 'j (kernel column)',
    legend: { kind: 'diverging', limit: symmetricLimit(p.values) },
  });
}

/** An n×n heat map of `m` (row-major) with the identity outlined. */
function matrixMap(id: string, p: SimilarityPicture, m: readonly number[], n: number, title: string,
                   label: (index: number) => string, axes: [string, string]): string {
  return gridChart({
    id, chart: 'similarity-matrix', title, attributes: { 'data-layer': p.layer, 'data-kind': p.kind, 'data-size': String(n) },
    rows: n, cols: n, cell: clampCell(360 / n, 3, 40),
    colourValue: (a, b) => m[a * n + b],
    tooltip: (a, b) => `M[${label(a)}, ${label(b)}] = ${formatNumber(m[a * n + b])}`,
    text: (a, b) => cellText(m[a * n + b]),
    rowLabels: Array.from({ length: n }, (_, a) => String(a)),
    colLabels: Array.from({ length: n }, (_, b) => String(b)),
    rowAxis: axes[0], colAxis: axes[1],
    outline: (a, b) => a === b,
    legend: { kind: 'diverging', limit: symmetricLimit(m) },
  });
}

const KIND_TITLES: Record<SimilarityKind, string> = {
  'static-diagonal': 'static diagonal m',
  'static-spatial': 'static spatial M',
  'static-full': 'static full M',
  'dynamic-diagonal': 'dynamic diagonal: mean m over the test set',
  'dynamic-spatial': 'dynamic spatial: mean M over the test set',
};

/**
 * The figure(s) of one similarity layer: `<figure>` elements holding the charts (ids `${id}` and, for a
 * static-full M drawn whole too, `${id}-full`) and a caption with the layer, its form and how far it moved
 * from where it started. `op` names the caller in error messages.
 * @throws RangeError when the values do not fit the kind and kernel.
 */
export function similarityFigures(op: string, id: string, p: SimilarityPicture): string {
  const channels = checkPicture(op, p);
  const [kh, kw] = p.kernel;
  const k = kh * kw;
  const head = `<strong>${escapeHtml(p.layer)}</strong> · ${KIND_TITLES[p.kind]} · kernel ${kh}×${kw} (K = ${k})`;
  const title = `${p.layer}: ${KIND_TITLES[p.kind]}`;
  const tap = (a: number): string => tapName(a, kw);
  const tapAxes: [string, string] = ['a: weight tap', 'b: patch tap'];
  const figure = (chart: string, caption: string): string =>
    `<figure class="ns-figure">${chart}<figcaption>${head}. ${caption}</figcaption></figure>`;
  switch (p.kind) {
    case 'static-diagonal':
      return figure(kernelMap(id, p, title),
        `Each tap of the ${kh}×${kw} kernel coloured by its weight; the layer started from all ones. ‖m − 1‖₂ = ${formatNumber(distanceFromOnes(p.values))}.`);
    case 'dynamic-diagonal':
      return figure(kernelMap(id, p, title),
        `Mean over the test set of m = 1 + g(x) per tap; g = 0 (all ones) is a plain convolution. ‖m̄ − 1‖₂ = ${formatNumber(distanceFromOnes(p.values))}.`);
    case 'static-spatial':
      return figure(matrixMap(id, p, p.values, k, title, tap, tapAxes),
        `M[a, b] mixes patch tap b into weight tap a; dashed outlines mark the identity the layer started from. ‖M − I‖_F = ${formatNumber(distanceFromIdentity(p.values, k))}.`);
    case 'dynamic-spatial':
      return figure(matrixMap(id, p, p.values, k, title, tap, tapAxes),
        `Mean over the test set of M = I + g(x); dashed outlines mark the identity (g = 0, a plain convolution). ‖M̄ − I‖_F = ${formatNumber(distanceFromIdentity(p.values, k))}.`);
    case 'static-full': {
      const n = channels * k;
      const block = blockMean(p.values, k, channels);
      const parts = [figure(matrixMap(id, p, block, k, `${title} (channel-averaged K×K block)`, tap, tapAxes),
        `The K×K diagonal block averaged over the C = ${channels} channels, (1/C) Σ_c M[c·K + a, c·K + b]; dashed outlines mark the identity. ‖M − I‖_F over the whole matrix = ${formatNumber(distanceFromIdentity(p.values, n))}.`)];
      if (n <= FULL_MATRIX_LIMIT) {
        const flat = (index: number): string => `c=${Math.floor(index / k)}, ${tap(index % k)}`;
        parts.push(figure(matrixMap(`${id}-full`, p, p.values, n, `${title} (whole ${n}×${n})`, flat, ['c·K + a', 'c·K + b']),
          `The whole ${n}×${n} M over the flattened patch (index c·K + a); dashed outlines mark the identity.`));
      }
      return parts.join('');
    }
  }
}

/**
 * The CUDA GEMM-family kernels' index maths, checked on the CPU: test/cuda-host/igemm_test.cc runs the
 * NS_HD code of cuda/igemm.cuh, conv.cuh, similarity_transform.cuh and mma.cuh (plans, tile loaders, the
 * similarity transform and its adjoint, mma.sync fragment mappings against the PTX tables, epilogues,
 * split-K and dm reductions, the direct kernels' per-element maths) the way the kernels call it, emulating
 * the threads of each CTA in turn, and prints the inputs it generated and the outputs it produced. This file
 * compiles it with g++ (no GPU or CUDA toolkit needed), runs it on many geometries and compares every
 * output with the float64 references.
 *
 * Tolerance: the emulation computes in float64 (TF32 rounding is a value-level effect outside this test,
 * which checks indices, predicates, tile edges and reduction order), so it may differ from the references
 * only by float64 rounding of sums of at most a few thousand terms of magnitude ≤ ~10: ~1e-13. We allow
 * 1e-9 relative to the output's scale; any wrong index, missed element or stray padding gives errors of
 * order 1 (and unwritten elements come back NaN, which never passes).
 */
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Arr, arr, conv2d, conv2dBackward, ConvAttrs } from './reference';

const ROOT = path.resolve(__dirname, '..');
const SOURCE = path.join(ROOT, 'test', 'cuda-host', 'igemm_test.cc');
const TOL = 1e-9;

type Pair = number | [number, number];
const pair = (v: Pair | undefined, d: number): [number, number] =>
  v === undefined ? [d, d] : typeof v === 'number' ? [v, v] : v;

interface Geo { x: number[]; w: number[]; attrs: ConvAttrs }

function outSize(g: Geo): [number, number] {
  const [sh, sw] = pair(g.attrs.stride, 1), [ph, pw] = pair(g.attrs.padding, 0), [dh, dw] = pair(g.attrs.dilation, 1);
  return [Math.floor((g.x[2] + 2 * ph - dh * (g.w[2] - 1) - 1) / sh) + 1,
    Math.floor((g.x[3] + 2 * pw - dw * (g.w[3] - 1) - 1) / sw) + 1];
}

/** The case line's geometry tokens. */
function geoSpec(g: Geo): string {
  const [sh, sw] = pair(g.attrs.stride, 1), [ph, pw] = pair(g.attrs.padding, 0), [dh, dw] = pair(g.attrs.dilation, 1);
  const [n, c, h, w] = g.x, [f, , kh, kw] = g.w;
  return `n=${n} c=${c} h=${h} w=${w} f=${f} kh=${kh} kw=${kw} sh=${sh} sw=${sw} ph=${ph} pw=${pw} dh=${dh} dw=${dw} ` +
    `groups=${g.attrs.groups ?? 1}`;
}

// ------------------------------------------------------------------ float64 references

type Form = 'diagonal' | 'spatial';

/** M_{n,p}[a,b] of a dynamic form (m [n, K·K or K, ho, wo]). */
function mAt(form: Form, m: Arr, k: number, plane: number, n: number, p: number, a: number, b: number): number {
  if (form === 'spatial') return m.data[(n * k * k + a * k + b) * plane + p];
  return a === b ? m.data[(n * k + a) * plane + p] : 0;
}

/** The patch P_p[c, t] of image n at output position (oy, ox) (zero outside), as a function of g. */
function patchOf(x: Arr, g: Geo): (n: number, c: number, oy: number, ox: number, t: number) => number {
  const [, C, h, wd] = x.shape, kw = g.w[3];
  const [sh, sw] = pair(g.attrs.stride, 1), [ph, pw] = pair(g.attrs.padding, 0), [dh, dw] = pair(g.attrs.dilation, 1);
  return (n, c, oy, ox, t) => {
    const iy = oy * sh - ph + Math.floor(t / kw) * dh, ix = ox * sw - pw + (t % kw) * dw;
    return iy < 0 || iy >= h || ix < 0 || ix >= wd ? 0 : x.data[((n * C + c) * h + iy) * wd + ix];
  };
}

/** y[n,f,p] = bias[f] + Σ_{c,a} w[f,c,a]·Σ_b M_p[a,b]·P_p[c,b] (DESIGN.md §2). */
function similarityRef(form: Form, g: Geo, x: Arr, w: Arr, m: Arr, bias: Arr): Arr {
  const [n, c] = g.x, [f, , kh, kw] = g.w, k = kh * kw, [ho, wo] = outSize(g), plane = ho * wo;
  const patchAt = patchOf(x, g);
  const y = arr([n, f, ho, wo]);
  const xt = new Float64Array(c * k), patch = new Float64Array(k);
  for (let b = 0; b < n; b++)
    for (let oy = 0; oy < ho; oy++)
      for (let ox = 0; ox < wo; ox++) {
        const p = oy * wo + ox;
        for (let ci = 0; ci < c; ci++) {
          for (let t = 0; t < k; t++) patch[t] = patchAt(b, ci, oy, ox, t);
          for (let a = 0; a < k; a++) {
            let s = 0;
            for (let t = 0; t < k; t++) s += mAt(form, m, k, plane, b, p, a, t) * patch[t];
            xt[ci * k + a] = s;
          }
        }
        for (let o = 0; o < f; o++) {
          let s = bias.data[o];
          for (let i = 0; i < c * k; i++) s += w.data[o * c * k + i] * xt[i];
          y.data[((b * f + o) * ho + oy) * wo + ox] = s;
        }
      }
  return y;
}

/** dx, dw, dm of the dynamic forms for upstream dy, from the formulas of DESIGN.md §2 as plain loops. */
function similarityBackwardRef(form: Form, g: Geo, x: Arr, w: Arr, m: Arr, dy: Arr): { dx: Arr; dw: Arr; dm: Arr } {
  const [n, c, h, wd] = g.x, [f, , kh, kw] = g.w, k = kh * kw, [ho, wo] = outSize(g), plane = ho * wo;
  const [sh, sw] = pair(g.attrs.stride, 1), [ph, pw] = pair(g.attrs.padding, 0), [dh, dw] = pair(g.attrs.dilation, 1);
  const patchAt = patchOf(x, g);
  const dx = arr(x.shape), dW = arr(w.shape), dm = arr(m.shape);
  const patch = new Float64Array(k), xt = new Float64Array(k), gxt = new Float64Array(k);
  for (let b = 0; b < n; b++)
    for (let oy = 0; oy < ho; oy++)
      for (let ox = 0; ox < wo; ox++) {
        const p = oy * wo + ox;
        for (let ci = 0; ci < c; ci++) {
          xt.fill(0);
          gxt.fill(0);
          for (let t = 0; t < k; t++) patch[t] = patchAt(b, ci, oy, ox, t);
          for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) xt[i] += mAt(form, m, k, plane, b, p, i, j) * patch[j];
          for (let o = 0; o < f; o++) {
            const gy = dy.data[(b * f + o) * plane + p];
            for (let i = 0; i < k; i++) {
              dW.data[(o * c + ci) * k + i] += gy * xt[i];
              gxt[i] += w.data[(o * c + ci) * k + i] * gy;
            }
          }
          for (let i = 0; i < k; i++)
            for (let j = 0; j < k; j++) {
              if (form === 'diagonal' && i !== j) continue;
              dm.data[(b * (form === 'spatial' ? k * k : k) + (form === 'spatial' ? i * k + j : i)) * plane + p] +=
                gxt[i] * patch[j];
              const iy = oy * sh - ph + Math.floor(j / kw) * dh, ix = ox * sw - pw + (j % kw) * dw;
              if (iy >= 0 && iy < h && ix >= 0 && ix < wd)
                dx.data[((b * c + ci) * h + iy) * wd + ix] += mAt(form, m, k, plane, b, p, i, j) * gxt[i];
            }
        }
      }
  return { dx, dw: dW, dm };
}

/** Static forms: w' = fold(w, m), then conv2d; gradients through w' and the fold-back of kernels.h. */
function staticRef(form: Form, g: Geo, x: Arr, w: Arr, m: Arr, bias: Arr, dy: Arr) {
  const k = g.w[2] * g.w[3], rows = w.data.length / k;
  const wf = arr(w.shape);
  for (let r = 0; r < rows; r++)
    for (let b = 0; b < k; b++) {
      let s = 0;
      for (let a = 0; a < k; a++) s += w.data[r * k + a] * (form === 'spatial' ? m.data[a * k + b] : a === b ? m.data[b] : 0);
      wf.data[r * k + b] = s;
    }
  const y = conv2d(x, wf, bias, g.attrs);
  const { dx, dw: dwf, db } = conv2dBackward(x, wf, dy, g.attrs);
  const dw = arr(w.shape), dm = arr(m.shape);
  for (let r = 0; r < rows; r++)
    for (let a = 0; a < k; a++) {
      let s = 0;
      for (let b = 0; b < k; b++) s += dwf.data[r * k + b] * (form === 'spatial' ? m.data[a * k + b] : a === b ? m.data[a] : 0);
      dw.data[r * k + a] = s;
    }
  for (let r = 0; r < rows; r++)
    for (let a = 0; a < k; a++)
      for (let b = 0; b < k; b++) {
        if (form === 'diagonal' && a !== b) continue;
        dm.data[form === 'spatial' ? a * k + b : a] += w.data[r * k + a] * dwf.data[r * k + b];
      }
  return { y, dx, dw, dm, db };
}

interface MatmulSpec { batch: number; m: number; n: number; k: number; a_bs: number; a_rs: number; a_cs: number;
  b_bs: number; b_rs: number; b_cs: number; accumulate: number }

/** The contract's strided batched product. */
function matmulRef(s: MatmulSpec, a: Float64Array, b: Float64Array, c0: Float64Array): Float64Array {
  const out = new Float64Array(s.batch * s.m * s.n);
  for (let z = 0; z < s.batch; z++)
    for (let i = 0; i < s.m; i++)
      for (let j = 0; j < s.n; j++) {
        let v = 0;
        for (let q = 0; q < s.k; q++) v += a[z * s.a_bs + i * s.a_rs + q * s.a_cs] * b[z * s.b_bs + q * s.b_rs + j * s.b_cs];
        const o = (z * s.m + i) * s.n + j;
        out[o] = s.accumulate ? c0[o] + v : v;
      }
  return out;
}

// ------------------------------------------------------------------ cases

const GEOS: Record<string, Geo> = {
  '3×3 pad 1': { x: [2, 3, 5, 6], w: [4, 3, 3, 3], attrs: { padding: 1 } },
  'stride 2, pad 0, odd sizes': { x: [2, 5, 7, 9], w: [6, 5, 3, 3], attrs: { stride: 2 } },
  'dilation 2, pad 2': { x: [1, 4, 8, 7], w: [5, 4, 3, 3], attrs: { dilation: 2, padding: 2 } },
  '1×1': { x: [3, 7, 4, 5], w: [9, 7, 1, 1], attrs: {} },
  '5×3, pad (2,1), stride (1,2)': { x: [2, 3, 9, 8], w: [5, 3, 5, 3], attrs: { padding: [2, 1], stride: [1, 2] } },
  'stride 3, pad 2 (taps between strides)': { x: [1, 3, 10, 11], w: [5, 3, 3, 3], attrs: { stride: 3, padding: 2 } },
  // Several k-tiles of whole channels, channel groups of dm, tiles of positions and pixels.
  'channels cross k-tiles, groups and tiles': { x: [2, 20, 6, 7], w: [10, 20, 3, 3], attrs: { padding: 1 } },
};

const CONV_EXTRA: Record<string, Geo> = {
  'groups 2 (16 filters per group)': { x: [2, 4, 5, 5], w: [32, 2, 3, 3], attrs: { padding: 1, groups: 2 } },
  'many tiles and k-tiles': { x: [2, 40, 9, 11], w: [70, 40, 3, 3], attrs: { padding: 1 } },
};

const DEPTHWISE: Record<string, Geo> = {
  'depthwise, stride 2': { x: [2, 6, 7, 6], w: [6, 1, 3, 3], attrs: { padding: 1, stride: 2, groups: 6 } },
  'depthwise ×2, dilation 2': { x: [1, 4, 6, 6], w: [8, 1, 3, 3], attrs: { padding: 2, dilation: 2, groups: 4 } },
};

const SIM_EXTRA: Record<string, Geo> = {
  '4×4 (16 taps, the most the tiles transform)': { x: [1, 2, 7, 6], w: [3, 2, 4, 4], attrs: { padding: 1 } },
  '3×2, stride (1,2)': { x: [1, 3, 5, 4], w: [9, 3, 3, 2], attrs: { padding: [1, 0], stride: [1, 2] } },
};

const SIM_DIRECT: Record<string, Geo> = {
  '5×5 (direct kernels)': { x: [1, 2, 6, 7], w: [3, 2, 5, 5], attrs: { padding: 2 } },
  '9×9 (direct kernels)': { x: [1, 2, 10, 9], w: [3, 2, 9, 9], attrs: { padding: 1 } },
  '3×3 stride 2 (direct kernels)': { x: [2, 3, 7, 5], w: [4, 3, 3, 3], attrs: { padding: 1, stride: 2 } },
};

// Kernel variants: TF32 warp tiles or FMA, production or small tiles, forced split-K parts, similarity
// k-tile caps (fewer channels per k-tile, padding rows), float64's shorter k-tiles.
const VARIANTS = [
  'math=mma cfg=real splits=1',
  'math=fma cfg=small splits=3',
  'math=mma cfg=small splits=2 cap=24',
  'math=fma64 cfg=real splits=2 cap=40',
];

interface Case { name: string; spec: string }

// A case's seed follows its operation and geometry, so that the variants of one share inputs (and their
// reference is computed once).
const cases: Case[] = [];
let seed = 1;
const add = (name: string, what: string, variants: string[]): void => {
  const s = seed++;
  for (const v of variants) cases.push({ name: v ? `${name} (${v})` : name, spec: `${what} ${v} seed=${s}`.replace(/  +/g, ' ') });
};
for (const [name, g] of Object.entries({ ...GEOS, ...CONV_EXTRA })) add(`conv2d ${name}`, `op=conv ${geoSpec(g)}`, VARIANTS);
for (const [name, g] of Object.entries(DEPTHWISE)) add(`conv2d ${name}`, `op=conv ${geoSpec(g)} path=direct`, ['']);
for (const form of ['diagonal', 'spatial'] as Form[]) {
  for (const [name, g] of Object.entries({ ...GEOS, ...SIM_EXTRA }))
    add(`dynamic ${form} ${name}`, `op=sim form=${form} ${geoSpec(g)}`, VARIANTS);
  for (const [name, g] of Object.entries(SIM_DIRECT)) add(`dynamic ${form} ${name}`, `op=sim form=${form} ${geoSpec(g)} path=direct`, ['']);
  for (const [name, g] of Object.entries({ '3×3 pad 1': GEOS['3×3 pad 1'], '5×3': GEOS['5×3, pad (2,1), stride (1,2)'],
    'many tiles and k-tiles': CONV_EXTRA['many tiles and k-tiles'] }))
    add(`static ${form} ${name}`, `op=static form=${form} ${geoSpec(g)}`, VARIANTS.slice(0, 2));
}

const MATMULS: Record<string, Partial<MatmulSpec>> = {
  'row-major, several tiles': { batch: 2, m: 70, n: 130, k: 45 },
  'row-major, strides multiples of 4 (vector copies)': { batch: 2, m: 70, n: 132, k: 52 },
  'A transposed, vector copies along rows': { batch: 2, m: 36, n: 20, k: 29, a_rs: 1, a_cs: 36, a_bs: 36 * 29 },
  'B column-major, vector copies along k': { batch: 1, m: 9, n: 40, k: 52, b_rs: 1, b_cs: 52, b_bs: 52 * 40 },
  'A transposed (a_rs = 1)': { batch: 1, m: 33, n: 17, k: 29, a_rs: 1, a_cs: 33, a_bs: 33 * 29 },
  'B column-major (b_rs = 1)': { batch: 2, m: 9, n: 40, k: 50, b_rs: 1, b_cs: 50, b_bs: 2000 },
  'broadcast A over the batch (a_bs = 0), accumulate': { batch: 3, m: 12, n: 7, k: 5, a_bs: 0, accumulate: 1 },
  'padded rows, strided columns': { batch: 1, m: 5, n: 6, k: 37, a_rs: 40, a_cs: 1, a_bs: 200, b_rs: 20, b_cs: 3, b_bs: 800 },
  'k = 0': { batch: 1, m: 3, n: 4, k: 0 },
  'k = 0, accumulate': { batch: 1, m: 3, n: 4, k: 0, accumulate: 1 },
  '1 × 1 × 1': { batch: 1, m: 1, n: 1, k: 1 },
};

function matmulSpec(p: Partial<MatmulSpec>): MatmulSpec {
  const m = p.m ?? 1, n = p.n ?? 1, k = p.k ?? 1;
  return { batch: p.batch ?? 1, m, n, k, a_bs: p.a_bs ?? m * k, a_rs: p.a_rs ?? k, a_cs: p.a_cs ?? 1, b_bs: p.b_bs ?? k * n,
    b_rs: p.b_rs ?? n, b_cs: p.b_cs ?? 1, accumulate: p.accumulate ?? 0 };
}

for (const [name, p] of Object.entries(MATMULS))
  add(`matmul ${name}`, `op=matmul ${Object.entries(matmulSpec(p)).map(([key, val]) => `${key}=${val}`).join(' ')}`, VARIANTS);

// ------------------------------------------------------------------ running the emulation

interface Output { selftests: Record<string, { ok: boolean; detail: string }>; cases: Record<string, unknown>[] }

/** Compiles the emulation into os.tmpdir() (g++ is required: without it this test fails). */
function compile(): string {
  const probe = spawnSync('g++', ['--version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) throw new Error('g++ is required to compile test/cuda-host/igemm_test.cc but was not found');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ns-igemm-'));
  const exe = path.join(dir, 'igemm_test');
  execFileSync('g++', ['-std=c++17', '-O1', '-Wall', '-Wextra', '-Werror', '-I', 'native', '-I', 'cuda', SOURCE, '-o', exe],
    { cwd: ROOT, stdio: 'pipe' });
  return exe;
}

let output: Output;

beforeAll(() => {
  const exe = compile();
  try {
    const stdout = execFileSync(exe, [], { input: cases.map((c) => c.spec).join('\n') + '\n', encoding: 'utf8',
      maxBuffer: 1 << 30, stdio: ['pipe', 'pipe', 'pipe'] });
    output = JSON.parse(stdout) as Output;
  } finally {
    fs.rmSync(path.dirname(exe), { recursive: true, force: true });
  }
});

const values = (v: unknown): Float64Array => Float64Array.from(v as (number | null)[], (x) => (x === null ? NaN : x));
// Inputs are float32 values printed with 9 significant digits: Math.fround recovers them exactly.
const inputs = (v: unknown): Float64Array => values(v).map(Math.fround);

function tensorOf(out: Record<string, unknown>, name: string, shape: number[]): Arr {
  const data = inputs(out[name]);
  expect(data.length).toBe(shape.reduce((p, d) => p * d, 1));
  return { shape, data };
}

/** |got − want| ≤ TOL·max(1, max |want|) everywhere, NaN never. */
function expectMatches(label: string, got: Float64Array, want: Float64Array): void {
  expect(got.length).toBe(want.length);
  let scale = 1;
  for (const v of want) scale = Math.max(scale, Math.abs(v));
  const bad: string[] = [];
  for (let i = 0; i < want.length; i++)
    if (!(Math.abs(got[i] - want[i]) <= TOL * scale) && bad.length < 5) bad.push(`${label}[${i}] got ${got[i]}, expected ${want[i]}`);
  expect(bad).toEqual([]);
}

function spec(line: string): Record<string, string> {
  return Object.fromEntries(line.split(' ').filter((t) => t.includes('=')).map((t) => t.split('=') as [string, string]));
}

function geoOf(s: Record<string, string>): Geo {
  const v = (k: string): number => Number(s[k]);
  return { x: [v('n'), v('c'), v('h'), v('w')], w: [v('f'), v('c') / v('groups'), v('kh'), v('kw')],
    attrs: { stride: [v('sh'), v('sw')], padding: [v('ph'), v('pw')], dilation: [v('dh'), v('dw')], groups: v('groups') } };
}

// References by the case's operation, geometry and seed (the variants of a case share them).
const refCache = new Map<string, Record<string, Float64Array>>();

function reference(key: string, compute: () => Record<string, Float64Array>): Record<string, Float64Array> {
  let r = refCache.get(key);
  if (!r) refCache.set(key, (r = compute()));
  return r;
}

const VARIANT_KEYS = new Set(['math', 'cfg', 'splits', 'cap']);

function checkCase(index: number): void {
  const out = output.cases[index];
  const s = spec(out.spec as string);
  const key = Object.entries(s).filter(([k]) => !VARIANT_KEYS.has(k)).map(([k, v]) => `${k}=${v}`).join(' ');
  if (s.op === 'matmul') {
    const ms = matmulSpec(Object.fromEntries(Object.entries(s).map(([k, v]) => [k, Number(v)])) as Partial<MatmulSpec>);
    expectMatches('c', values(out.c), matmulRef(ms, inputs(out.a), inputs(out.b), inputs(out.c0)));
    return;
  }
  const g = geoOf(s), [ho, wo] = outSize(g), k = g.w[2] * g.w[3];
  const x = tensorOf(out, 'x', g.x), w = tensorOf(out, 'w', g.w), bias = tensorOf(out, 'bias', [g.w[0]]);
  const dy = tensorOf(out, 'dy', [g.x[0], g.w[0], ho, wo]);
  const form = s.form as Form;
  const ref = reference(key, (): Record<string, Float64Array> => {
    if (s.op === 'conv') {
      const back = conv2dBackward(x, w, dy, g.attrs);
      return { y: conv2d(x, w, bias, g.attrs).data, dx: back.dx.data, dw: back.dw.data, db: back.db.data };
    }
    if (s.op === 'sim') {
      const m = tensorOf(out, 'm', [g.x[0], form === 'spatial' ? k * k : k, ho, wo]);
      const back = similarityBackwardRef(form, g, x, w, m, dy);
      return { y: similarityRef(form, g, x, w, m, bias).data, dx: back.dx.data, dw: back.dw.data, dm: back.dm.data };
    }
    const r = staticRef(form, g, x, w, tensorOf(out, 'm', form === 'spatial' ? [k, k] : [k]), bias, dy);
    return { y: r.y.data, dx: r.dx.data, dw: r.dw.data, dm: r.dm.data };
  });
  for (const [name, want] of Object.entries(ref)) expectMatches(name, values(out[name]), want);
}

describe('CUDA implicit-GEMM kernels emulated on the CPU', () => {
  test('self-tests: fast division, mma fragment tables, warp products, bank-conflict-free tiles', () => {
    const failed = Object.entries(output.selftests).filter(([, r]) => !r.ok).map(([name, r]) => `${name}: ${r.detail}`);
    expect(failed).toEqual([]);
    expect(Object.keys(output.selftests).sort()).toEqual(['bank_conflicts', 'fastdivmod', 'fragment_tables', 'warp_products']);
  });

  test('every case ran', () => {
    expect(output.cases.map((c) => c.spec)).toEqual(cases.map((c) => c.spec));
  });

  cases.forEach((c, i) => test(c.name, () => checkCase(i)));
});

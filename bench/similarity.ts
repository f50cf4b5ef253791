/**
 * Neural similarity convolution against plain conv2d, forward + backward, on the conv2d shapes, fp32:
 * every form of M, the fused dynamic kernels beside the same layer computed the way the authors'
 * TensorFlow code does it (per-tap products materialised, then mixed), their extra memory, and whole
 * DynamicSimilarityConv2d layers (predictor included) against Conv2d of the same width.
 */
import * as ns from '../lib';
import { native } from '../lib/backend/native';
import { SHAPES } from './conv2d';
import { time, timeSideBySide, printTable, writeResults, Timing } from './util';

type Shape = (typeof SHAPES)[number];
const K = 9;

/** One forward + backward with upstream gradient dy, everything freed at the end; `probe` runs after each pass. */
type Step = (probe?: () => void) => void;

function step(x: ns.Tensor, w: ns.Tensor, dy: ns.Tensor, forward: () => ns.Tensor, extraLeaves: ns.Tensor[] = []): Step {
  return (probe) => ns.tidy(() => {
    const y = forward();
    probe?.();
    y.backward(dy);
    probe?.();
    for (const t of [x, w, ...extraLeaves]) {
      t.grad?.dispose();
      t.grad = null;
    }
  });
}

/** The layer as the authors' TensorFlow code computes it, from the library's own ops. */
function materialised(form: 'diagonal' | 'spatial', x: ns.Tensor, w: ns.Tensor, m: ns.Tensor): ns.Tensor {
  const [n, c, h, wd] = x.shape, f = w.shape[0];
  // Zero padding by 1, then the K shifted views of the input (one per tap).
  const zr = ns.zeros([n, c, 1, wd]), padRows = ns.concat([zr, x, zr], 2);
  const zc = ns.zeros([n, c, h + 2, 1]), padded = ns.concat([zc, padRows, zc], 3);
  const taps = Array.from({ length: K }, (_, t) => ns.slice(padded, [0, 0, Math.floor(t / 3), t % 3], [n, c, h, wd]));
  if (form === 'diagonal') {
    // Per-tap outputs y_a = w[:, :, a] · P_a stacked into [N, F, K, H, W] (K times the output), then mixed.
    const perTap = ns.stack(taps.map((p, t) => ns.conv2d(p, ns.slice(w, [0, 0, Math.floor(t / 3), t % 3], [f, c, 1, 1]))), 2);
    return ns.sum(ns.mul(perTap, ns.reshape(m, [n, 1, K, h, wd])), 2);
  }
  // Spatial: patches [N, HW, K, C] materialised, X̃_p = M_p · P_p per position, then the GEMM with w.
  const patches = ns.permute(ns.reshape(ns.stack(taps, 2), [n, c, K, h * wd]), [0, 3, 2, 1]);
  const mp = ns.permute(ns.reshape(m, [n, K, K, h * wd]), [0, 3, 1, 2]);
  const xt = ns.reshape(ns.matmul(mp, patches), [n, h * wd, K, c]);
  const cols = ns.reshape(ns.permute(xt, [0, 1, 3, 2]), [n * h * wd, c * K]);
  const y = ns.matmul(cols, ns.transpose(ns.reshape(w, [f, c * K])));
  return ns.permute(ns.reshape(y, [n, h, wd, f]), [0, 3, 1, 2]);
}

interface Memory { jsPeakBytes: number; nativePeakBytes: number }

/** Peak live tensor bytes and native scratch bytes of one more run of a step. */
function memoryOf(run: Step): Memory {
  native.workspacePeak(1);
  const base = ns.memory().numBytes;
  let peak = 0;
  run(() => (peak = Math.max(peak, ns.memory().numBytes - base)));
  return { jsPeakBytes: peak, nativePeakBytes: native.workspacePeak(1) };
}

function benchShape(s: Shape) {
  ns.manualSeed(1);
  const x = ns.randn([s.n, s.c, s.hw, s.hw], { requiresGrad: true });
  const w = ns.randn([s.f, s.c, 3, 3], { requiresGrad: true });
  const dy = ns.randn([s.n, s.f, s.hw, s.hw]);
  const flops = 2 * s.n * s.f * s.hw * s.hw * s.c * 9;
  const outBytes = dy.byteLength;
  const steps: Record<string, Step> = { conv2d: step(x, w, dy, () => ns.conv2d(x, w, { padding: 1 })) };
  const staticM = {
    'static diagonal': ns.ones([K], { requiresGrad: true }),
    'static spatial': ns.eye(K, { requiresGrad: true }),
    'static full': ns.eye(s.c * K, { requiresGrad: true }),
  };
  for (const [name, m] of Object.entries(staticM)) {
    steps[name] = step(x, w, dy, () => ns.similarityConv2d(x, w, m, { padding: 1 }), [m]);
  }
  const dynamicM = {} as Record<'diagonal' | 'spatial', ns.Tensor>;
  for (const form of ['diagonal', 'spatial'] as const) {
    const rowsOfM = form === 'diagonal' ? K : K * K;
    const m = ns.add(ns.mul(ns.randn([s.n, rowsOfM, s.hw, s.hw]), 0.1), form === 'diagonal' ? 1 : 0);
    m.requiresGrad = true;
    dynamicM[form] = m;
    steps[`dynamic ${form} (fused)`] = step(x, w, dy, () => ns.similarityConv2d(x, w, m, { padding: 1 }), [m]);
    steps[`dynamic ${form} (TF-style)`] = step(x, w, dy, () => materialised(form, x, w, m), [m]);
  }
  // The convolution and the fused kernels side by side; the TF-style layers (whose gigabytes of
  // temporaries would flush the others' caches between their runs) each on their own.
  const materialisedStep = (name: string) => name.endsWith('(TF-style)');
  const timings = timeSideBySide(Object.fromEntries(Object.entries(steps)
    .filter(([name]) => !materialisedStep(name)).map(([name, run]) => [name, () => run()])));
  for (const name of Object.keys(steps).filter(materialisedStep)) timings[name] = time(() => steps[name]());
  const rows: Record<string, { timing: Timing; extraBytes?: number }> = {};
  const convMemory = memoryOf(steps.conv2d);
  for (const name of Object.keys(steps)) {
    rows[name] = { timing: timings[name] };
    const form = name.startsWith('dynamic diagonal') ? 'diagonal' : name.startsWith('dynamic spatial') ? 'spatial' : null;
    if (!form) continue;
    // Extra memory over plain conv2d: tensor bytes beyond its own (less dm, a gradient of an input) and
    // native scratch beyond its own.
    const r = memoryOf(steps[name]);
    rows[name].extraBytes = Math.max(0, r.jsPeakBytes - dynamicM[form].byteLength - convMemory.jsPeakBytes) +
      Math.max(0, r.nativePeakBytes - convMemory.nativePeakBytes);
  }
  for (const m of [...Object.values(staticM), ...Object.values(dynamicM)]) m.dispose();
  for (const t of [x, w, dy]) t.dispose();
  return { shape: s, flops, outBytes, rows };
}

/** Whole layers: DynamicSimilarityConv2d (predictor included) against Conv2d of the same width. */
function benchLayers(s: Shape) {
  ns.manualSeed(2);
  const x = ns.randn([s.n, s.c, s.hw, s.hw]);
  const layers: [string, ns.nn.Module][] = [
    ['Conv2d', new ns.nn.Conv2d(s.c, s.f, 3, { padding: 1 })],
    ['DynamicSimilarityConv2d diagonal', new ns.nn.DynamicSimilarityConv2d(s.c, s.f, 3, { padding: 1, form: 'diagonal' })],
    ['DynamicSimilarityConv2d spatial', new ns.nn.DynamicSimilarityConv2d(s.c, s.f, 3, { padding: 1, form: 'spatial' })],
  ];
  const result = timeSideBySide(Object.fromEntries(layers.map(([name, layer]) => [name, () => ns.tidy(() => {
    const y = layer.forward(x);
    y.backward(ns.onesLike(y));
    layer.zeroGrad();
  })])));
  for (const [, layer] of layers) layer.dispose();
  x.dispose();
  return result;
}

/** Runs the benchmark, prints the tables and writes bench/results/similarity.json. */
export function run(): void {
  const threads = ns.getNumThreads();
  const shapes = SHAPES.map(benchShape);
  const names = Object.keys(shapes[0].rows);
  printTable(`neural similarity vs conv2d, forward + backward, fp32, 3×3 pad 1, ${threads} threads: time ratio to conv2d (best of repetitions)`,
    ['variant', ...shapes.map((r) => `${r.shape.name} (${r.shape.n},${r.shape.c},${r.shape.hw},${r.shape.f})`)],
    names.map((name) => [name, ...shapes.map((r) => r.rows[name].timing.best / r.rows.conv2d.timing.best)]));
  printTable('conv2d forward + backward, ms', ['', ...shapes.map((r) => r.shape.name)],
    [['conv2d', ...shapes.map((r) => 1e3 * r.rows.conv2d.timing.best)]]);
  const dynamicNames = names.filter((n) => n.startsWith('dynamic'));
  printTable('dynamic layers: extra memory over conv2d (tensors + native scratch) / output size (target ≤ 0.5 for the fused kernels)',
    ['variant', ...shapes.map((r) => r.shape.name)],
    dynamicNames.map((name) => [name, ...shapes.map((r) => r.rows[name].extraBytes! / r.outBytes)]));
  const layers = SHAPES.map(benchLayers);
  printTable('whole layers, forward + backward: time ratio to Conv2d of the same width',
    ['layer', ...SHAPES.map((s) => s.name)],
    Object.keys(layers[0]).map((name) => [name, ...layers.map((l) => l[name].best / l.Conv2d.best)]));
  const file = writeResults('similarity', { threads, backend: ns.backendInfo(), shapes, layers });
  console.log(`results written to ${file}`);
}

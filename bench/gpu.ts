/**
 * The GPU benchmark of bench/gpu-check.sh: plain conv2d and every similarity form (forward + backward) on the
 * bench shapes s1–s4 and the layers of the paper's 9-layer CIFAR network at batch 128, beside PyTorch's conv2d on
 * the same shapes when python3 imports torch with CUDA; then training steps of that network (plain, static
 * spatial, dynamic diagonal) in images per second, beside PyTorch's plain network. Each time is the mean of a
 * timed loop between two device synchronisations, after warm-up. Prints one table; writes JSON.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as ns from '../lib';
import { findTorch, printTable } from './util';

interface Shape { name: string; n: number; c: number; hw: number; f: number }

const SHAPES: Shape[] = [
  { name: 's1', n: 32, c: 64, hw: 32, f: 64 }, { name: 's2', n: 32, c: 128, hw: 16, f: 128 },
  { name: 's3', n: 128, c: 3, hw: 32, f: 64 }, { name: 's4', n: 8, c: 256, hw: 8, f: 256 },
  { name: 'cifar stem', n: 128, c: 3, hw: 32, f: 32 }, { name: 'cifar 32→32 @32', n: 128, c: 32, hw: 32, f: 32 },
  { name: 'cifar 32→64 @16', n: 128, c: 32, hw: 16, f: 64 }, { name: 'cifar 64→64 @16', n: 128, c: 64, hw: 16, f: 64 },
  { name: 'cifar 64→128 @8', n: 128, c: 64, hw: 8, f: 128 }, { name: 'cifar 128→128 @8', n: 128, c: 128, hw: 8, f: 128 },
];

const FORMS = ['plain', 'static-diagonal', 'static-spatial', 'dynamic-diagonal', 'dynamic-spatial'] as const;
type Form = typeof FORMS[number];

/** Mean seconds of `fn` over a loop between two synchronisations, after warm-up. */
function timeGpu(fn: () => void, iters = 20, warmup = 3): number {
  for (let i = 0; i < warmup; i++) fn();
  ns.cuda.synchronize();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < iters; i++) fn();
  ns.cuda.synchronize();
  return Number(process.hrtime.bigint() - t0) / 1e9 / iters;
}

function layerStep(s: Shape, form: Form): () => void {
  const x = ns.keep(ns.randn([s.n, s.c, s.hw, s.hw], { device: 'cuda', requiresGrad: true }));
  const w = ns.keep(ns.randn([s.f, s.c, 3, 3], { device: 'cuda', requiresGrad: true }));
  const mShape = form === 'static-diagonal' ? [9] : form === 'static-spatial' ? [9, 9]
    : form === 'dynamic-diagonal' ? [s.n, 9, s.hw, s.hw] : [s.n, 81, s.hw, s.hw];
  const m = form === 'plain' ? null : ns.keep(ns.rand(mShape, { device: 'cuda', requiresGrad: true }));
  const dy = ns.keep(ns.randn([s.n, s.f, s.hw, s.hw], { device: 'cuda' }));
  return () => ns.tidy(() => {
    const y = m ? ns.similarityConv2d(x, w, m, { padding: 1 }) : ns.conv2d(x, w, { padding: 1 });
    y.backward(dy);
    for (const t of [x, w, m]) {
      t?.grad?.dispose();
      if (t) t.grad = null;
    }
  });
}

const TORCH_LAYERS = `
import json, sys, time, torch
torch.backends.cudnn.benchmark = True
shapes = json.loads(sys.argv[1])
def time_gpu(fn, iters=20, warmup=3):
    for _ in range(warmup): fn()
    torch.cuda.synchronize(); t0 = time.perf_counter()
    for _ in range(iters): fn()
    torch.cuda.synchronize(); return (time.perf_counter() - t0) / iters
out = []
for s in shapes:
    x = torch.randn(s['n'], s['c'], s['hw'], s['hw'], device='cuda', requires_grad=True)
    w = torch.randn(s['f'], s['c'], 3, 3, device='cuda', requires_grad=True)
    dy = torch.randn(s['n'], s['f'], s['hw'], s['hw'], device='cuda')
    def step():
        y = torch.nn.functional.conv2d(x, w, padding=1); y.backward(dy); x.grad = None; w.grad = None
    out.append(time_gpu(step))
print(json.dumps(out))
`;

const TORCH_TRAIN = `
import json, sys, time, torch, torch.nn as nn
torch.backends.cudnn.benchmark = True
steps = int(sys.argv[1])
def block(c, f): return [nn.Conv2d(c, f, 3, padding=1, bias=False), nn.BatchNorm2d(f), nn.ReLU()]
layers = block(3, 32)
for c, f in [(32, 32), (32, 64), (64, 128)]:
    layers += block(c, f) + block(f, f) + block(f, f) + [nn.MaxPool2d(2)]
model = nn.Sequential(*layers, nn.Conv2d(128, 10, 4), nn.Flatten()).cuda()
opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
x = torch.randn(128, 3, 32, 32, device='cuda'); y = torch.randint(0, 10, (128,), device='cuda')
def step():
    loss = nn.functional.cross_entropy(model(x), y, label_smoothing=0.01); opt.zero_grad(); loss.backward(); opt.step()
for _ in range(5): step()
torch.cuda.synchronize(); t0 = time.perf_counter()
for _ in range(steps): step()
torch.cuda.synchronize(); print(json.dumps((time.perf_counter() - t0) / steps))
`;

function torchJson<T>(program: string, args: string[]): T | null {
  const py = findTorch();
  if (!py) return null;
  const check = spawnSync(py, ['-c', 'import torch; assert torch.cuda.is_available()'], { encoding: 'utf8' });
  if (check.status !== 0) return null;
  const r = spawnSync(py, ['-c', program, ...args], { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) {
    console.error(`PyTorch peer failed: ${r.stderr.trim().split('\n').slice(-3).join(' / ')}`);
    return null;
  }
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as T;
}

/** The paper's 9-layer CIFAR network with its nine stage layers of one kind. */
function cifarNet(kind: 'plain' | 'static-spatial' | 'dynamic-diagonal'): ns.nn.Module {
  const { nn } = ns;
  const layer = (c: number, f: number): ns.nn.Module => kind === 'plain' ? new nn.Conv2d(c, f, 3, { padding: 1, bias: false })
    : kind === 'static-spatial' ? new nn.SimilarityConv2d(c, f, 3, { padding: 1, bias: false, form: 'spatial' })
      : new nn.DynamicSimilarityConv2d(c, f, 3, { padding: 1, bias: false, form: 'diagonal' });
  const mods: ns.nn.Module[] = [new nn.Conv2d(3, 32, 3, { padding: 1, bias: false }), new nn.BatchNorm2d(32), new nn.ReLU()];
  for (const [c, f] of [[32, 32], [32, 64], [64, 128]]) {
    mods.push(layer(c, f), new nn.BatchNorm2d(f), new nn.ReLU(), layer(f, f), new nn.BatchNorm2d(f), new nn.ReLU(),
      layer(f, f), new nn.BatchNorm2d(f), new nn.ReLU(), new nn.MaxPool2d(2));
  }
  mods.push(new nn.Conv2d(128, 10, 4), new nn.Flatten());
  return new nn.Sequential(...mods);
}

function trainStepTime(kind: 'plain' | 'static-spatial' | 'dynamic-diagonal', steps: number): number {
  ns.manualSeed(0);
  const model = cifarNet(kind).to('cuda');
  const opt = new ns.optim.SGD(model.parameters(), { lr: 0.1, momentum: 0.9, weightDecay: 5e-4 });
  const x = ns.keep(ns.randn([128, 3, 32, 32], { device: 'cuda' }));
  const y = ns.keep(ns.tensor(Int32Array.from({ length: 128 }, (_, i) => i % 10), [128], { device: 'cuda' }));
  const step = (): void => ns.tidy(() => {
    const out = model.forward(x);
    const reg = model.regularization();
    const ce = ns.crossEntropy(out, y, { labelSmoothing: 0.01 });
    const loss = reg ? ns.add(ce, reg) : ce;
    opt.zeroGrad();
    loss.backward();
    opt.step();
  });
  const t = timeGpu(step, steps, 5);
  model.dispose();
  x.dispose();
  y.dispose();
  return t;
}

/** Runs the benchmark (on a machine with a usable CUDA device), prints the table and writes `outFile`. */
export function run(outFile = path.join(process.cwd(), 'gpu-bench.json')): void {
  if (!ns.cuda.isAvailable()) throw new Error(`bench gpu: no usable CUDA device (${ns.backendInfo().reason})`);
  const info = ns.backendInfo();
  const results: Record<string, unknown> = { device: info.device, tf32: ns.backends.cuda.allowTF32, layers: [], train: {} };
  const torchLayers = torchJson<number[]>(TORCH_LAYERS, [JSON.stringify(SHAPES)]);
  const rows: (string | number)[][] = [];
  SHAPES.forEach((s, i) => {
    const times = Object.fromEntries(FORMS.map((form) => [form, timeGpu(layerStep(s, form))])) as Record<Form, number>;
    const torch = torchLayers ? torchLayers[i] : null;
    (results.layers as unknown[]).push({ shape: s, seconds: times, torch });
    rows.push([s.name, (times.plain * 1e3).toFixed(3), torch ? (torch * 1e3).toFixed(3) : '—', torch ? (times.plain / torch).toFixed(2) : '—',
      ...FORMS.slice(1).map((f) => (times[f] / times.plain).toFixed(2))]);
  });
  printTable(`conv2d and similarity forms, forward + backward on ${info.device} (${ns.backends.cuda.allowTF32 ? 'TF32' : 'strict FP32'})`,
    ['shape', 'ours ms', 'torch ms', 'ours/torch', 'static diag ×', 'static spat ×', 'dyn diag ×', 'dyn spat ×'], rows);
  const steps = 60;
  const train: Record<string, number> = {};
  for (const kind of ['plain', 'static-spatial', 'dynamic-diagonal'] as const) train[kind] = trainStepTime(kind, steps);
  const torchTrain = torchJson<number>(TORCH_TRAIN, [String(steps)]);
  results.train = { stepSeconds: train, torchStepSeconds: torchTrain, batch: 128 };
  printTable('9-layer CIFAR network, training steps at batch 128', ['network', 'ms/step', 'images/s', 'vs torch plain'],
    [...Object.entries(train).map(([k, t]) => [k, (t * 1e3).toFixed(2), Math.round(128 / t), torchTrain ? (t / torchTrain).toFixed(2) : '—']),
      ...(torchTrain ? [['torch plain', (torchTrain * 1e3).toFixed(2), Math.round(128 / torchTrain), '1.00']] : [])]);
  fs.writeFileSync(outFile, JSON.stringify(results, null, 2));
  console.log(`results written to ${outFile}`);
}

if (require.main === module) run(process.argv[2]);

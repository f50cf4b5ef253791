/**
 * conv2d forward and backward (grad input + grad weight) throughput on the shapes, fp32, with
 * PyTorch timed on the same shapes in the same run when it is installed.
 */
import * as ns from '../lib';
import { backendOf } from '../lib/backend/context';
import { time, runTorch, findTorch, printTable, writeResults, Timing } from './util';

/** The shapes (N, C, H=W, F), 3×3 kernels, padding 1, stride 1. */
export const SHAPES = [
  { name: 's1', n: 32, c: 64, hw: 32, f: 64 },
  { name: 's2', n: 32, c: 128, hw: 16, f: 128 },
  { name: 's3', n: 128, c: 3, hw: 32, f: 64 },
  { name: 's4', n: 8, c: 256, hw: 8, f: 256 },
];

const TORCH_CONV = `
def run(a):
    x = torch.randn(a["n"], a["c"], a["hw"], a["hw"])
    w = torch.randn(a["f"], a["c"], 3, 3)
    with torch.no_grad():
        fwd = best_of(lambda: torch.nn.functional.conv2d(x, w, padding=1))
    xg = x.clone().requires_grad_(True); wg = w.clone().requires_grad_(True)
    y = torch.nn.functional.conv2d(xg, wg, padding=1)
    g = torch.randn_like(y)
    bwd = best_of(lambda: torch.autograd.grad(y, (xg, wg), g, retain_graph=True))
    return {"forward": fwd, "backward": bwd}
`;

const gflops = (flops: number, t: Timing): number => flops / t.best / 1e9;

/** Runs the benchmark, prints the table and writes bench/results/conv2d.json. */
export function run(): void {
  const threads = ns.getNumThreads();
  const rows: (string | number)[][] = [];
  const results = [];
  for (const s of SHAPES) {
    const flops = 2 * s.n * s.f * s.hw * s.hw * s.c * 9;
    const x = ns.randn([s.n, s.c, s.hw, s.hw]), w = ns.randn([s.f, s.c, 3, 3]);
    const forward = time(() => ns.tidy(() => {
      ns.noGrad(() => ns.conv2d(x, w, { padding: 1 }));
    }));
    // The backward pair through the kernels the autograd rule calls, on reused buffers.
    const dims = [s.n, s.c, s.hw, s.hw, s.f, 3, 3, 1, 1, 1, 1, 1, 1, 1];
    const dy = ns.randn([s.n, s.f, s.hw, s.hw]), dx = ns.zeros(x.shape), dw = ns.zeros(w.shape);
    const kernels = backendOf('bench conv2d', x, w, dy);
    const backward = time(() => {
      kernels.run('conv2dBackwardInput', dims, dy.buffer, w.buffer, dx.buffer);
      kernels.run('conv2dBackwardWeight', dims, x.buffer, dy.buffer, dw.buffer, null);
    });
    const torch = runTorch<{ forward: Timing; backward: Timing }>(TORCH_CONV, s, threads);
    const entry = {
      shape: s, flops,
      forward: { ...forward, gflops: gflops(flops, forward) },
      backward: { ...backward, gflops: gflops(2 * flops, backward) },
      torch: torch && {
        forward: { ...torch.forward, gflops: gflops(flops, torch.forward) },
        backward: { ...torch.backward, gflops: gflops(2 * flops, torch.backward) },
      },
    };
    results.push(entry);
    rows.push([
      `${s.name} (${s.n},${s.c},${s.hw},${s.f})`,
      entry.forward.gflops, torch ? entry.torch!.forward.gflops : '-', torch ? entry.forward.gflops / entry.torch!.forward.gflops : '-',
      entry.backward.gflops, torch ? entry.torch!.backward.gflops : '-', torch ? entry.backward.gflops / entry.torch!.backward.gflops : '-',
    ]);
    for (const t of [x, w, dy, dx, dw]) t.dispose();
  }
  printTable(`conv2d fp32, 3×3, pad 1, ${threads} threads, GFLOP/s (best of repetitions)`,
    ['shape (N,C,H=W,F)', 'fwd', 'torch fwd', 'ratio', 'bwd pair', 'torch bwd', 'ratio'], rows);
  const file = writeResults('conv2d', { threads, backend: ns.backendInfo(), torchPython: findTorch(), results });
  console.log(`results written to ${file}`);
}

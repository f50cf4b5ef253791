/**
 * Whole training steps (forward, loss, backward, SGD step) of the paper's 9-layer CIFAR network at batch 128 on the
 * CPU, with plain, static-spatial and dynamic-diagonal layers, beside PyTorch running the same network with the same
 * threads when python3 imports torch (for the dynamic form, PyTorch's best formulation: torchvision's
 * deform_conv2d with zero offsets and the predicted mask is the same maths). Also: images per second; minor page
 * faults per step after warm-up (process.resourceUsage; the warm-up includes JIT_WARMUP_STEPS tiny steps, so that
 * the JS engine's compiler has done its work), counted over FAULT_STEPS steps after the timed ones, with how many
 * steps had none and the split by thread (the JS thread, the kernels' workers, the JS engine's helper threads),
 * beside the CPU allocator's fresh allocations per step and PyTorch's faults per step;
 * and the memory a loop without tidy holds against one with tidy. Prints tables; writes train.json.
 */
import * as ns from '../lib';
import { cifar9, LayerKind } from '../lib/models';
import { runTorch, printTable, threadFaults, timeSideBySide, writeResults, ThreadFaults, Timing } from './util';

const BATCH = 128;
const KINDS: LayerKind[] = ['plain', 'static-spatial', 'dynamic-diagonal'];

// The same network in PyTorch; the dynamic layers predict M_p as DynamicSimilarityConv2d does (sphere conv C→64,
// BN, ReLU, 3×3 conv 64→9, BN, + 1) and apply it through deform_conv2d's mask with zero offsets.
const TORCH_TRAIN = `
import torch.nn as nn, torch.nn.functional as F
try:
    from torchvision.ops import deform_conv2d
except Exception:
    deform_conv2d = None
class Sphere(nn.Module):
    def __init__(s, c, h):
        super().__init__(); s.w = nn.Parameter(torch.randn(h, c, 3, 3) * (2 / (9 * c)) ** 0.5)
    def forward(s, x):
        y = F.conv2d(x, s.w, padding=1)
        n = F.conv2d((x * x).sum(1, keepdim=True), torch.ones(1, 1, 3, 3), padding=1)
        return y / torch.sqrt(n + 1e-4)
class Dynamic(nn.Module):
    def __init__(s, c, f):
        super().__init__()
        s.w = nn.Parameter(torch.randn(f, c, 3, 3) * (2 / (9 * c)) ** 0.5)
        s.g = nn.Sequential(Sphere(c, 64), nn.BatchNorm2d(64), nn.ReLU(), nn.Conv2d(64, 9, 3, padding=1, bias=False), nn.BatchNorm2d(9))
    def forward(s, x):
        m = 1 + s.g(x)
        off = torch.zeros(x.shape[0], 18, x.shape[2], x.shape[3])
        return deform_conv2d(x, off, s.w, padding=1, mask=m)
class Static(nn.Module):
    def __init__(s, c, f):
        super().__init__()
        s.w = nn.Parameter(torch.randn(f, c, 3, 3) * (2 / (9 * c)) ** 0.5); s.m = nn.Parameter(torch.eye(9))
    def forward(s, x):
        w = (s.w.reshape(-1, 9) @ s.m).reshape(s.w.shape)
        return F.conv2d(x, w, padding=1)
def layer(kind, c, f):
    if kind == 'plain': return nn.Conv2d(c, f, 3, padding=1, bias=False)
    if kind == 'static-spatial': return Static(c, f)
    return Dynamic(c, f)
def run(args):
    kind = args['kind']
    if kind == 'dynamic-diagonal' and deform_conv2d is None: return None
    mods = [nn.Conv2d(3, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU()]
    for c, f in [(32, 32), (32, 64), (64, 128)]:
        for ci, fi in [(c, f), (f, f), (f, f)]: mods += [layer(kind, ci, fi), nn.BatchNorm2d(fi), nn.ReLU()]
        mods.append(nn.MaxPool2d(2))
    model = nn.Sequential(*mods, nn.Conv2d(128, 10, 4), nn.Flatten())
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    x = torch.randn(${BATCH}, 3, 32, 32); y = torch.randint(0, 10, (${BATCH},))
    def step():
        loss = F.cross_entropy(model(x), y, label_smoothing=0.01); opt.zero_grad(); loss.backward(); opt.step()
    return best_of(step, warmup=2, min_reps=args['reps'], min_seconds=0)
`;

// Steps at a tiny batch that bring the JS engine's optimising compiler to rest before anything is measured: until it
// has compiled the hot functions of a step (about 150 steps in), its compilations fault in fresh pages of its own.
const JIT_WARMUP_STEPS = 150;
const JIT_WARMUP_BATCH = 4;

/** A training step of the 9-layer network of `kind` (SGD, label smoothing, the model's regularisation) at BATCH or
 * JIT_WARMUP_BATCH images. */
function stepFn(kind: LayerKind, useTidy: boolean): { step: (batch?: number) => void; dispose: () => void } {
  ns.manualSeed(0);
  const model = cifar9(kind).to('cpu');
  const opt = new ns.optim.SGD(model.parameters(), { lr: 0.1, momentum: 0.9, weightDecay: 5e-4 });
  const inputs = new Map([BATCH, JIT_WARMUP_BATCH].map((batch) => [batch, [ns.randn([batch, 3, 32, 32], { device: 'cpu' }),
    ns.tensor(Int32Array.from({ length: batch }, (_, i) => i % 10), [batch], { device: 'cpu' })]]));
  const body = (batch: number): void => {
    const [x, y] = inputs.get(batch)!;
    const ce = ns.crossEntropy(model.forward(x), y, { labelSmoothing: 0.01 });
    const reg = model.regularization();
    const loss = reg ? ns.add(ce, reg) : ce;
    opt.zeroGrad();
    loss.backward();
    opt.step();
  };
  return {
    step: useTidy ? (batch = BATCH) => ns.tidy(() => body(batch)) : (batch = BATCH) => body(batch),
    dispose: () => {
      model.dispose();
      for (const [x, y] of inputs.values()) {
        x.dispose();
        y.dispose();
      }
    },
  };
}

// Steps whose page faults are counted, after the timed ones (reading /proc per step stays out of the timing).
const FAULT_STEPS = 12;

interface FaultCount {
  steps: number;
  perStep: number;
  stepsWithout: number;
  byThread: ThreadFaults | null;
  freshAllocationsPerStep: number;
}

/** Minor page faults of `n` steps: per step on average, by thread group, how many steps had none; and the CPU
 * allocator's fresh allocations per step. */
function countFaults(step: () => void, n: number): FaultCount {
  const before = threadFaults(), fresh0 = ns.memory().cpu.freshAllocations;
  let total = 0, stepsWithout = 0;
  for (let i = 0; i < n; i++) {
    const f0 = process.resourceUsage().minorPageFault;
    step();
    const f = process.resourceUsage().minorPageFault - f0;
    total += f;
    if (f === 0) stepsWithout++;
  }
  const after = threadFaults();
  const byThread = before && after ? {
    main: (after.main - before.main) / n, kernels: (after.kernels - before.kernels) / n, engine: (after.engine - before.engine) / n,
  } : null;
  return { steps: n, perStep: total / n, stepsWithout, byThread, freshAllocationsPerStep: (ns.memory().cpu.freshAllocations - fresh0) / n };
}

/** Runs the benchmark, prints the tables and writes train.json. */
export function run(reps = Number(process.env.NEURAL_SIMILARITY_BENCH_REPS ?? 5)): void {
  const threads = ns.getNumThreads();
  const rows: (string | number)[][] = [];
  const results: Record<string, unknown>[] = [];
  for (const kind of KINDS) {
    const { step, dispose } = stepFn(kind, true);
    for (let i = 0; i < JIT_WARMUP_STEPS; i++) step(JIT_WARMUP_BATCH);
    for (let i = 0; i < 2; i++) step();
    const timing: Timing = timeSideBySide({ step }, { warmup: 0, minReps: reps, minSeconds: 0 }).step;
    const faults = countFaults(step, Math.max(reps, FAULT_STEPS));
    dispose();
    let torch: Timing | null = null;
    try {
      torch = runTorch<Timing | null>(TORCH_TRAIN, { kind, reps }, threads);
    } catch (err) {
      console.error(`PyTorch peer failed for ${kind}: ${(err as Error).message.split('\n').slice(-2).join(' ')}`);
    }
    results.push({ kind, batch: BATCH, threads, ours: timing, torch, faults,
      warmup: { jitSteps: JIT_WARMUP_STEPS, jitBatch: JIT_WARMUP_BATCH, steps: 2 } });
    const { byThread: t } = faults;
    const split = t ? ` (${[t.main, t.kernels, t.engine].map((f) => f.toFixed(1)).join(' / ')})` : '';
    rows.push([kind, timing.median * 1e3, Math.round(BATCH / timing.median), `${faults.perStep.toFixed(1)}${split}`,
      `${faults.stepsWithout} of ${faults.steps}`, faults.freshAllocationsPerStep,
      torch ? torch.median * 1e3 : '—', torch?.minorFaultsPerRep !== undefined ? torch.minorFaultsPerRep : '—',
      torch ? (timing.median / torch.median).toFixed(2) : '—']);
  }
  printTable(`9-layer CIFAR network, training steps at batch ${BATCH}, ${threads} threads (median of ${reps})`,
    ['layers', 'ms/step', 'images/s', 'faults/step (JS / kernels / engine threads)', 'steps without faults', 'fresh allocs/step',
      'torch ms/step', 'torch faults/step', 'ours/torch'], rows);

  // Memory held by a loop without tidy against one with tidy (plain network, same steps): the CPU allocator's
  // bytes in use plus cached (a tidy loop's step buffers wait in the cache; an untidy loop's in unreachable tensors).
  const held: Record<string, number> = {};
  for (const useTidy of [true, false]) {
    ns.emptyCache();
    const { step, dispose } = stepFn('plain', useTidy);
    let peak = 0;
    for (let i = 0; i < 30; i++) {
      step();
      const { cpu } = ns.memory();
      peak = Math.max(peak, cpu.allocatedBytes + cpu.cachedBytes);
    }
    dispose();
    held[useTidy ? 'tidy' : 'noTidy'] = peak;
  }
  printTable('Memory held by the CPU allocator during 30 steps (plain network)', ['loop', 'peak MB'],
    [['with tidy', held.tidy / 2 ** 20], ['without tidy', held.noTidy / 2 ** 20], ['ratio', held.noTidy / held.tidy]]);
  const file = writeResults('train', { steps: results, memory: held });
  console.log(`results written to ${file}`);
}

if (require.main === module) run();

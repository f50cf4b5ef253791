/**
 * ns.train on real data: a short MNIST run reaches a stated accuracy; a resumed run equals an uninterrupted one
 * (losses and weights, bit for bit); a checkpoint write killed mid-way leaves the previous checkpoint loadable and
 * equal; a checkpoint loads into the same network written in PyTorch and gives the same logits (when python3 with
 * torch is present); evaluate's top-5 and confusion matrix against hand counts; the CLI's argument errors.
 */
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ns from '../lib';
import { fit, evaluate, EarlyStopping, recomputeBatchNorm } from '../lib/train/fit';
import { saveCheckpoint, loadCheckpoint } from '../lib/train/checkpoint';
import { smallCnn } from '../lib/models';

const { nn, optim, data } = ns;
const tmp = (): string => fs.mkdtempSync(path.join(os.tmpdir(), 'ns-train-'));
const quiet = { verbose: 0 as const };

let mnist: { train: ns.data.MNIST; test: ns.data.MNIST };
beforeAll(async () => {
  ns.setDefaultDevice('cpu');
  mnist = { train: await data.MNIST.load({ train: true, normalize: true }), test: await data.MNIST.load({ train: false, normalize: true }) };
});

describe('fit on MNIST', () => {
  test('one epoch over 6,000 training images reaches 90% on the 10,000 test images', async () => {
    ns.manualSeed(3);
    const model = smallCnn('plain');
    const train = new data.DataLoader(mnist.train.range(0, 6000), { batchSize: 64, shuffle: true, seed: 1 });
    const history = await fit(model, {
      train, val: new data.DataLoader(mnist.test, { batchSize: 1000 }), epochs: 1,
      optimizer: new optim.SGD(model.parameters(), { lr: 0.05, momentum: 0.9 }), ...quiet,
    });
    expect(history.final!.count).toBe(10000);
    expect(history.final!.accuracy).toBeGreaterThan(0.9);
    expect(history.epochs[0].trainLoss).toBeLessThan(Math.log(10));  // below the loss of guessing
  });

  test('a resumed run equals an uninterrupted one: the same losses and weights, bit for bit', async () => {
    const subset = mnist.train.range(0, 512), val = mnist.test.range(0, 256);
    // Dropout and an unseeded shuffle draw from the global generator: resuming must restore it.
    const build = (): ns.nn.Sequential => new nn.Sequential(
      new nn.Conv2d(1, 4, 3, { padding: 1 }), new nn.BatchNorm2d(4), new nn.ReLU(), new nn.MaxPool2d(4), new nn.Flatten(),
      new nn.Dropout(0.2), new nn.Linear(4 * 7 * 7, 10));
    const run = async (dir: string, epochs: number, resume: boolean): Promise<{ losses: number[]; weights: number[][] }> => {
      if (!resume) ns.manualSeed(11);
      const model = build();
      const opt = new optim.SGD(model.parameters(), { lr: 0.05, momentum: 0.9, weightDecay: 1e-4 });
      const sched = new optim.StepLR(opt, { stepSize: 1, gamma: 0.5 });
      if (resume) ns.manualSeed(999);  // whatever the generator says now must not matter
      const h = await fit(model, {
        train: new data.DataLoader(subset, { batchSize: 32, shuffle: true }), val: new data.DataLoader(val, { batchSize: 256 }),
        epochs, optimizer: opt, scheduler: sched, checkpointDir: dir, resume, ...quiet,
      });
      return { losses: h.epochs.map((e) => e.trainLoss), weights: Object.values(model.stateDict()).map((t) => Array.from(t.dataSync())) };
    };
    const whole = await run(tmp(), 3, false);
    const dir = tmp();
    await run(dir, 1, false);
    const resumed = await run(dir, 3, true);
    expect(resumed.losses).toEqual(whole.losses);
    expect(resumed.weights).toEqual(whole.weights);
    expect(fs.readFileSync(path.join(dir, 'log.jsonl'), 'utf8').trim().split('\n')).toHaveLength(3);
    expect(fs.existsSync(path.join(dir, 'report.html'))).toBe(true);
  });

  test('early stopping ends training when the monitored loss stops improving', async () => {
    ns.manualSeed(2);
    const model = new nn.Sequential(new nn.Flatten(), new nn.Linear(784, 10));
    const opt = new optim.SGD(model.parameters(), { lr: 0 });  // lr 0: the validation loss never improves
    const h = await fit(model, {
      train: new data.DataLoader(mnist.train.range(0, 64), { batchSize: 64 }), val: new data.DataLoader(mnist.test.range(0, 64), { batchSize: 64 }),
      epochs: 10, optimizer: opt, callbacks: [new EarlyStopping({ patience: 2 })], ...quiet,
    });
    expect([h.stopped, h.epochs.length]).toEqual([true, 3]);
  });

  test('evaluate counts top-1, top-5 and the confusion matrix as by hand', async () => {
    const mod10 = (v: number): number => ((v % 10) + 10) % 10;
    // A "model" whose logits for sample i (its input is i) rank class (i mod 10) first, then i+1, …
    class Fixed extends nn.Module {
      forward(x: ns.Tensor): ns.Tensor {
        const index = x.dataSync(), n = x.shape[0];
        const logits = new Float32Array(n * 10);
        for (let r = 0; r < n; r++) for (let j = 0; j < 10; j++) logits[r * 10 + j] = -mod10(j - index[r]);
        return ns.tensor(logits, [n, 10]);
      }
    }
    const x = ns.arange(20).reshape([20, 1]), y = ns.tensor(Int32Array.from({ length: 20 }, (_, i) => (i * 3) % 10), [20]);
    const r = await evaluate(new Fixed(), new data.DataLoader(new data.TensorDataset(x, y), { batchSize: 7 }));
    let top1 = 0, top5 = 0;
    const confusion = Array.from({ length: 10 }, () => new Array(10).fill(0));
    for (let i = 0; i < 20; i++) {
      const label = (i * 3) % 10, rank = mod10(label - i);
      if (rank === 0) top1++;
      if (rank < 5) top5++;
      confusion[label][i % 10]++;
    }
    expect(r).toMatchObject({ accuracy: top1 / 20, top5: top5 / 20, count: 20, confusion });
  });
});

describe('clipping and batch-norm statistics', () => {
  test('recomputeBatchNorm: running statistics become the plain average of the batch statistics (float64 reference)', async () => {
    ns.manualSeed(5);
    const model = new nn.Sequential(new nn.Conv2d(2, 3, 3, { dtype: 'float64' }), new nn.BatchNorm2d(3, { dtype: 'float64', momentum: 0.3 }));
    const xs = [0, 1, 2, 3].map(() => ns.randn([4, 2, 6, 6], { dtype: 'float64' }));
    const batches = xs.map((x) => [x, ns.zeros([4], { dtype: 'int32' })]);
    model.eval();
    expect(await recomputeBatchNorm(model, batches.map((b) => b.map((t) => t.clone())), 3)).toBe(3);
    // Reference: per batch, the conv output's per-channel mean and unbiased variance, averaged over the 3 batches.
    const mean = [0, 0, 0], variance = [0, 0, 0];
    for (const x of xs.slice(0, 3)) {
      const y = ns.noGrad(() => (model.children()[0] as ns.nn.Conv2d).forward(x)).dataSync();
      const [n, c, hw] = [4, 3, 16];
      for (let ch = 0; ch < c; ch++) {
        let s = 0, sq = 0;
        for (let i = 0; i < n; i++) for (let k = 0; k < hw; k++) s += y[(i * c + ch) * hw + k];
        const m = s / (n * hw);
        for (let i = 0; i < n; i++) for (let k = 0; k < hw; k++) sq += (y[(i * c + ch) * hw + k] - m) ** 2;
        mean[ch] += m / 3;
        variance[ch] += sq / (n * hw - 1) / 3;
      }
    }
    const bn = model.children()[1] as ns.nn.BatchNorm2d;
    Array.from(bn.runningMean.dataSync()).forEach((v, i) => expect(v).toBeCloseTo(mean[i], 12));
    Array.from(bn.runningVar.dataSync()).forEach((v, i) => expect(v).toBeCloseTo(variance[i], 12));
    expect(bn.momentum).toBe(0.3);
    expect(model.training).toBe(false);
    await expect(recomputeBatchNorm(model, batches, 0)).rejects.toThrow('recomputeBatchNorm: expected count to be an integer ≥ 1 but got 0');
  });

  test('fit with clipGradNorm bounds every step; unknown options are refused', async () => {
    ns.manualSeed(6);
    const model = new nn.Linear(4, 3, { dtype: 'float64' });
    const before = model.stateDict();
    const saved = Object.fromEntries(Object.entries(before).map(([k, t]) => [k, Array.from(t.dataSync())]));
    const x = ns.randn([8, 4], { dtype: 'float64' }).mul(100), y = ns.tensor(Int32Array.from([0, 1, 2, 0, 1, 2, 0, 1]), [8], { dtype: 'int32' });
    await fit(model, { train: [[x, y]], epochs: 1, optimizer: new optim.SGD(model.parameters(), { lr: 1 }), clipGradNorm: 1e-3, ...quiet });
    let sq = 0;
    for (const [k, t] of Object.entries(model.stateDict())) Array.from(t.dataSync()).forEach((v, i) => (sq += (v - saved[k][i]) ** 2));
    expect(Math.sqrt(sq)).toBeGreaterThan(0);
    expect(Math.sqrt(sq)).toBeLessThanOrEqual(1e-3 * (1 + 1e-9));
    await expect(fit(model, { train: [[x, y]], epochs: 1, optimizer: new optim.SGD(model.parameters(), { lr: 1 }), clip: 1 } as never))
      .rejects.toThrow("fit: unknown option 'clip'");
  });
});

describe('checkpoints', () => {
  test('a write killed mid-way (SIGKILL) leaves the last complete checkpoint, which loads and equals what was saved', async () => {
    const dir = tmp(), file = path.join(dir, 'checkpoint.safetensors');
    const w = ns.randn([3, 4]);
    await saveCheckpoint(file, { w }, { epoch: 4, step: 40, config: { name: 'first' } });
    // The child writes a second, large checkpoint over it and is killed while the temporary file grows.
    const dist = path.resolve(__dirname, '../dist/lib');
    expect(fs.existsSync(dist)).toBe(true);  // built by npm ci (prepare)
    const child = spawn(process.execPath, ['-e', `
      const ns = require(${JSON.stringify(dist)});
      const { saveCheckpoint } = require(${JSON.stringify(path.join(dist, 'train/checkpoint'))});
      ns.setDefaultDevice('cpu');
      const big = ns.zeros([64 * 1024 * 1024]);
      saveCheckpoint(${JSON.stringify(file)}, { big }, { epoch: 5, step: 50 });`], { stdio: 'ignore' });
    const sawTemp = await new Promise<boolean>((resolve) => {
      const started = Date.now();
      const poll = setInterval(() => {
        const temp = fs.readdirSync(dir).some((f) => f !== 'checkpoint.safetensors');
        if (temp || Date.now() - started > 60000) {
          clearInterval(poll);
          child.kill('SIGKILL');
          resolve(temp);
        }
      }, 5);
    });
    await new Promise((resolve) => child.on('exit', resolve));
    expect(sawTemp).toBe(true);
    const { model, meta } = await loadCheckpoint(file);
    expect(Object.keys(model)).toEqual(['w']);
    expect(Array.from(model.w.dataSync())).toEqual(Array.from(w.dataSync()));
    expect([meta.epoch, meta.step, meta.config]).toEqual([4, 40, { name: 'first' }]);
  }, 120000);

  const python = ['python3', '/usr/bin/python3'].find((py) => spawnSync(py, ['-c', 'import torch, numpy'], { encoding: 'utf8' }).status === 0);
  if (!python) console.warn('test/train-fit.test.ts: the PyTorch interoperability test is skipped: no python3 imports torch and numpy');
  (python ? test : test.skip)('a checkpoint loads into the same network written in PyTorch and gives the same logits', async () => {
    ns.manualSeed(5);
    const model = new nn.Sequential(new nn.Conv2d(1, 6, 3, { padding: 1 }), new nn.BatchNorm2d(6), new nn.ReLU(), new nn.MaxPool2d(2),
      new nn.Flatten(), new nn.Linear(6 * 14 * 14, 10));
    const opt = new optim.SGD(model.parameters(), { lr: 0.05 });
    await fit(model, { train: new data.DataLoader(mnist.train.range(0, 128), { batchSize: 64 }), epochs: 1, optimizer: opt, ...quiet });
    const dir = tmp(), file = path.join(dir, 'model.safetensors');
    await saveCheckpoint(file, model.stateDict(), { epoch: 0, step: 2 });
    const x = mnist.test.range(0, 4).tensors[0];
    model.eval();
    const ours = Array.from(ns.noGrad(() => model.forward(x)).dataSync());
    fs.writeFileSync(path.join(dir, 'x.json'), JSON.stringify({ shape: x.shape, data: Array.from(x.dataSync()) }));
    const script = `
import json, struct, sys, numpy as np, torch, torch.nn as nn
def load(path):
    raw = open(path, 'rb').read(); n = struct.unpack('<Q', raw[:8])[0]; header = json.loads(raw[8:8 + n]); body = raw[8 + n:]
    kinds = {'F32': np.float32, 'F64': np.float64, 'I32': np.int32, 'I64': np.int64}
    out = {}
    for name, info in header.items():
        if name == '__metadata__': continue
        a, b = info['data_offsets']
        out[name] = torch.from_numpy(np.frombuffer(body[a:b], dtype=kinds[info['dtype']]).reshape(info['shape']).copy())
    return out
model = nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(6 * 14 * 14, 10))
state = load(sys.argv[1])
if '1.num_batches_tracked' in state: state['1.num_batches_tracked'] = state['1.num_batches_tracked'].long()
model.load_state_dict(state, strict=True)
model.eval()
x = json.load(open(sys.argv[2]))
with torch.no_grad(): y = model(torch.tensor(x['data'], dtype=torch.float32).reshape(x['shape']))
print(json.dumps(y.flatten().tolist()))`;
    const r = spawnSync(python!, ['-c', script, file, path.join(dir, 'x.json')], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    const theirs: number[] = JSON.parse(r.stdout);
    const err = theirs.reduce((s, v, i) => s + (v - ours[i]) ** 2, 0) / theirs.reduce((s, v) => s + v * v, 0);
    expect(err).toBeLessThan(1e-10);
  }, 120000);
});

describe('the CLI', () => {
  const cli = path.resolve(__dirname, '../dist/lib/cli.js');
  const built = fs.existsSync(cli);
  if (!built) console.warn('test/train-fit.test.ts: CLI tests skipped: dist/lib/cli.js is not built (npm run prepare)');
  const run = (...args: string[]): { status: number | null; out: string; err: string } => {
    const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
    return { status: r.status, out: r.stdout, err: r.stderr };
  };
  (built ? test : test.skip).each([
    [['train', '--out', '/tmp/x', '--epochs', '0'], "error: option '--epochs <n>' argument '0' is invalid. --epochs expects an integer ≥ 1 but got '0'"],
    [['train', '--out', '/tmp/x', '--kind', 'round'], "error: option '--kind <kind>' argument 'round' is invalid. Allowed choices are plain, static-diagonal, static-spatial, dynamic-diagonal, dynamic-spatial, dynamic-filter."],
    [['train', '--epochs', '2'], "error: required option '--out <dir>' not specified"],
    [['eval', '--checkpoint', '/nowhere.safetensors', '--data', 'mnist'], "error: option '--checkpoint <file>' argument '/nowhere.safetensors' is invalid. --checkpoint: no such file or folder '/nowhere.safetensors'"],
    [['predict'], "error: required option '--checkpoint <file>' not specified"],
    [['bench', 'nosuch'], "neural-similarity: bench: unknown benchmark 'nosuch' (available: conv2d, gpu, similarity, train)"],
    [['frobnicate'], "error: unknown command 'frobnicate'"],
  ])('%j exits 1 with its one-line message', (args, message) => {
    const r = run(...(args as string[]));
    expect([r.status, r.err.trim()]).toEqual([1, message]);
  });
  (built ? test : test.skip)('--help exits 0 and --version prints the version', () => {
    expect(run('--help').status).toBe(0);
    expect(run('train', '--help').status).toBe(0);
    const v = run('--version');
    expect([v.status, v.out.trim()]).toEqual([0, JSON.parse(fs.readFileSync(path.resolve(__dirname, '../package.json'), 'utf8')).version]);
  });
});

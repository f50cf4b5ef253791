/**
 * ns.train: `fit` (the training loop PyTorch Lightning users expect: per-epoch evaluation, progress, callbacks,
 * early stopping, checkpoints, resume, a JSON-lines log and an HTML report) and `evaluate` (loss, top-1/top-5
 * accuracy, confusion matrix).
 */
import * as fs from 'fs';
import * as path from 'path';
import { Tensor, Device } from '../tensor';
import { tidy } from '../memory';
import { noGrad } from '../autograd/node';
import { add } from '../ops/elementwise';
import { crossEntropy } from '../ops/softmax';
import { rngState, setRngState } from '../ops/creation';
import { to } from '../ops/transfer';
import { Module } from '../nn/module';
import { BatchNorm } from '../nn/layers';
import { clipGradNorm } from '../optim/clip';
import { checkInt, checkNumber, checkOptions } from '../ops/util';
import { saveCheckpoint, loadCheckpoint } from './checkpoint';
import { renderRunReport, writeReport } from '../report';
import type { RunRecord } from '../report';
import { DynamicObserver, collectSimilarity } from './similarity';

/** A batch: inputs and integer labels. */
export type Batch = [Tensor, Tensor] | Tensor[];
/** Anything that yields batches, synchronously or not (a DataLoader). */
export type BatchSource = Iterable<Batch> | AsyncIterable<Batch>;

/** The optimiser interface fit needs (every ns.optim optimiser). */
export interface FitOptimizer {
  step(): void;
  zeroGrad(): void;
  stateDict(): unknown;
  loadStateDict(state: never): void;
}

/** The scheduler interface fit needs (every ns.optim scheduler). */
export interface FitScheduler {
  step(): void;
  stateDict(): unknown;
  loadStateDict(state: never): void;
}

/** What one epoch measured. */
export interface EpochLog {
  epoch: number;
  trainLoss: number;
  trainAccuracy: number;
  valLoss?: number;
  valAccuracy?: number;
  valTop5?: number;
  lr?: number;
  seconds: number;
  imagesPerSecond: number;
}

/** Hooks into the loop. Returning 'stop' from onEpochEnd ends training after that epoch. */
export interface Callback {
  onBatchEnd?(step: number, logs: { loss: number; accuracy: number; epoch: number; batch: number }): void;
  onEpochEnd?(epoch: number, logs: EpochLog): void | 'stop';
}

/** Stops when a monitored value has not improved by minDelta for `patience` epochs. */
export class EarlyStopping implements Callback {
  private best = Infinity;
  private bad = 0;
  constructor(readonly options: { monitor?: 'valLoss' | 'trainLoss' | 'valAccuracy'; patience?: number; minDelta?: number } = {}) {
    checkOptions('EarlyStopping', options, ['monitor', 'patience', 'minDelta']);
  }
  onEpochEnd(_epoch: number, logs: EpochLog): void | 'stop' {
    const monitor = this.options.monitor ?? 'valLoss';
    const raw = logs[monitor];
    if (raw === undefined) return;
    const value = monitor === 'valAccuracy' ? -raw : raw;
    if (value < this.best - (this.options.minDelta ?? 0)) {
      this.best = value;
      this.bad = 0;
      return;
    }
    if (++this.bad >= (this.options.patience ?? 3)) return 'stop';
  }
}

/** Options of fit. */
export interface FitOptions {
  train: BatchSource;
  val?: BatchSource;
  epochs: number;
  optimizer: FitOptimizer;
  scheduler?: FitScheduler;
  /** 'epoch' (default): scheduler.step() after each epoch; 'batch': after each optimiser step (OneCycleLR). */
  schedulerInterval?: 'epoch' | 'batch';
  /** (logits, labels) → scalar loss; default cross-entropy. */
  loss?: (output: Tensor, labels: Tensor) => Tensor;
  /** Metrics to report besides loss and top-1 accuracy: 'top5'. */
  metrics?: 'top5'[];
  callbacks?: Callback[];
  /** Writes checkpoint.safetensors (each epoch, atomically), log.jsonl and report.html here. */
  checkpointDir?: string;
  /** Continue from checkpointDir/checkpoint.safetensors when it exists (the same run: same losses). */
  resume?: boolean;
  /** 0: silent; 1 (default): a progress bar on a TTY, one line per epoch otherwise; 2: one line per epoch. */
  verbose?: 0 | 1 | 2;
  /** Where to train (default: the model's device). Batches are moved there. */
  device?: Device;
  /** Stored in the checkpoint: what builds the model again, and the preprocessing its inputs need. */
  config?: Record<string, unknown>;
  preprocessing?: Record<string, unknown>;
  /** The run's name in logs and the report. */
  name?: string;
  /** Class names for the report's confusion matrix. */
  classes?: string[];
  /** A training-time budget in seconds: training stops at the end of the batch that passes it (then evaluates). */
  maxSeconds?: number;
  /** Rescales the gradients before each optimiser step so that their global L2 norm is at most this (clipGradNorm). */
  clipGradNorm?: number;
  /**
   * Before each evaluation, recompute every batch-norm layer's running statistics over this many training
   * batches with the final weights (recomputeBatchNorm). Default 0: keep the running statistics as trained.
   */
  preciseBatchNorm?: number;
}

/** What fit returns. */
export interface History {
  epochs: EpochLog[];
  /** Whether a callback stopped training early. */
  stopped: boolean;
  /** The final evaluation on `val` (when given). */
  final?: EvaluateResult;
  /** What the run's report shows (with checkpointDir): config, curves, final metrics, the learned similarity. */
  record?: RunRecord;
}

/** Results of evaluate. */
export interface EvaluateResult {
  loss: number;
  accuracy: number;
  top5: number;
  /** confusion[label][predicted] counts. */
  confusion: number[][];
  count: number;
}

async function* batches(source: BatchSource): AsyncGenerator<Batch> {
  if (Symbol.asyncIterator in source) yield* source as AsyncIterable<Batch>;
  else yield* source as Iterable<Batch>;
}

/** The device of a model's parameters ('cpu' for a model without any). */
export function modelDevice(model: Module): Device {
  const p = model.parameters()[0];
  return p ? p.device : 'cpu';
}

/** Correct top-1 and top-5 predictions of logits [N, C] for labels [N], and the pairs (label, predicted). */
function scoreBatch(logits: Tensor, labels: Tensor): { top1: number; top5: number; pairs: [number, number][] } {
  const [n, c] = logits.shape;
  const values = logits.dataSync(), truth = labels.dataSync();
  let top1 = 0, top5 = 0;
  const pairs: [number, number][] = [];
  for (let i = 0; i < n; i++) {
    const row = values.subarray(i * c, (i + 1) * c), label = truth[i];
    let best = 0, higher = 0;
    for (let j = 0; j < c; j++) {
      if (row[j] > row[best]) best = j;
      if (row[j] > row[label] || (row[j] === row[label] && j < label)) higher++;
    }
    if (best === label) top1++;
    if (higher < 5) top5++;
    pairs.push([label, best]);
  }
  return { top1, top5, pairs };
}

/**
 * Loss, top-1 and top-5 accuracy and the confusion matrix of `model` over `data` (evaluation mode, no graph).
 * `classes` sizes the confusion matrix (default: the logits' width).
 */
export async function evaluate(model: Module, data: BatchSource,
  options: { loss?: (output: Tensor, labels: Tensor) => Tensor; device?: Device; classes?: number } = {}): Promise<EvaluateResult> {
  checkOptions('evaluate', options, ['loss', 'device', 'classes']);
  const lossFn = options.loss ?? ((o: Tensor, y: Tensor) => crossEntropy(o, y));
  const device = options.device ?? modelDevice(model);
  const wasTraining = model.training;
  model.eval();
  let lossSum = 0, count = 0, top1 = 0, top5 = 0;
  let confusion: number[][] = options.classes ? Array.from({ length: options.classes }, () => new Array<number>(options.classes!).fill(0)) : [];
  try {
    for await (const [x, y] of batches(data)) {
      tidy(() => noGrad(() => {
        const xd = to(x, device), yd = to(y, device);
        const out = model.forward(xd);
        const n = out.shape[0];
        lossSum += lossFn(out, yd).item() * n;
        const s = scoreBatch(out, yd);
        if (confusion.length === 0) confusion = Array.from({ length: out.shape[1] }, () => new Array<number>(out.shape[1]).fill(0));
        for (const [label, predicted] of s.pairs) confusion[label][predicted]++;
        top1 += s.top1;
        top5 += s.top5;
        count += n;
      }));
    }
  } finally {
    model.train(wasTraining);
  }
  return { loss: lossSum / Math.max(count, 1), accuracy: top1 / Math.max(count, 1), top5: top5 / Math.max(count, 1), confusion, count };
}

const formatTime = (s: number): string => {
  const m = Math.floor(s / 60), sec = Math.floor(s % 60);
  return `${m}:${String(sec).padStart(2, '0')}`;
};

/**
 * Recomputes every batch-norm layer's running statistics as the plain average of the statistics of the first
 * `count` batches of `data` under the current weights (the "precise BN" of pycls), then restores each layer's
 * momentum and the model's mode. Running statistics updated with momentum trail the weights they were measured
 * under; after a short schedule with a high learning rate they can be far from the final weights' statistics, and
 * evaluation with them can fail where training did not. Returns the number of batches used.
 */
export async function recomputeBatchNorm(model: Module, data: BatchSource, count: number, device?: Device): Promise<number> {
  const op = 'recomputeBatchNorm';
  if (!(model instanceof Module)) throw new TypeError(`${op}: expected a Module but got ${typeof model}`);
  checkInt(op, 'count', count, 1);
  const layers = model.modules().filter((m): m is BatchNorm => m instanceof BatchNorm);
  if (layers.length === 0) return 0;
  const where = device ?? modelDevice(model);
  const momenta = layers.map((l) => l.momentum);
  const wasTraining = model.training;
  model.train();
  let used = 0;
  try {
    for await (const batch of batches(data)) {
      if (used === count) break;
      // momentum 1/(k+1) at batch k makes the running value the mean of the k+1 batch statistics so far.
      for (const l of layers) (l as { momentum: number }).momentum = 1 / (used + 1);
      tidy(() => noGrad(() => {
        model.forward(to(batch[0], where));
      }));
      for (const t of batch) t.dispose();
      used++;
    }
  } finally {
    layers.forEach((l, i) => ((l as { momentum: number }).momentum = momenta[i]));
    model.train(wasTraining);
  }
  return used;
}

/**
 * Trains `model`: per epoch, every batch of `train` (forward, loss + model.regularization(), backward, optimiser
 * step), then `val` through evaluate; callbacks, checkpoint, log line and report after each epoch. With `resume`
 * and a checkpoint in checkpointDir, continues that run where it stopped (weights, buffers, optimiser and
 * scheduler state, the random generator), so the losses equal an uninterrupted run's.
 */
export async function fit(model: Module, options: FitOptions): Promise<History> {
  const op = 'fit';
  if (!(model instanceof Module)) throw new TypeError(`${op}: expected a Module but got ${typeof model}`);
  const o = checkOptions(op, options, ['train', 'val', 'epochs', 'optimizer', 'scheduler', 'schedulerInterval', 'loss',
    'metrics', 'callbacks', 'checkpointDir', 'resume', 'verbose', 'device', 'config', 'preprocessing', 'name', 'classes',
    'maxSeconds', 'clipGradNorm', 'preciseBatchNorm']);
  const clip = o.clipGradNorm === undefined ? 0 : checkNumber(op, 'clipGradNorm', o.clipGradNorm, 0);
  const preciseBatches = checkInt(op, 'preciseBatchNorm', o.preciseBatchNorm ?? 0, 0);
  const budget = o.maxSeconds === undefined ? Infinity : checkNumber(op, 'maxSeconds', o.maxSeconds, 0);
  const began = Date.now();
  const epochs = checkInt(op, 'epochs', o.epochs, 1);
  if (!o.train) throw new TypeError(`${op}: expected train to be a DataLoader or an iterable of batches`);
  if (!o.optimizer) throw new TypeError(`${op}: expected an optimizer`);
  const verbose = o.verbose ?? 1;
  const current = modelDevice(model);
  const device = o.device ?? current;
  if (device !== current) model.to(device);
  const lossFn = o.loss ?? ((out: Tensor, y: Tensor) => crossEntropy(out, y));
  const name = o.name ?? 'run';
  const dir = o.checkpointDir;
  const ckpt = dir ? path.join(dir, 'checkpoint.safetensors') : null;
  if (dir) fs.mkdirSync(dir, { recursive: true });

  let start = 0, step = 0;
  const history: EpochLog[] = [];
  if (o.resume && ckpt && fs.existsSync(ckpt)) {
    const { model: state, meta } = await loadCheckpoint(ckpt);
    model.loadStateDict(state);
    if (meta.optimizer) o.optimizer.loadStateDict(meta.optimizer as never);
    if (o.scheduler && meta.scheduler) o.scheduler.loadStateDict(meta.scheduler as never);
    if (meta.rng) setRngState(meta.rng);
    history.push(...((meta.history ?? []) as EpochLog[]));
    start = meta.epoch + 1;
    step = meta.step;
    if (verbose) console.log(`resuming ${name} from ${ckpt} after epoch ${start}`);
  } else if (dir) {
    fs.writeFileSync(path.join(dir, 'log.jsonl'), '');
  }
  const loader = o.train as { epoch?: number; length?: number };
  const tty = verbose === 1 && process.stdout.isTTY === true;
  let stopped = false;
  let final: EvaluateResult | undefined;
  let record: RunRecord | undefined;

  for (let epoch = start; epoch < epochs && !stopped; epoch++) {
    if (typeof loader.epoch === 'number') loader.epoch = epoch;
    model.train();
    const t0 = Date.now();
    let lossSum = 0, correct = 0, seen = 0, batch = 0;
    const total = typeof loader.length === 'number' ? loader.length : 0;
    for await (const [x, y] of batches(o.train)) {
      const { loss, top1, n } = tidy(() => {
        const xd = to(x, device), yd = to(y, device);
        const out = model.forward(xd);
        const base = lossFn(out, yd);
        const reg = model.regularization();
        const objective = reg ? add(base, reg) : base;
        o.optimizer.zeroGrad();
        objective.backward();
        if (clip > 0) clipGradNorm(model.parameters(), clip);
        o.optimizer.step();
        return { loss: base.item(), top1: scoreBatch(out, yd).top1, n: out.shape[0] };
      });
      step++;
      if (o.scheduler && o.schedulerInterval === 'batch') o.scheduler.step();
      lossSum += loss * n;
      correct += top1;
      seen += n;
      batch++;
      for (const cb of o.callbacks ?? []) cb.onBatchEnd?.(step, { loss, accuracy: top1 / n, epoch, batch });
      if ((Date.now() - began) / 1000 >= budget) {
        stopped = true;
        break;
      }
      if (tty) {
        const secs = (Date.now() - t0) / 1000, rate = seen / Math.max(secs, 1e-9);
        const frac = total ? batch / total : 0, width = 24, filled = Math.round(frac * width);
        const eta = total ? formatTime(secs / batch * (total - batch)) : '?';
        process.stdout.write(`\rEpoch ${epoch + 1}/${epochs} [${'='.repeat(filled)}${' '.repeat(width - filled)}] ${batch}${total ? '/' + total : ''}`
          + ` loss ${(lossSum / seen).toFixed(4)} acc ${(100 * correct / seen).toFixed(2)}% ${Math.round(rate)} img/s ETA ${eta}  `);
      }
    }
    if (o.scheduler && o.schedulerInterval !== 'batch') o.scheduler.step();
    const seconds = (Date.now() - t0) / 1000;
    const log: EpochLog = {
      epoch, trainLoss: lossSum / Math.max(seen, 1), trainAccuracy: correct / Math.max(seen, 1), seconds,
      imagesPerSecond: seen / Math.max(seconds, 1e-9),
    };
    const lr = (o.optimizer as { paramGroups?: { lr: number }[] }).paramGroups?.[0]?.lr;
    if (lr !== undefined) log.lr = lr;
    let dynamic: ReturnType<DynamicObserver['stop']> = [];
    if (o.val && preciseBatches > 0) await recomputeBatchNorm(model, o.train, preciseBatches, device);
    if (o.val) {
      const observer = dir ? new DynamicObserver(model) : null;
      try {
        final = await evaluate(model, o.val, { loss: lossFn, device, classes: o.classes?.length });
      } finally {
        dynamic = observer?.stop() ?? [];
      }
      log.valLoss = final.loss;
      log.valAccuracy = final.accuracy;
      if (o.metrics?.includes('top5')) log.valTop5 = final.top5;
    }
    history.push(log);
    if (tty) process.stdout.write('\n');
    if (verbose) {
      const val = log.valLoss !== undefined ? `, val loss ${log.valLoss.toFixed(4)}, val acc ${(100 * log.valAccuracy!).toFixed(2)}%` : '';
      const line = `${name} epoch ${epoch + 1}/${epochs}: loss ${log.trainLoss.toFixed(4)}, acc ${(100 * log.trainAccuracy).toFixed(2)}%${val}, `
        + `${Math.round(log.imagesPerSecond)} img/s, ${seconds.toFixed(1)} s`;
      if (!tty || verbose === 1) console.log(line);
    }
    for (const cb of o.callbacks ?? []) if (cb.onEpochEnd?.(epoch, log) === 'stop') stopped = true;
    if (dir) {
      await saveCheckpoint(ckpt!, model.stateDict(), {
        epoch, step, rng: rngState(), config: o.config, preprocessing: o.preprocessing, history,
        optimizer: o.optimizer.stateDict(), scheduler: o.scheduler?.stateDict(),
      });
      fs.appendFileSync(path.join(dir, 'log.jsonl'), JSON.stringify({ name, ...log }) + '\n');
      const run: RunRecord = record = {
        name, config: { ...(o.config ?? {}), epochs, device }, epochs: history,
        ...(final ? { final: { loss: final.loss, accuracy: final.accuracy, top5: final.top5, confusion: final.confusion, classes: o.classes } } : {}),
        similarity: collectSimilarity(model, dynamic),
      };
      await writeReport(path.join(dir, 'report.html'), renderRunReport(run));
    }
  }
  return { epochs: history, stopped, final, record };
}

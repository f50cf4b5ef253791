/**
 * ns.experiments: the paper's experiments, one call (or `neural-similarity experiment <name>`) each. Every
 * experiment writes its runs (checkpoint, log and report per run), summary.json (every run and the table per
 * variant) and report.html (every run's curves on one chart, the table, the learned-similarity pictures).
 *
 * - cifar10: the 9-layer network with each layer kind on CIFAR-10, the paper's recipe (SGD momentum 0.9, lr 0.1
 *   decayed ×0.1 at 47%, 71% and 88% of training, weight decay 5e-4, label smoothing 0.01, batch 128, 4-pixel
 *   reflect padding, random crop, horizontal flip), two seeds or more, on a budget (the CPU budgets start at
 *   lr 0.02: see ClassificationSchedule).
 * - fashion-mnist: the same variants (28×28 inputs: a 3×3 classifier) on Fashion-MNIST, without augmentation.
 * - omniglot: Conv-4 prototypical networks, characters split disjointly into meta-train and meta-test, evaluated
 *   5-way and 20-way, 1-shot and 5-shot over 600 test episodes each.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Tensor } from '../tensor';
import { defaultDevice } from '../backend/backend';
import { getNumThreads } from '../backend/threads';
import { manualSeed } from '../ops/creation';
import { crossEntropy } from '../ops/softmax';
import { SGD } from '../optim';
import { MultiStepLR } from '../optim/lr_scheduler';
import { DataLoader, TensorDataset } from '../data/loader';
import { FashionMNIST } from '../data/mnist';
import { ImageFolder } from '../data/imagefolder';
import { ImageDataset } from '../data/images';
import { compose, normalize, randomCrop, randomHorizontalFlip, toTensor } from '../data/transforms';
import { cifar9, LAYER_KINDS, LayerKind } from '../models';
import { fit, BatchSource } from '../train/fit';
import { fewshotTrainRun } from '../fewshot/run';
import { renderExperimentReport, writeReport } from '../report';
import type { RunRecord, ExperimentSummary } from '../report';

/** The experiments. */
export const EXPERIMENTS = ['cifar10', 'fashion-mnist', 'omniglot'] as const;
export type ExperimentName = typeof EXPERIMENTS[number];
/** tiny: a smoke test (a minute or two); default: the CPU schedule stated in RESULTS.md; full: the paper's recipe for a GPU. */
export const BUDGETS = ['tiny', 'default', 'full'] as const;
export type Budget = typeof BUDGETS[number];

/**
 * A classification schedule: images per class (null: all), epochs, batch size, the initial learning rate, the
 * gradient-norm clip (0: none), the training batches over which batch-norm statistics are recomputed before each
 * evaluation (0: none), and the seeds. The paper's recipe (lr 0.1, no clipping) needs its long schedule: over a
 * few dozen steps plain networks diverge at lr 0.1 (in PyTorch as here), dynamic filters and dynamic spatial
 * similarity blow up without clipping, and running statistics trail the fast-moving weights so far that the
 * dynamic networks collapse in evaluation mode (RESULTS.md). So the CPU budgets use lr 0.02, clip 5 and
 * recomputed statistics, the same for every variant; the decay steps are the paper's either way.
 */
export interface ClassificationSchedule {
  trainPerClass: number | null;
  testPerClass: number | null;
  epochs: number;
  batchSize: number;
  lr: number;
  clipGradNorm: number;
  preciseBatchNorm: number;
  seeds: number[];
}

/** A few-shot schedule: training episodes (20-way 5-shot, 5 queries per class) and test episodes per setting. */
export interface FewShotSchedule {
  episodes: number;
  testEpisodes: number;
  testQueries: number;
  seeds: number[];
}

/** The schedules of every experiment and budget. */
export const SCHEDULES: {
  cifar10: Record<Budget, ClassificationSchedule>;
  'fashion-mnist': Record<Budget, ClassificationSchedule>;
  omniglot: Record<Budget, FewShotSchedule>;
} = {
  cifar10: {
    tiny: { trainPerClass: 10, testPerClass: 5, epochs: 1, batchSize: 32, lr: 0.02, clipGradNorm: 5, preciseBatchNorm: 2, seeds: [0, 1] },
    default: { trainPerClass: 350, testPerClass: 100, epochs: 2, batchSize: 128, lr: 0.02, clipGradNorm: 5, preciseBatchNorm: 8, seeds: [0, 1] },
    full: { trainPerClass: null, testPerClass: null, epochs: 170, batchSize: 128, lr: 0.1, clipGradNorm: 0, preciseBatchNorm: 0, seeds: [0, 1, 2] },
  },
  'fashion-mnist': {
    tiny: { trainPerClass: 10, testPerClass: 5, epochs: 1, batchSize: 32, lr: 0.02, clipGradNorm: 5, preciseBatchNorm: 2, seeds: [0, 1] },
    default: { trainPerClass: 500, testPerClass: 300, epochs: 1, batchSize: 128, lr: 0.02, clipGradNorm: 5, preciseBatchNorm: 8, seeds: [0, 1] },
    full: { trainPerClass: null, testPerClass: null, epochs: 60, batchSize: 128, lr: 0.1, clipGradNorm: 0, preciseBatchNorm: 0, seeds: [0, 1, 2] },
  },
  omniglot: {
    tiny: { episodes: 20, testEpisodes: 20, testQueries: 5, seeds: [0] },
    default: { episodes: 600, testEpisodes: 600, testQueries: 5, seeds: [0] },
    full: { episodes: 20000, testEpisodes: 1000, testQueries: 15, seeds: [0, 1, 2] },
  },
};

/** The default variants: every layer kind of the 9-layer network; plain, static and dynamic Conv-4 for few-shot. */
export const DEFAULT_VARIANTS: Record<ExperimentName, LayerKind[]> = {
  cifar10: [...LAYER_KINDS],
  'fashion-mnist': [...LAYER_KINDS],
  omniglot: ['plain', 'static-diagonal', 'dynamic-diagonal'],
};

/** Options of runExperiment. */
export interface ExperimentOptions {
  budget?: Budget;
  /** Where the runs, summary.json and report.html go (default experiments/<name>). */
  out?: string;
  /** Layer kinds to compare (default DEFAULT_VARIANTS[name]). */
  variants?: LayerKind[];
  /** The CIFAR-10 archive (default ../shared/datasets/cifar10-jpg.tar.gz) or the Omniglot archive. */
  data?: string;
  verbose?: 0 | 1;
}

/** One run of an experiment. */
export interface ExperimentRun {
  variant: LayerKind;
  seed: number;
  /** Test accuracy (classification) or 5-way 1-shot accuracy (few-shot). */
  accuracy: number;
  seconds: number;
  /** Training images per second. */
  imagesPerSecond: number;
  [key: string]: unknown;
}

/** What runExperiment returns and writes to summary.json. */
export interface ExperimentResult {
  experiment: ExperimentName;
  budget: Budget;
  schedule: ClassificationSchedule | FewShotSchedule;
  machine: { cpu: string; cores: number; threads: number; node: string; device: string };
  runs: ExperimentRun[];
  table: ExperimentSummary;
  seconds: number;
  out: string;
}

const DEFAULT_DATA: Partial<Record<ExperimentName, string>> = {
  cifar10: path.join('..', 'shared', 'datasets', 'cifar10-jpg.tar.gz'),
  omniglot: path.join('..', 'shared', 'datasets', 'omniglot-background-small.tar.gz'),
};

/** The first `perClass` samples of every class (all with null), in dataset order: the same for every run. */
function perClassIndices(labels: ArrayLike<number>, perClass: number | null): Int32Array {
  if (perClass === null) return Int32Array.from({ length: labels.length }, (_, i) => i);
  const taken = new Map<number, number>(), out: number[] = [];
  for (let i = 0; i < labels.length; i++) {
    const n = taken.get(labels[i]) ?? 0;
    if (n < perClass) {
      out.push(i);
      taken.set(labels[i], n + 1);
    }
  }
  return Int32Array.from(out);
}

/** Sample mean and standard deviation (n − 1; 0 for one value). */
function meanStd(values: number[]): { mean: number; std: number } {
  const m = values.reduce((a, b) => a + b, 0) / values.length;
  const v = values.length > 1 ? values.reduce((a, b) => a + (b - m) ** 2, 0) / (values.length - 1) : 0;
  return { mean: m, std: Math.sqrt(v) };
}

const percent = (x: number): string => (100 * x).toFixed(2);

/** A classification experiment's data: training and test sets with the schedule's subsets, and what describes them. */
interface ClassificationData {
  train: { length: number; loader: (seed: number, batchSize: number) => BatchSource & { length: number } };
  test: BatchSource;
  inChannels: number;
  inputSize: number;
  classes: string[];
  preprocessing: Record<string, unknown>;
  description: string;
}

async function cifarData(archive: string, s: ClassificationSchedule): Promise<ClassificationData> {
  const stats = (await ImageFolder.load(archive, { subdir: 'train' })).channelStats();
  const augment = compose([randomCrop(32, { padding: 4, paddingMode: 'reflect' }), randomHorizontalFlip(), toTensor(), normalize(stats.mean, stats.std)]);
  const [trainAll, testAll] = await Promise.all([
    ImageFolder.load(archive, { subdir: 'train', transform: augment }),
    ImageFolder.load(archive, { subdir: 'test', transform: compose([toTensor(), normalize(stats.mean, stats.std)]) }),
  ]);
  const train: ImageDataset = s.trainPerClass === null ? trainAll : trainAll.subset(perClassIndices(trainAll.labels, s.trainPerClass));
  const test: ImageDataset = s.testPerClass === null ? testAll : testAll.subset(perClassIndices(testAll.labels, s.testPerClass));
  return {
    train: { length: train.length, loader: (seed, batchSize) => new DataLoader(train, { batchSize, shuffle: true, seed }) as unknown as BatchSource & { length: number } },
    test: new DataLoader(test, { batchSize: 250 }) as unknown as BatchSource,
    inChannels: 3, inputSize: 32, classes: [...trainAll.classes],
    preprocessing: { height: 32, width: 32, channels: 3, mean: stats.mean, std: stats.std, invert: false, classes: [...trainAll.classes] },
    description: `CIFAR-10 (${archive}): ${train.length} training images (${s.trainPerClass ?? 'all'} per class), ${test.length} test images`,
  };
}

async function fashionData(s: ClassificationSchedule): Promise<ClassificationData> {
  const [trainAll, testAll] = await Promise.all([FashionMNIST.load({ train: true, normalize: true }), FashionMNIST.load({ train: false, normalize: true })]);
  const pick = (set: FashionMNIST, perClass: number | null): TensorDataset =>
    (perClass === null ? set : new TensorDataset(...set.gather(perClassIndices(set.labels.dataSync(), perClass))));
  const train = pick(trainAll, s.trainPerClass), test = pick(testAll, s.testPerClass);
  const classes = [...trainAll.classes];
  return {
    train: { length: train.length, loader: (seed, batchSize) => new DataLoader(train, { batchSize, shuffle: true, seed }) as unknown as BatchSource & { length: number } },
    test: new DataLoader(test, { batchSize: 250 }) as unknown as BatchSource,
    inChannels: 1, inputSize: 28, classes,
    preprocessing: { height: 28, width: 28, channels: 1, mean: [FashionMNIST.MEAN], std: [FashionMNIST.STD], invert: true, classes },
    description: `Fashion-MNIST: ${train.length} training images (${s.trainPerClass ?? 'all'} per class), ${test.length} test images`,
  };
}

function machine(): ExperimentResult['machine'] {
  const cpus = os.cpus();
  return { cpu: cpus[0]?.model ?? 'unknown', cores: cpus.length, threads: getNumThreads(), node: process.version, device: defaultDevice() };
}

/** Trains every variant with every seed of the schedule on a classification data set. */
async function classification(name: 'cifar10' | 'fashion-mnist', s: ClassificationSchedule, data: ClassificationData,
  variants: LayerKind[], out: string, verbose: 0 | 1): Promise<{ runs: ExperimentRun[]; records: RunRecord[]; table: ExperimentSummary }> {
  if (verbose) {
    console.log(`${name}: ${data.description}; ${s.epochs} epoch(s), batch ${s.batchSize}, lr ${s.lr}, gradient clip ${s.clipGradNorm || 'none'}, ` +
      `batch-norm statistics recomputed over ${s.preciseBatchNorm} batches, seeds ${s.seeds.join(', ')}`);
  }
  const runs: ExperimentRun[] = [], records: RunRecord[] = [];
  const device = defaultDevice();
  for (const variant of variants) {
    for (const seed of s.seeds) {
      manualSeed(seed);
      const model = cifar9(variant, { inChannels: data.inChannels, classes: data.classes.length, inputSize: data.inputSize }).to(device);
      const macs = model.summary([1, data.inChannels, data.inputSize, data.inputSize]).totalMacs;
      const parameters = model.parameters().reduce((n, p) => n + p.size, 0);
      const train = data.train.loader(seed, s.batchSize);
      const steps = s.epochs * train.length;
      const optimizer = new SGD(model.parameters(), { lr: s.lr, momentum: 0.9, weightDecay: 5e-4 });
      const scheduler = new MultiStepLR(optimizer, { milestones: [0.47, 0.71, 0.88].map((f) => Math.round(f * steps)), gamma: 0.1 });
      const runName = `${variant} seed ${seed}`;
      const config = { name: 'cifar9', kind: variant, inChannels: data.inChannels, classes: data.classes.length, inputSize: data.inputSize };
      const history = await fit(model, {
        train, val: data.test, epochs: s.epochs, optimizer, scheduler, schedulerInterval: 'batch',
        loss: (logits: Tensor, labels: Tensor) => crossEntropy(logits, labels, { labelSmoothing: 0.01 }),
        checkpointDir: path.join(out, `${variant}-seed${seed}`), name: runName, classes: data.classes, config, preprocessing: data.preprocessing,
        verbose: verbose ? 2 : 0, device, clipGradNorm: s.clipGradNorm || undefined, preciseBatchNorm: s.preciseBatchNorm,
      });
      model.dispose();
      const seconds = history.epochs.reduce((t, e) => t + e.seconds, 0);
      const imagesPerSecond = history.epochs.reduce((t, e) => t + e.imagesPerSecond * e.seconds, 0) / Math.max(seconds, 1e-9);
      const run: ExperimentRun = { variant, seed, accuracy: history.final!.accuracy, loss: history.final!.loss, seconds, imagesPerSecond, macs, parameters };
      runs.push(run);
      if (history.record) records.push(history.record);
      if (verbose) console.log(`${name} ${runName}: test accuracy ${percent(run.accuracy)}%, ${Math.round(imagesPerSecond)} img/s, ${seconds.toFixed(0)} s`);
    }
  }
  const plain = runs.filter((r) => r.variant === 'plain');
  const plainRate = plain.length ? meanStd(plain.map((r) => r.imagesPerSecond)).mean : NaN;
  const plainMacs = plain.length ? (plain[0].macs as number) : NaN;
  const rows = variants.map((variant) => {
    const mine = runs.filter((r) => r.variant === variant);
    const acc = meanStd(mine.map((r) => r.accuracy)), rate = meanStd(mine.map((r) => r.imagesPerSecond)).mean;
    const macs = mine[0].macs as number;
    return [variant, `${percent(acc.mean)} ± ${percent(acc.std)}`, mine.map((r) => percent(r.accuracy)).join(', '),
      (macs / 1e6).toFixed(1), Number.isNaN(plainMacs) ? '' : (macs / plainMacs).toFixed(2), Math.round(rate),
      Number.isNaN(plainRate) ? '' : (plainRate / rate).toFixed(2)];
  });
  return {
    runs, records,
    table: { columns: ['variant', 'test accuracy % (mean ± std over seeds)', 'per seed', 'MMAC / image', 'MACs vs plain', 'train img/s', 'step time vs plain'], rows },
  };
}

/** Few-shot Omniglot: one Conv-4 prototypical network per variant and seed, evaluated in four settings. */
async function omniglot(s: FewShotSchedule, archive: string, variants: LayerKind[], out: string, verbose: 0 | 1) {
  const runs: ExperimentRun[] = [], records: RunRecord[] = [];
  const settings = [{ ways: 5, shots: 1 }, { ways: 5, shots: 5 }, { ways: 20, shots: 1 }, { ways: 20, shots: 5 }];
  for (const variant of variants) {
    for (const seed of s.seeds) {
      manualSeed(seed);
      const r = await fewshotTrainRun({
        data: archive, out: path.join(out, `${variant}-seed${seed}`), kind: variant, ways: 20, shots: 5, queries: 5,
        episodes: s.episodes, lr: 1e-3, seed, testEpisodes: s.testEpisodes, testQueries: s.testQueries, evaluate: settings, verbose,
      });
      const run: ExperimentRun = { variant, seed, accuracy: r.results[0].accuracy, seconds: r.seconds, imagesPerSecond: r.training.imagesPerSecond, results: r.results };
      runs.push(run);
      records.push({
        name: `${variant} seed ${seed}`,
        config: { backbone: 'conv4', kind: variant, trainEpisodes: s.episodes, episode: '20-way 5-shot, 5 queries', lr: 1e-3,
          metaTrainClasses: r.trainClasses, metaTestClasses: r.testClasses, seed },
        epochs: r.training.windows.map((w) => ({ epoch: w.episode, trainLoss: w.loss, trainAccuracy: w.accuracy, lr: w.lr })),
        final: { loss: NaN, accuracy: r.results[0].accuracy },
        similarity: r.similarity,
      });
    }
  }
  const rows = variants.map((variant) => {
    const mine = runs.filter((r) => r.variant === variant);
    const cells = settings.map((_, k) => {
      const results = mine.map((r) => (r.results as { accuracy: number; ci95: number }[])[k]);
      const m = meanStd(results.map((x) => x.accuracy)).mean, ci = Math.max(...results.map((x) => x.ci95));
      return `${percent(m)} ± ${percent(ci)}`;
    });
    return [variant, ...cells, Math.round(meanStd(mine.map((r) => r.imagesPerSecond)).mean)];
  });
  const columns = ['backbone', ...settings.map((x) => `${x.ways}-way ${x.shots}-shot % (± 95% CI)`), 'train img/s'];
  return { runs, records, table: { columns, rows } };
}

/**
 * Runs experiment `name` on `budget` and writes its runs, summary.json and report.html under `out`.
 * Runs are sequential and seeded: the same budget, machine and thread count give the same numbers.
 */
export async function runExperiment(name: ExperimentName, options: ExperimentOptions = {}): Promise<ExperimentResult> {
  const op = 'runExperiment';
  const unknown = Object.keys(options).filter((k) => !['budget', 'out', 'variants', 'data', 'verbose'].includes(k));
  if (unknown.length) throw new TypeError(`${op}: unknown option '${unknown[0]}' (expected budget, out, variants, data or verbose)`);
  if (!EXPERIMENTS.includes(name)) throw new TypeError(`${op}: expected name to be one of ${EXPERIMENTS.join(', ')} but got ${String(name)}`);
  const budget = options.budget ?? 'default';
  if (!BUDGETS.includes(budget)) throw new TypeError(`${op}: expected budget to be one of ${BUDGETS.join(', ')} but got ${String(budget)}`);
  const variants = options.variants ?? DEFAULT_VARIANTS[name];
  for (const v of variants) {
    if (!LAYER_KINDS.includes(v)) throw new TypeError(`${op}: expected each variant to be one of ${LAYER_KINDS.join(', ')} but got ${String(v)}`);
  }
  const out = path.resolve(options.out ?? path.join('experiments', name));
  const verbose = options.verbose ?? 1;
  const data = options.data ?? DEFAULT_DATA[name];
  if (data !== undefined && !fs.existsSync(data)) throw new Error(`${op}: ${name} needs its data at ${data} (pass data) but there is no such file`);
  fs.mkdirSync(out, { recursive: true });
  const t0 = Date.now();
  let schedule: ClassificationSchedule | FewShotSchedule;
  let result: { runs: ExperimentRun[]; records: RunRecord[]; table: ExperimentSummary };
  let title: string;
  if (name === 'omniglot') {
    schedule = SCHEDULES.omniglot[budget];
    result = await omniglot(schedule, data!, variants, out, verbose);
    title = `Omniglot few-shot (prototypical Conv-4), budget ${budget}`;
  } else {
    const s = SCHEDULES[name][budget];
    schedule = s;
    const d = name === 'cifar10' ? await cifarData(data!, s) : await fashionData(s);
    result = await classification(name, s, d, variants, out, verbose);
    title = `${name === 'cifar10' ? 'CIFAR-10' : 'Fashion-MNIST'}: the 9-layer network with each layer kind, budget ${budget} (${d.description})`;
  }
  const summary: ExperimentResult = {
    experiment: name, budget, schedule, machine: machine(), runs: result.runs, table: result.table, seconds: (Date.now() - t0) / 1000, out,
  };
  fs.writeFileSync(path.join(out, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
  await writeReport(path.join(out, 'report.html'), renderExperimentReport(title, result.records, result.table));
  if (verbose) {
    console.log(`\n${title}`);
    console.log(result.table.columns.join(' | '));
    for (const row of result.table.rows) console.log(row.join(' | '));
    console.log(`summary: ${path.join(out, 'summary.json')}, report: ${path.join(out, 'report.html')}, ${summary.seconds.toFixed(0)} s`);
  }
  return summary;
}

#!/usr/bin/env node
/**
 * The command line, `neural-similarity`: main (the main job), train, eval, predict, fewshot-train, fewshot-predict,
 * experiment, info, bench. Every command
 * has --help, validates its arguments and exits non-zero with a one-line message naming the bad argument.
 */
import './ops/methods';
import * as fs from 'fs';
import * as path from 'path';
import { Argument, Command, InvalidArgumentError, Option } from 'commander';
import { backendInfo } from './backend/info';
import * as cuda from './backend/cuda';
import { memory } from './memory';
import { manualSeed } from './ops/creation';
import { setNumThreads } from './backend/threads';
import { LAYER_KINDS, LayerKind } from './models';
import { DataSpec, evaluateCheckpoint, predictImages, trainRun } from './train/run';
import { mainJob } from './train/main';
import { fewshotTrainRun, fewshotPredict } from './fewshot/run';
import { BUDGETS, Budget, EXPERIMENTS, ExperimentName, runExperiment } from './experiments';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const version = (require(path.join(__dirname, '..', '..', 'package.json')) as { version: string }).version;

const int = (name: string, min: number) => (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${name} expects an integer ≥ ${min} but got '${value}'`);
  return n;
};
const positive = (name: string) => (value: string): number => {
  const n = Number(value);
  if (!(n > 0) || !Number.isFinite(n)) throw new InvalidArgumentError(`${name} expects a positive number but got '${value}'`);
  return n;
};
const existing = (name: string) => (value: string): string => {
  if (!fs.existsSync(value)) throw new InvalidArgumentError(`${name}: no such file or folder '${value}'`);
  return value;
};
const dataSpec = (value: string): DataSpec => {
  if (value === 'mnist' || value === 'fashion-mnist') return value;
  if (fs.existsSync(value)) return value;
  throw new InvalidArgumentError(`--data expects mnist, fashion-mnist, or an image folder or .tar.gz but got '${value}' (no such file or folder)`);
};

const variantList = (value: string): LayerKind[] => {
  const kinds = value.split(',').map((k) => k.trim());
  const bad = kinds.find((k) => !LAYER_KINDS.includes(k as LayerKind));
  if (bad !== undefined) throw new InvalidArgumentError(`--variants expects layer kinds among ${LAYER_KINDS.join(', ')} but got '${bad}'`);
  return kinds as LayerKind[];
};

function program(): Command {
  const cli = new Command('neural-similarity')
    .description('Neural similarity learning (Liu et al., NeurIPS 2019) for Node.js: train, evaluate and run networks.')
    .version(version, '-V, --version')
    .showHelpAfterError(false)
    .configureOutput({ outputError: (text, write) => write(text.trim().split('\n')[0] + '\n') })
    .exitOverride();

  cli.command('main')
    .description('the main job: trains a plain CNN and a dynamic neural-similarity CNN on MNIST (60,000/10,000) and compares them')
    .addOption(new Option('--seconds <s>', 'training budget per network').argParser(positive('--seconds')).default(120))
    .addOption(new Option('--out <dir>', 'where checkpoints, logs and the report go').default('runs/main'))
    .action(async (o: { seconds: number; out: string }) => {
      await mainJob({ seconds: o.seconds, out: o.out });
    });

  cli.command('train')
    .description('trains a network and writes DIR/checkpoint.safetensors, DIR/log.jsonl and DIR/report.html')
    .addOption(new Option('--model <name>', 'network').choices(['smallCnn', 'cifar9']).default('smallCnn'))
    .addOption(new Option('--kind <kind>', 'layer kind of the similarity slots').choices([...LAYER_KINDS]).default('plain'))
    .addOption(new Option('--data <spec>', 'mnist, fashion-mnist, or an image folder / .tar.gz with train/ and test/').argParser(dataSpec).default('mnist'))
    .addOption(new Option('--epochs <n>', 'epochs').argParser(int('--epochs', 1)).default(1))
    .addOption(new Option('--batch-size <n>', 'batch size').argParser(int('--batch-size', 1)).default(64))
    .addOption(new Option('--lr <lr>', 'learning rate (SGD with momentum 0.9)').argParser(positive('--lr')).default(0.05))
    .addOption(new Option('--device <device>', 'cpu or cuda').choices(['cpu', 'cuda']))
    .addOption(new Option('--limit <n>', 'use only the first n training images').argParser(int('--limit', 1)))
    .addOption(new Option('--seed <n>', 'random seed').argParser(int('--seed', 0)).default(0))
    .addOption(new Option('--threads <n>', 'CPU threads').argParser(int('--threads', 1)))
    .requiredOption('--out <dir>', 'output folder')
    .option('--resume', 'continue the run in --out from its checkpoint')
    .action(async (o: { model: 'smallCnn' | 'cifar9'; kind: LayerKind; data: DataSpec; epochs: number; batchSize: number; lr: number;
      device?: 'cpu' | 'cuda'; limit?: number; seed: number; threads?: number; out: string; resume?: boolean }) => {
      if (o.threads) setNumThreads(o.threads);
      manualSeed(o.seed);
      const result = await trainRun(o);
      console.log(JSON.stringify(result));
    });

  cli.command('eval')
    .description('evaluates a checkpoint on the test split of a dataset')
    .requiredOption('--checkpoint <file>', 'a checkpoint.safetensors written by train', existing('--checkpoint'))
    .requiredOption('--data <spec>', 'mnist, fashion-mnist, or an image folder / .tar.gz', dataSpec)
    .addOption(new Option('--batch-size <n>', 'batch size').argParser(int('--batch-size', 1)).default(256))
    .addOption(new Option('--device <device>', 'cpu or cuda').choices(['cpu', 'cuda']))
    .action(async (o: { checkpoint: string; data: DataSpec; batchSize: number; device?: 'cpu' | 'cuda' }) => {
      console.log(JSON.stringify(await evaluateCheckpoint(o)));
    });

  cli.command('predict')
    .description('prints the class of each image as JSON, using the preprocessing stored in the checkpoint')
    .requiredOption('--checkpoint <file>', 'a checkpoint.safetensors written by train', existing('--checkpoint'))
    .argument('<images...>', 'image files (JPEG, PNG, …)')
    .action(async (images: string[], o: { checkpoint: string }) => {
      for (const image of images) existing('image')(image);
      console.log(JSON.stringify(await predictImages(o.checkpoint, images)));
    });

  cli.command('fewshot-train')
    .description('trains a Conv-4 prototypical network on the meta-train classes of a folder or .tar.gz of class folders (Omniglot), '
      + 'evaluates it on the held-out meta-test classes and writes DIR/checkpoint.safetensors')
    .requiredOption('--data <path>', 'a folder or .tar.gz whose leaf folders are the classes', existing('--data'))
    .requiredOption('--out <dir>', 'output folder')
    .addOption(new Option('--backbone <kind>', 'layer kind of Conv-4 (static = static-diagonal, dynamic = dynamic-diagonal)')
      .choices(['plain', 'static', 'dynamic', ...LAYER_KINDS.filter((k) => k !== 'plain')]).default('plain'))
    .addOption(new Option('--episodes <n>', 'training episodes').argParser(int('--episodes', 1)).default(1000))
    .addOption(new Option('--ways <n>', 'classes per training episode').argParser(int('--ways', 2)).default(20))
    .addOption(new Option('--shots <n>', 'support images per class').argParser(int('--shots', 1)).default(5))
    .addOption(new Option('--queries <n>', 'query images per class').argParser(int('--queries', 1)).default(5))
    .addOption(new Option('--lr <lr>', "Adam's learning rate (halved every quarter of the episodes)").argParser(positive('--lr')).default(1e-3))
    .addOption(new Option('--size <n>', 'side of the square inputs').argParser(int('--size', 16)).default(28))
    .addOption(new Option('--test-episodes <n>', 'meta-test episodes per setting (5/20-way, 1/5-shot); 0 skips').argParser(int('--test-episodes', 0)).default(600))
    .addOption(new Option('--seed <n>', 'random seed (the class split, episodes and weights)').argParser(int('--seed', 0)).default(0))
    .addOption(new Option('--device <device>', 'cpu or cuda').choices(['cpu', 'cuda']))
    .addOption(new Option('--threads <n>', 'CPU threads').argParser(int('--threads', 1)))
    .action(async (o: { data: string; out: string; backbone: string; episodes: number; ways: number; shots: number; queries: number; lr: number;
      size: number; testEpisodes: number; seed: number; device?: 'cpu' | 'cuda'; threads?: number }) => {
      if (o.threads) setNumThreads(o.threads);
      manualSeed(o.seed);
      const kind = (o.backbone === 'static' ? 'static-diagonal' : o.backbone === 'dynamic' ? 'dynamic-diagonal' : o.backbone) as LayerKind;
      const r = await fewshotTrainRun({ data: o.data, out: o.out, kind, ways: o.ways, shots: o.shots, queries: o.queries, episodes: o.episodes,
        lr: o.lr, size: o.size, testEpisodes: o.testEpisodes, seed: o.seed, device: o.device });
      console.log(JSON.stringify({ checkpoint: r.checkpoint, results: r.results, seconds: r.seconds }));
    });

  cli.command('fewshot-predict')
    .description('prints { query file: support class } as JSON: each query image goes to the class whose support images embed nearest')
    .requiredOption('--checkpoint <file>', 'a checkpoint.safetensors written by fewshot-train', existing('--checkpoint'))
    .requiredOption('--support <dir>', 'one sub-folder per class, any number of images each', existing('--support'))
    .requiredOption('--query <dir>', 'a folder of images to classify', existing('--query'))
    .addOption(new Option('--device <device>', 'cpu or cuda').choices(['cpu', 'cuda']))
    .action(async (o: { checkpoint: string; support: string; query: string; device?: 'cpu' | 'cuda' }) => {
      console.log(JSON.stringify(await fewshotPredict(o.checkpoint, o.support, o.query, o.device)));
    });

  cli.command('experiment')
    .description("runs one of the paper's experiments and writes its runs, summary.json and report.html (schedules: RESULTS.md)")
    .addArgument(new Argument('<name>', 'experiment').choices([...EXPERIMENTS]))
    .addOption(new Option('--budget <budget>', 'tiny (a smoke test), default (this CPU), full (the paper\'s recipe, for a GPU)').choices([...BUDGETS]).default('default'))
    .addOption(new Option('--out <dir>', 'output folder (default experiments/<name>)'))
    .addOption(new Option('--variants <kinds>', `comma-separated layer kinds (default: all for cifar10 and fashion-mnist; plain, static-diagonal, dynamic-diagonal for omniglot)`)
      .argParser(variantList))
    .addOption(new Option('--data <path>', 'the CIFAR-10 or Omniglot archive (default: ../shared/datasets/…)').argParser(existing('--data')))
    .addOption(new Option('--threads <n>', 'CPU threads').argParser(int('--threads', 1)))
    .action(async (name: ExperimentName, o: { budget: Budget; out?: string; variants?: LayerKind[]; data?: string; threads?: number }) => {
      if (o.threads) setNumThreads(o.threads);
      await runExperiment(name, { budget: o.budget, out: o.out, variants: o.variants, data: o.data });
    });

  cli.command('info')
    .description('backend, threads, CPU kernel, CUDA device or why it is not used, memory')
    .action(() => {
      console.log(JSON.stringify({ ...backendInfo(), memory: memory() }, null, 2));
    });

  cli.command('bench')
    .description('runs benchmarks (all by default; gpu only where a GPU is usable); tables printed, JSON written to --out')
    .argument('[names...]', 'benchmarks to run')
    .addOption(new Option('--out <dir>', 'where the JSON results go').default('bench-results'))
    .action(async (names: string[], o: { out: string }) => {
      const dir = path.resolve(__dirname, '..', 'bench');
      const available = fs.readdirSync(dir).filter((f) => f.endsWith('.js') && !f.startsWith('util') && f !== 'gpu-sanitize.js')
        .map((f) => f.slice(0, -3));
      for (const name of names) {
        if (!available.includes(name)) throw new Error(`bench: unknown benchmark '${name}' (available: ${available.join(', ')})`);
      }
      process.env.NEURAL_SIMILARITY_BENCH_DIR = path.resolve(o.out);
      const chosen = names.length ? names : available.filter((n) => n !== 'gpu' || cuda.isAvailable());
      for (const name of chosen) {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const mod = require(path.join(dir, name)) as { run: () => Promise<void> | void };
        await mod.run();
      }
    });
  return cli;
}

async function main(argv: string[]): Promise<number> {
  const cli = program();
  try {
    await cli.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (err) {
    const e = err as { code?: string; exitCode?: number; message?: string };
    if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0;
    if (typeof e.code === 'string' && e.code.startsWith('commander.')) return e.exitCode ?? 1;
    console.error(`neural-similarity: ${(e.message ?? String(err)).split('\n')[0]}`);
    return 1;
  }
}

main(process.argv.slice(2)).then((code) => process.exit(code));

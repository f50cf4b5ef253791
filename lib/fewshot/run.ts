/**
 * What the CLI's fewshot-train and fewshot-predict do: load a folder or archive of class folders (Omniglot:
 * alphabet/character folders of 105×105 drawings), split its classes disjointly into meta-train and meta-test,
 * train a Conv-4 prototypical network on meta-train episodes, evaluate it on meta-test episodes, and write a
 * checkpoint holding the backbone, its config, the preprocessing and the split; then classify query images by
 * their distance to the prototypes of a support folder.
 */
import * as fs from 'fs';
import * as path from 'path';
import { Tensor, Device } from '../tensor';
import { defaultDevice } from '../backend/backend';
import { tidy } from '../memory';
import { noGrad } from '../autograd/node';
import { argmax, mean } from '../ops/reduce';
import { indexSelect, stack } from '../ops/shape';
import { to } from '../ops/transfer';
import { rngState } from '../ops/creation';
import { Module } from '../nn/module';
import { ImageFolder } from '../data/imagefolder';
import { compose, normalize, toTensor } from '../data/transforms';
import { buildModel, conv4, LayerKind, ModelConfig } from '../models';
import { saveCheckpoint, loadCheckpoint } from '../train/checkpoint';
import { DynamicObserver, collectSimilarity } from '../train/similarity';
import type { SimilarityPicture } from '../report';
import { Preprocessing, imageInput } from '../train/run';
import { splitClasses } from './sampler';
import { trainPrototypical, evaluatePrototypical, distanceLogits, FewShotResult, PrototypicalHistory } from './protonet';

/** A few-shot data set: every class folder's images, decoded at size×size and normalised, with its preprocessing. */
export async function loadFewShotData(data: string, options: { size: number; channels: 1 | 3 }): Promise<{ dataset: ImageFolder; preprocessing: Preprocessing }> {
  const decode = { grayscale: options.channels === 1, size: [options.size, options.size] as [number, number], classDepth: 'leaf' as const };
  const raw = await ImageFolder.load(data, decode);
  const { mean: m, std } = raw.channelStats();
  const dataset = await ImageFolder.load(data, { ...decode, transform: compose([toTensor(), normalize(m, std)]) });
  return {
    dataset,
    preprocessing: { height: options.size, width: options.size, channels: options.channels, mean: m, std, invert: false, classes: [] },
  };
}

/** Options of fewshotTrainRun (the CLI's fewshot-train). */
export interface FewShotTrainOptions {
  /** A folder or .tar.gz whose leaf folders are the classes. */
  data: string;
  out: string;
  kind: LayerKind;
  /** Side of the square inputs (default 28) and channels (default 1). */
  size?: number;
  channels?: 1 | 3;
  /** Training episodes: ways, shots, queries per class, count; Adam's lr. */
  ways: number;
  shots: number;
  queries: number;
  episodes: number;
  lr: number;
  /** Fraction of the classes held out as meta-test (default 0.3). */
  testFraction?: number;
  /** Test episodes per evaluated setting (default 600); 0 skips the evaluation. */
  testEpisodes?: number;
  /** Query samples per class of the test episodes (default 15, at most what the smallest class leaves). */
  testQueries?: number;
  /** The settings evaluated on meta-test (default 5-way and 20-way, 1-shot and 5-shot). */
  evaluate?: { ways: number; shots: number }[];
  seed: number;
  device?: Device;
  maxSeconds?: number;
  verbose?: 0 | 1;
}

/** What fewshotTrainRun returns (and stores in the checkpoint's history). */
export interface FewShotRunResult {
  name: string;
  kind: LayerKind;
  trainClasses: number;
  testClasses: number;
  training: PrototypicalHistory;
  results: FewShotResult[];
  /** What the similarity layers learned (static M; mean dynamic m over the first test setting's episodes). */
  similarity: SimilarityPicture[];
  seconds: number;
  checkpoint: string;
}

/** Trains a Conv-4 prototypical network on meta-train classes of `data`, evaluates it on meta-test and writes DIR/checkpoint.safetensors. */
export async function fewshotTrainRun(o: FewShotTrainOptions): Promise<FewShotRunResult> {
  const t0 = Date.now();
  const size = o.size ?? 28, channels = o.channels ?? 1;
  const { dataset, preprocessing } = await loadFewShotData(o.data, { size, channels });
  const split = splitClasses(dataset.classes.length, { testFraction: o.testFraction ?? 0.3, seed: o.seed });
  const config: ModelConfig = { name: 'conv4', kind: o.kind, inChannels: channels };
  const device = o.device ?? defaultDevice();
  const backbone = conv4(o.kind, { inChannels: channels }).to(device);
  if (o.verbose !== 0) {
    console.log(`few-shot ${o.kind} Conv-4 on ${dataset.length} images of ${dataset.classes.length} classes ` +
      `(${split.train.length} meta-train, ${split.test.length} meta-test), ${o.episodes} episodes of ${o.ways}-way ${o.shots}-shot, ${o.queries} queries`);
  }
  const training = await trainPrototypical(backbone, dataset, {
    ways: o.ways, shots: o.shots, queries: o.queries, episodes: o.episodes, classes: split.train, lr: o.lr, seed: o.seed,
    maxSeconds: o.maxSeconds, verbose: o.verbose ?? 1,
  });
  const settings = o.evaluate ?? [{ ways: 5, shots: 1 }, { ways: 5, shots: 5 }, { ways: 20, shots: 1 }, { ways: 20, shots: 5 }];
  const testEpisodes = o.testEpisodes ?? 600;
  const results: FewShotResult[] = [];
  let dynamic: SimilarityPicture[] = [];
  if (testEpisodes > 0) {
    for (const [k, s] of settings.entries()) {
      const queries = Math.min(o.testQueries ?? 15, minimumClassSize(dataset, split.test) - s.shots);
      const observer = k === 0 ? new DynamicObserver(backbone) : null;
      let r: FewShotResult;
      try {
        r = evaluatePrototypical(backbone, dataset, { ...s, queries, episodes: testEpisodes, classes: split.test, seed: o.seed + 1 });
      } finally {
        if (observer) dynamic = observer.stop();
      }
      results.push(r);
      if (o.verbose !== 0) console.log(`meta-test ${s.ways}-way ${s.shots}-shot: ${(100 * r.accuracy).toFixed(2)}% ± ${(100 * r.ci95).toFixed(2)}% (${r.episodes} episodes)`);
    }
  }
  fs.mkdirSync(o.out, { recursive: true });
  const checkpoint = path.join(o.out, 'checkpoint.safetensors');
  const name = `conv4-${o.kind}`;
  const result: FewShotRunResult = {
    name, kind: o.kind, trainClasses: split.train.length, testClasses: split.test.length, training, results,
    similarity: collectSimilarity(backbone, dynamic), seconds: (Date.now() - t0) / 1000, checkpoint: path.resolve(checkpoint),
  };
  const classNames = (labels: Int32Array): string[] => Array.from(labels, (l) => dataset.classes[l]);
  await saveCheckpoint(checkpoint, backbone.stateDict(), {
    epoch: 0, step: training.episodes, rng: rngState(),
    config: { ...config, fewshot: { ways: o.ways, shots: o.shots, queries: o.queries, episodes: o.episodes, lr: o.lr, seed: o.seed,
      data: path.resolve(o.data), metaTrain: classNames(split.train), metaTest: classNames(split.test) } },
    preprocessing: preprocessing as unknown as Record<string, unknown>,
    history: [{ training: training.windows, results, seconds: result.seconds }],
  });
  fs.writeFileSync(path.join(o.out, 'result.json'), JSON.stringify(result, null, 2) + '\n');
  backbone.dispose();
  return result;
}

/** The fewest samples any of `classes` has. */
function minimumClassSize(dataset: ImageFolder, classes: Int32Array): number {
  const counts = new Map<number, number>();
  for (const l of dataset.labels) counts.set(l, (counts.get(l) ?? 0) + 1);
  return Math.min(...Array.from(classes, (c) => counts.get(c) ?? 0));
}

/** Embeds `inputs` [B, C, H, W] with `backbone` (no gradients). */
function embed(backbone: Module, inputs: Tensor): Tensor {
  return noGrad(() => backbone.forward(inputs));
}

/**
 * Classifies every image in `queryDir` by the nearest prototype of the classes in `supportDir` (one sub-folder
 * per class, any number of images each), with the backbone and preprocessing of `checkpoint`. Returns
 * { query file name: support class folder name }.
 */
export async function fewshotPredict(checkpoint: string, supportDir: string, queryDir: string, device?: Device): Promise<Record<string, string>> {
  const op = 'fewshot-predict';
  const { model: state, meta } = await loadCheckpoint(checkpoint);
  if ((meta.config as { name?: string } | undefined)?.name !== 'conv4' || !meta.preprocessing) {
    throw new Error(`${op}: ${checkpoint} is not a checkpoint written by fewshot-train (no conv4 config or preprocessing in its metadata)`);
  }
  const p = meta.preprocessing as unknown as Preprocessing;
  if (p.invert) throw new Error(`${op}: inverted preprocessing is not supported for support folders`);
  const backbone = buildModel(meta.config as unknown as ModelConfig);
  backbone.loadStateDict(state);
  const where = device ?? defaultDevice();
  backbone.to(where).eval();
  const support = await ImageFolder.load(supportDir, {
    grayscale: p.channels === 1, size: [p.height, p.width], cacheDir: null, transform: compose([toTensor(), normalize(p.mean, p.std)]),
  });
  const queries = fs.readdirSync(queryDir).filter((f) => /\.(png|jpe?g)$/i.test(f)).sort();
  if (queries.length === 0) throw new Error(`${op}: expected JPEG or PNG images in the query folder ${queryDir} but found none`);
  const inputs = await Promise.all(queries.map((f) => imageInput(path.join(queryDir, f), p)));
  const predicted = tidy(() => {
    const all = Int32Array.from({ length: support.length }, (_, i) => i);
    const [images, labels] = support.toBatch(op, support.render(all, [0]), all);
    labels.dispose();
    const embeddings = embed(backbone, to(images, where));
    const labelList = support.labels;
    const prototypes = stack(support.classes.map((_, c) => {
      const rows = Int32Array.from(all.filter((i) => labelList[i] === c));
      return mean(indexSelect(embeddings, rows), 0);
    }), 0);
    const flat = new Float32Array(inputs.length * inputs[0].length);
    inputs.forEach((x, i) => flat.set(x, i * x.length));
    const query = embed(backbone, to(Tensor.fromHost(flat, [inputs.length, p.channels, p.height, p.width], 'float32', 'cpu'), where));
    return noGrad(() => argmax(distanceLogits(query, prototypes), 1)).toArray() as number[];
  });
  backbone.dispose();
  return Object.fromEntries(queries.map((f, i) => [f, support.classes[predicted[i]]]));
}

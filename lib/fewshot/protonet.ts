/**
 * Prototypical networks (Snell et al., 2017): a backbone embeds every image; each class's prototype is the mean
 * embedding of its support samples; a query's logits are its negative squared Euclidean distances to the
 * prototypes, trained with cross-entropy over the episode's ways. Evaluation reports the mean accuracy over test
 * episodes with a 95% confidence interval (1.96 standard errors).
 */
import { Tensor, Device } from '../tensor';
import { tidy } from '../memory';
import { noGrad } from '../autograd/node';
import { mul, square, sub } from '../ops/elementwise';
import { mean, sum, argmax } from '../ops/reduce';
import { reshape, slice, transpose } from '../ops/shape';
import { matmul } from '../ops/matmul';
import { crossEntropy } from '../ops/softmax';
import { tensor } from '../ops/creation';
import { to } from '../ops/transfer';
import { Module } from '../nn/module';
import { Adam } from '../optim';
import { StepLR } from '../optim/lr_scheduler';
import { ImageDataset } from '../data/images';
import { checkInt, checkOptions, checkNumber } from '../ops/util';
import { EpisodeSampler, Episode } from './sampler';
import { modelDevice } from '../train/fit';

/** Negative squared Euclidean distances: query [Q, D] and prototypes [N, D] → [Q, N], logit[q, n] = −‖q − p_n‖². */
export function distanceLogits(query: Tensor, prototypes: Tensor): Tensor {
  const op = 'distanceLogits';
  if (!(prototypes instanceof Tensor) || prototypes.rank !== 2) {
    throw new TypeError(`${op}: expected prototypes to be an [N, D] tensor but got ${prototypes instanceof Tensor ? `shape [${prototypes.shape}]` : typeof prototypes}`);
  }
  if (!(query instanceof Tensor) || query.rank !== 2 || query.shape[1] !== prototypes.shape[1]) {
    throw new TypeError(`${op}: expected query to be a [Q, ${prototypes.shape[1]}] tensor but got ${query instanceof Tensor ? `shape [${query.shape}]` : typeof query}`);
  }
  const cross = matmul(query, transpose(prototypes));
  const queryNorms = sum(square(query), 1, true);
  const prototypeNorms = reshape(sum(square(prototypes), 1), [1, prototypes.shape[0]]);
  return sub(sub(mul(cross, 2), queryNorms), prototypeNorms);
}

/**
 * Logits of prototypical networks: support [ways·shots, D] (way-major) and query [Q, D] embeddings →
 * [Q, ways], logit[q, w] = −‖query_q − mean of way w's support‖².
 */
export function prototypicalLogits(support: Tensor, query: Tensor, ways: number): Tensor {
  const op = 'prototypicalLogits';
  checkInt(op, 'ways', ways, 1);
  if (!(support instanceof Tensor) || support.rank !== 2) {
    throw new TypeError(`${op}: expected support to be a [ways·shots, D] tensor but got ${support instanceof Tensor ? `shape [${support.shape}]` : typeof support}`);
  }
  if (support.shape[0] % ways !== 0 || support.shape[0] === 0) {
    throw new RangeError(`${op}: expected support rows to be a positive multiple of ways = ${ways} but got ${support.shape[0]}`);
  }
  return distanceLogits(query, mean(reshape(support, [ways, support.shape[0] / ways, support.shape[1]]), 1));
}

/** An episode's images [support…, query…] as one batch, and the query's way labels (int32). */
function episodeBatch(data: ImageDataset, episode: Episode, key: number[], device: Device): { x: Tensor; labels: Tensor } {
  const indices = new Int32Array(episode.support.length + episode.query.length);
  indices.set(episode.support);
  indices.set(episode.query, episode.support.length);
  const [x, datasetLabels] = data.toBatch('fewshot', data.render(indices, key), indices);
  datasetLabels.dispose();
  const perWay = episode.query.length / episode.classes.length;
  const labels = tensor(Int32Array.from(episode.query, (_, q) => Math.floor(q / perWay)), [episode.query.length], { dtype: 'int32' });
  return { x: to(x, device), labels: to(labels, device) };
}

/** One episode's query logits and way labels, and how many queries they classify right (the backbone in its current mode). */
function episodeLogits(backbone: Module, data: ImageDataset, episode: Episode, key: number[], device: Device): { logits: Tensor; labels: Tensor; correct: number } {
  const { x, labels } = episodeBatch(data, episode, key, device);
  const embeddings = backbone.forward(x);
  const s = episode.support.length;
  const support = slice(embeddings, [0, 0], [s, -1]), query = slice(embeddings, [s, 0]);
  const logits = prototypicalLogits(support, query, episode.classes.length);
  const correct = sum(argmax(logits, 1).eq(labels).cast('float32')).item();
  return { logits, labels, correct };
}

/** Options of trainPrototypical. */
export interface PrototypicalTrainOptions {
  /** Ways, shots and queries per class of the training episodes. */
  ways: number;
  shots: number;
  queries: number;
  /** Training episodes. */
  episodes: number;
  /** The labels training episodes draw from (the meta-train classes). */
  classes: ArrayLike<number>;
  /** Adam's learning rate (default 1e-3), halved every `lrHalvingEvery` episodes (default: a quarter of them). */
  lr?: number;
  lrHalvingEvery?: number;
  /** The episode sampler's seed (default 0). */
  seed?: number;
  /** Stop after this many seconds (at the end of the episode that passes it). */
  maxSeconds?: number;
  /** 0: silent; 1 (default): a line every `logEvery` episodes (default 100). */
  verbose?: 0 | 1;
  logEvery?: number;
}

/** What trainPrototypical measured: loss and accuracy per logged window. */
export interface PrototypicalHistory {
  /** Per window of `logEvery` episodes: its last episode (1-based), mean loss and query accuracy, learning rate. */
  windows: { episode: number; loss: number; accuracy: number; lr: number }[];
  episodes: number;
  seconds: number;
  imagesPerSecond: number;
}

/** Trains `backbone` as a prototypical network on episodes of `data` (on the backbone's device). */
export async function trainPrototypical(backbone: Module, data: ImageDataset, options: PrototypicalTrainOptions): Promise<PrototypicalHistory> {
  const op = 'trainPrototypical';
  const o = checkOptions(op, options, ['ways', 'shots', 'queries', 'episodes', 'classes', 'lr', 'lrHalvingEvery', 'seed', 'maxSeconds', 'verbose', 'logEvery']);
  if (!(data instanceof ImageDataset)) throw new TypeError(`${op}: expected data to be an ImageDataset (an ImageFolder) but got ${typeof data}`);
  const sampler = new EpisodeSampler(data, { ways: o.ways, shots: o.shots, queries: o.queries, classes: o.classes, episodes: o.episodes, seed: o.seed ?? 0 });
  const lr = checkNumber(op, 'lr', o.lr ?? 1e-3, 0);
  const halving = checkInt(op, 'lrHalvingEvery', o.lrHalvingEvery ?? Math.max(1, Math.ceil(sampler.episodes / 4)), 1);
  const budget = o.maxSeconds === undefined ? Infinity : checkNumber(op, 'maxSeconds', o.maxSeconds, 0);
  const logEvery = checkInt(op, 'logEvery', o.logEvery ?? 100, 1);
  const verbose = o.verbose ?? 1;
  const device = modelDevice(backbone);
  const optimizer = new Adam(backbone.parameters(), { lr });
  const scheduler = new StepLR(optimizer, { stepSize: halving, gamma: 0.5 });
  const history: PrototypicalHistory = { windows: [], episodes: 0, seconds: 0, imagesPerSecond: 0 };
  const t0 = Date.now();
  let images = 0, windowLoss = 0, windowCorrect = 0, windowQueries = 0, windowCount = 0;
  backbone.train();
  for (let i = 0; i < sampler.episodes; i++) {
    const episode = sampler.episode(i);
    const rate = optimizer.paramGroups[0].lr;
    const loss = tidy(() => {
      const r = episodeLogits(backbone, data, episode, [sampler.seed, i], device);
      const episodeLoss = crossEntropy(r.logits, r.labels);
      optimizer.zeroGrad();
      episodeLoss.backward();
      optimizer.step();
      windowCorrect += r.correct;
      return episodeLoss.item();
    });
    scheduler.step();
    images += episode.support.length + episode.query.length;
    windowLoss += loss;
    windowQueries += episode.query.length;
    windowCount++;
    history.episodes = i + 1;
    const over = (Date.now() - t0) / 1000 >= budget;
    if (windowCount === logEvery || i + 1 === sampler.episodes || over) {
      const seconds = (Date.now() - t0) / 1000;
      history.windows.push({ episode: i + 1, loss: windowLoss / windowCount, accuracy: windowCorrect / windowQueries, lr: rate });
      if (verbose) {
        console.log(`episode ${i + 1}/${sampler.episodes}: loss ${(windowLoss / windowCount).toFixed(4)}, query accuracy ` +
          `${(100 * windowCorrect / windowQueries).toFixed(2)}%, lr ${rate.toPrecision(3)}, ${Math.round(images / seconds)} img/s, ${seconds.toFixed(0)} s`);
      }
      windowLoss = windowCorrect = windowQueries = windowCount = 0;
    }
    if (over) break;
    if (i % 16 === 15) await new Promise((resolve) => setImmediate(resolve));
  }
  history.seconds = (Date.now() - t0) / 1000;
  history.imagesPerSecond = images / Math.max(history.seconds, 1e-9);
  return history;
}

/** Options of evaluatePrototypical. */
export interface PrototypicalEvalOptions {
  ways: number;
  shots: number;
  /** Query samples per class (default 15). */
  queries?: number;
  /** Test episodes (default 600). */
  episodes?: number;
  /** The labels test episodes draw from (the meta-test classes). */
  classes: ArrayLike<number>;
  seed?: number;
}

/** Few-shot accuracy: the mean over episodes and its 95% confidence interval (±1.96 standard errors). */
export interface FewShotResult {
  ways: number;
  shots: number;
  queries: number;
  episodes: number;
  accuracy: number;
  ci95: number;
}

/** Evaluates `backbone` (in eval mode, without gradients) as a prototypical network on test episodes. */
export function evaluatePrototypical(backbone: Module, data: ImageDataset, options: PrototypicalEvalOptions): FewShotResult {
  const op = 'evaluatePrototypical';
  const o = checkOptions(op, options, ['ways', 'shots', 'queries', 'episodes', 'classes', 'seed']);
  if (!(data instanceof ImageDataset)) throw new TypeError(`${op}: expected data to be an ImageDataset (an ImageFolder) but got ${typeof data}`);
  const sampler = new EpisodeSampler(data, { ways: o.ways, shots: o.shots, queries: o.queries ?? 15, classes: o.classes, episodes: o.episodes ?? 600, seed: o.seed ?? 0 });
  const device = modelDevice(backbone);
  const wasTraining = backbone.training;
  backbone.eval();
  const accuracies: number[] = [];
  try {
    for (let i = 0; i < sampler.episodes; i++) {
      const episode = sampler.episode(i);
      const correct = tidy(() => noGrad(() => episodeLogits(backbone, data, episode, [sampler.seed, i], device).correct));
      accuracies.push(correct / episode.query.length);
    }
  } finally {
    if (wasTraining) backbone.train();
  }
  const n = accuracies.length;
  const m = accuracies.reduce((a, b) => a + b, 0) / Math.max(n, 1);
  const variance = n > 1 ? accuracies.reduce((a, b) => a + (b - m) ** 2, 0) / (n - 1) : 0;
  return { ways: sampler.ways, shots: sampler.shots, queries: sampler.queries, episodes: n, accuracy: m, ci95: 1.96 * Math.sqrt(variance / Math.max(n, 1)) };
}

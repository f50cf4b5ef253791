/**
 * What the CLI's train, eval and predict do: data from a spec (MNIST, Fashion-MNIST, or an image folder / .tar.gz
 * with train/ and test/ splits), a model from its config, fit with checkpoints, evaluation of a checkpoint, and
 * prediction of image files with the preprocessing the checkpoint stores.
 */
import * as fs from 'fs';
import * as path from 'path';
import { Tensor, Device } from '../tensor';
import { defaultDevice } from '../backend/backend';
import { noGrad } from '../autograd/node';
import { tidy } from '../memory';
import { argmax } from '../ops/reduce';
import { to } from '../ops/transfer';
import { Module } from '../nn/module';
import { DataLoader } from '../data/loader';
import { MNIST, FashionMNIST } from '../data/mnist';
import { ImageFolder, decodeImage } from '../data/imagefolder';
import { applySteps, resolveTransform } from '../data/augment';
import { RandomStream } from '../data/random';
import { compose, normalize, randomCrop, randomHorizontalFlip, toTensor } from '../data/transforms';
import { SGD } from '../optim';
import { buildModel, LayerKind, ModelConfig } from '../models';
import { fit, evaluate, modelDevice, EvaluateResult, BatchSource } from './fit';
import { loadCheckpoint } from './checkpoint';

/** mnist, fashion-mnist, or the path of an image folder or .tar.gz holding train/ and test/ class folders. */
export type DataSpec = 'mnist' | 'fashion-mnist' | string;

/** How a model's inputs are made from an image file: stored in checkpoints. */
export interface Preprocessing {
  height: number;
  width: number;
  channels: 1 | 3;
  mean: number[];
  std: number[];
  /** What is white on black: MNIST-style images are inverted from ordinary dark-on-light scans. */
  invert: boolean;
  classes: string[];
}

/** A dataset's two splits, ready for fit and evaluate. */
export interface Splits {
  train: BatchSource & { length: number };
  test: BatchSource;
  preprocessing: Preprocessing;
  trainSize: number;
}

/** Loads a dataset's training and test splits for a model taking `size`×`size` inputs. */
export async function loadSplits(spec: DataSpec, options: { batchSize: number; size: number; limit?: number; seed: number }): Promise<Splits> {
  if (spec === 'mnist' || spec === 'fashion-mnist') {
    const Kind = spec === 'mnist' ? MNIST : FashionMNIST;
    const [train, test] = await Promise.all([Kind.load({ train: true, normalize: true }), Kind.load({ train: false, normalize: true })]);
    const trainSet = options.limit && options.limit < train.length ? train.range(0, options.limit) : train;
    return {
      train: new DataLoader(trainSet, { batchSize: options.batchSize, shuffle: true, seed: options.seed }),
      test: new DataLoader(test, { batchSize: 500 }),
      trainSize: trainSet.length,
      preprocessing: {
        height: 28, width: 28, channels: 1, mean: [Kind.MEAN], std: [Kind.STD], invert: true,
        classes: spec === 'mnist' ? ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'] : [...train.classes],
      },
    };
  }
  const size = options.size;
  const plain = await ImageFolder.load(spec, { subdir: 'train', size: [size, size] });
  const { mean, std } = plain.channelStats();
  const augment = compose([randomCrop(size, { padding: Math.round(size / 8), paddingMode: 'reflect' }), randomHorizontalFlip(),
    toTensor(), normalize(mean, std)]);
  const [train, test] = await Promise.all([
    ImageFolder.load(spec, { subdir: 'train', size: [size, size], transform: augment }),
    ImageFolder.load(spec, { subdir: 'test', size: [size, size], transform: compose([toTensor(), normalize(mean, std)]) }),
  ]);
  return {
    train: new DataLoader(train, { batchSize: options.batchSize, shuffle: true, seed: options.seed }) as unknown as Splits['train'],
    test: new DataLoader(test, { batchSize: 256 }) as unknown as BatchSource,
    trainSize: train.length,
    preprocessing: { height: size, width: size, channels: plain.image(0).channels === 1 ? 1 : 3, mean, std, invert: false, classes: [...train.classes] },
  };
}

/** Options of trainRun (the CLI's train). */
export interface TrainRunOptions {
  model: 'smallCnn' | 'cifar9';
  kind: LayerKind;
  data: DataSpec;
  epochs: number;
  batchSize: number;
  lr: number;
  device?: Device;
  limit?: number;
  seed: number;
  out: string;
  resume?: boolean;
  /** Stop after this many seconds of training (at the end of the batch that passes it). */
  maxSeconds?: number;
  name?: string;
  verbose?: 0 | 1 | 2;
}

/** Trains a model on a dataset into `out`; returns the final test metrics and the time it took. */
export async function trainRun(o: TrainRunOptions): Promise<{ name: string; accuracy: number; loss: number; seconds: number; out: string }> {
  const size = o.model === 'cifar9' ? 32 : 28;
  const data = await loadSplits(o.data, { batchSize: o.batchSize, size, limit: o.limit, seed: o.seed });
  const config: ModelConfig = { name: o.model, kind: o.kind, inChannels: data.preprocessing.channels, classes: data.preprocessing.classes.length };
  const device = o.device ?? defaultDevice();
  const model = buildModel(config).to(device);
  const optimizer = new SGD(model.parameters(), { lr: o.lr, momentum: 0.9, weightDecay: 5e-4 });
  const name = o.name ?? `${o.model}-${o.kind}`;
  const t0 = Date.now();
  const history = await fit(model, {
    train: data.train, val: data.test, epochs: o.epochs, optimizer, checkpointDir: o.out, resume: o.resume, device,
    config: config as unknown as Record<string, unknown>, preprocessing: data.preprocessing as unknown as Record<string, unknown>,
    name, classes: data.preprocessing.classes, verbose: o.verbose, maxSeconds: o.maxSeconds,
  });
  model.dispose();
  const final = history.final!;
  return { name, accuracy: final.accuracy, loss: final.loss, seconds: (Date.now() - t0) / 1000, out: path.resolve(o.out) };
}

/** A checkpoint's model, rebuilt from its config and loaded, with its preprocessing. */
export async function loadModel(checkpoint: string, device?: Device): Promise<{ model: Module; preprocessing: Preprocessing }> {
  const { model: state, meta } = await loadCheckpoint(checkpoint);
  if (!meta.config || !meta.preprocessing) {
    throw new Error(`${checkpoint}: not a checkpoint written by neural-similarity train (no model config or preprocessing in its metadata)`);
  }
  const model = buildModel(meta.config as unknown as ModelConfig);
  model.loadStateDict(state);
  model.to(device ?? defaultDevice()).eval();
  return { model, preprocessing: meta.preprocessing as unknown as Preprocessing };
}

/** Evaluates a checkpoint on the test split of `data`. */
export async function evaluateCheckpoint(o: { checkpoint: string; data: DataSpec; batchSize: number; device?: Device }): Promise<Omit<EvaluateResult, 'confusion'>> {
  const { model, preprocessing } = await loadModel(o.checkpoint, o.device);
  const data = await loadSplits(o.data, { batchSize: o.batchSize, size: preprocessing.height, seed: 0 });
  const { loss, accuracy, top5, count } = await evaluate(model, data.test);
  return { loss, accuracy, top5, count };
}

/**
 * An image file as a model input, float32 CHW [channels, height, width]: decoded and resized as ImageFolder
 * decodes training images (sharp, bilinear, PIL's luma for one channel), inverted when the preprocessing says so,
 * then through the same toTensor and normalize steps as a dataset's transform (so the same file gives the same
 * numbers as its dataset sample, bit for bit).
 */
export async function imageInput(file: string, p: Preprocessing): Promise<Float32Array> {
  const image = await decodeImage('predict', file, await fs.promises.readFile(file), { grayscale: p.channels === 1, size: [p.height, p.width] });
  if (p.invert) image.data.forEach((v, k) => (image.data[k] = 255 - v));
  const steps = resolveTransform('predict', 'the preprocessing', compose([toTensor(), normalize(p.mean, p.std)]));
  return applySteps(steps, image, new RandomStream([0])).data as Float32Array;
}

/** The class of each image file (name → class), preprocessed as the checkpoint says. */
export async function predictImages(checkpoint: string, files: string[]): Promise<Record<string, string>> {
  const { model, preprocessing: p } = await loadModel(checkpoint);
  const device = modelDevice(model);
  const out: Record<string, string> = {};
  for (const file of files) {
    const chw = await imageInput(file, p);
    const index = tidy(() => noGrad(() => {
      const x = to(Tensor.fromHost(chw, [1, p.channels, p.height, p.width], 'float32', 'cpu'), device);
      return argmax(model.forward(x), 1).item();
    }));
    out[path.basename(file)] = p.classes[index];
  }
  return out;
}

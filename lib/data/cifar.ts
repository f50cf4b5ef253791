/**
 * CIFAR10: the official binary version of CIFAR-10 (cifar-10-binary.tar.gz, extracted): records of 1 label
 * byte and 3072 pixel bytes (the red, green and blue 32×32 planes), 10,000 per file, in data_batch_1.bin …
 * data_batch_5.bin (training) and test_batch.bin (test).
 */
import * as fs from 'fs';
import * as path from 'path';
import { ImageDataset, imageTransformSteps } from './images';
import { Transform } from './transforms';
import { PixelStore, createStore } from './pixels';
import { checkBoolean, checkOptionKeys, checkString } from './check';

/** Options of CIFAR10.load. */
export interface Cifar10Options {
  /** Folder holding the .bin files, or the folder above their `cifar-10-batches-bin`. */
  root: string;
  /** The 50,000-image training split (default true) or the 10,000-image test split. */
  train?: boolean;
  /** Applied to every sample (default `toTensor()`); must produce float CHW data. */
  transform?: Transform;
}

const SIDE = 32;
const PLANE = SIDE * SIDE;
const RECORD = 1 + 3 * PLANE;
const TRAIN_FILES = ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin'];
const TEST_FILES = ['test_batch.bin'];

/** CIFAR-10 read from its binary files: sample i is [image [3, 32, 32] after the transform, label]. */
export class CIFAR10 extends ImageDataset {
  /** The official class names, in label order. */
  static readonly CLASSES: readonly string[] = Object.freeze(['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck']);

  private constructor(store: PixelStore, labels: Int32Array, transform: Transform | undefined,
                      /** The folder the .bin files were read from. */
                      readonly root: string,
                      /** Whether this is the training split. */
                      readonly train: boolean) {
    super('CIFAR10', store, labels, CIFAR10.CLASSES, transform);
  }

  /** Reads the training (default) or test split from the binary files under `options.root`. */
  static async load(options: Cifar10Options): Promise<CIFAR10> {
    const owner = 'CIFAR10.load';
    if (options === undefined) throw new TypeError(`${owner}: expected options with a root (the folder of the .bin files) but got undefined`);
    const o = checkOptionKeys(owner, options, ['root', 'train', 'transform']);
    const root = path.resolve(checkString(owner, 'root', o.root));
    const train = checkBoolean(owner, 'train', o.train, true);
    imageTransformSteps('CIFAR10', o.transform);
    const names = train ? TRAIN_FILES : TEST_FILES;
    const nested = path.join(root, 'cifar-10-batches-bin');
    const dir = !fs.existsSync(path.join(root, names[0])) && fs.existsSync(path.join(nested, names[0])) ? nested : root;
    const missing = names.filter((n) => !fs.existsSync(path.join(dir, n)));
    if (missing.length > 0) throw new Error(`${owner}: expected ${missing.join(', ')} in ${dir} but found none of them`);
    const buffers = await Promise.all(names.map((n) => fs.promises.readFile(path.join(dir, n))));
    buffers.forEach((b, i) => {
      if (b.length === 0 || b.length % RECORD !== 0) {
        throw new Error(`${owner}: expected ${names[i]} to hold whole records of ${RECORD} bytes (1 label + 3072 pixels) but it has ${b.length} bytes`);
      }
    });
    const count = buffers.reduce((n, b) => n + b.length / RECORD, 0);
    const store = createStore(3, new Int32Array(count).fill(SIDE), new Int32Array(count).fill(SIDE));
    const labels = new Int32Array(count);
    let i = 0;
    buffers.forEach((b, f) => {
      for (let r = 0; r < b.length; r += RECORD, i++) {
        labels[i] = b[r];
        if (labels[i] >= CIFAR10.CLASSES.length) {
          throw new RangeError(`${owner}: expected labels in [0, 10) but record ${r / RECORD} of ${names[f]} has label ${labels[i]}`);
        }
        // Planes R, G, B → interleaved HWC.
        const out = store.offsets[i];
        for (let p = 0; p < PLANE; p++) {
          store.pixels[out + 3 * p] = b[r + 1 + p];
          store.pixels[out + 3 * p + 1] = b[r + 1 + PLANE + p];
          store.pixels[out + 3 * p + 2] = b[r + 1 + 2 * PLANE + p];
        }
      }
    });
    return new CIFAR10(store, labels, o.transform, dir, train);
  }
}

/**
 * Batching: a dataset of aligned tensors and a loader that yields (optionally shuffled) mini-batches.
 */
import { Tensor, formatShape, sizeOf } from '../tensor';
import { allocate } from '../memory';
import { fillRandom } from '../ops/creation';
import { RandomKind } from '../backend/native';
import { checkBool, checkInt, checkTensor } from '../ops/util';

/** Tensors whose first dimension indexes the same samples (e.g. images and labels). */
export class TensorDataset {
  readonly tensors: Tensor[];
  constructor(...tensors: Tensor[]) {
    if (tensors.length === 0) throw new TypeError('TensorDataset: expected at least one tensor');
    tensors.forEach((t, i) => checkTensor('TensorDataset', `tensors[${i}]`, t));
    const n = tensors[0].shape[0];
    tensors.forEach((t, i) => {
      if (t.rank === 0 || t.shape[0] !== n) {
        throw new RangeError(`TensorDataset: expected tensors[${i}] to have ${n} samples along dimension 0 but got shape ${formatShape(t.shape)}`);
      }
    });
    this.tensors = tensors;
  }
  /** Number of samples. */
  get length(): number {
    return this.tensors[0].shape[0];
  }
  /** The samples at `indices`, one tensor per dataset tensor. */
  gather(indices: ArrayLike<number>): Tensor[] {
    return this.tensors.map((t) => {
      const row = sizeOf(t.shape.slice(1));
      const out = allocate(t.dtype, indices.length * row);
      const src = t.values;
      for (let i = 0; i < indices.length; i++) out.set(src.subarray(indices[i] * row, (indices[i] + 1) * row), i * row);
      return Tensor.fromArray(out, [indices.length, ...t.shape.slice(1)]);
    });
  }
  /** Samples [begin, end) as a new dataset (copies). */
  range(begin: number, end: number): TensorDataset {
    const idx = Array.from({ length: end - begin }, (_, i) => begin + i);
    return new TensorDataset(...this.gather(idx));
  }
}

/** Options of DataLoader. */
export interface DataLoaderOptions {
  /** Samples per batch (default 32). */
  batchSize?: number;
  /** Reshuffle every epoch with the global generator (default false). */
  shuffle?: boolean;
  /** Skip a last, smaller batch (default false). */
  dropLast?: boolean;
}

/** Iterates a dataset in mini-batches; each iteration of the loader is one epoch. */
export class DataLoader implements Iterable<Tensor[]> {
  readonly batchSize: number;
  readonly shuffle: boolean;
  readonly dropLast: boolean;
  constructor(readonly dataset: TensorDataset, options: DataLoaderOptions = {}) {
    this.batchSize = checkInt('DataLoader', 'batchSize', options.batchSize ?? 32, 1);
    this.shuffle = checkBool('DataLoader', 'shuffle', options.shuffle, false);
    this.dropLast = checkBool('DataLoader', 'dropLast', options.dropLast, false);
  }
  /** Batches per epoch. */
  get length(): number {
    const n = this.dataset.length;
    return this.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
  }
  *[Symbol.iterator](): Iterator<Tensor[]> {
    const n = this.dataset.length;
    const order = Int32Array.from({ length: n }, (_, i) => i);
    if (this.shuffle) {
      // Fisher–Yates with uniforms from the seeded global generator.
      const u = new Float64Array(n);
      fillRandom(RandomKind.uniform, 0, 1, u);
      for (let i = n - 1; i > 0; i--) {
        const j = Math.floor(u[i] * (i + 1));
        [order[i], order[j]] = [order[j], order[i]];
      }
    }
    for (let b = 0; b < this.length; b++) {
      yield this.dataset.gather(order.subarray(b * this.batchSize, Math.min(n, (b + 1) * this.batchSize)));
    }
  }
}

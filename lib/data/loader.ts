/**
 * Datasets and the DataLoader: mini-batches in order or shuffled, collated into tensors, with image
 * decoding results transformed in worker threads while the current step runs.
 *
 * Determinism: a loader with a `seed` shuffles every epoch from its own stream (seed, epoch), and every
 * sample's random augmentation draws from a stream named by (seed, epoch, sample index); without a seed the
 * shuffle and the epoch's key come from the global generator (ns.manualSeed). Either way the batches do
 * not depend on the number of workers or on timing.
 */
import * as os from 'os';
import { Tensor, formatShape } from '../tensor';
import { tensor } from '../ops/creation';
import { indexSelect, reshape, stack } from '../ops/shape';
import { checkTensor } from '../ops/util';
import { checkBoolean, checkInteger, checkOptionKeys, describe } from './check';
import { ImageDataset, globalUniforms, globalWords } from './images';
import type { RenderedBatch } from './pixels';
import { RenderPool } from './workers';
import { RandomStream, StreamTag, permutation, splitWords } from './random';

/** A map-style dataset (PyTorch's Dataset): `length` samples, sample i from `get(i)` (sync or async). */
export interface Dataset<S> {
  /** Number of samples. */
  readonly length: number;
  /** Sample `index`, 0 ≤ index < length. */
  get(index: number): S | Promise<S>;
}

/**
 * What the default collate makes of a sample type: tensors are stacked along a new first axis, numbers
 * become a tensor (int32 when all are integers, else float32), strings a list; arrays and objects are
 * collated element by element.
 */
export type Collated<S> =
  S extends Tensor ? Tensor
    : S extends number ? Tensor
      : S extends string ? string[]
        : S extends readonly unknown[] ? { -readonly [K in keyof S]: Collated<S[K]> }
          : S extends object ? { -readonly [K in keyof S]: Collated<S[K]> }
            : never;

/** Tensors whose first dimension indexes the same samples (e.g. images and labels). */
export class TensorDataset implements Dataset<Tensor[]> {
  /** The tensors, first dimension aligned. */
  readonly tensors: Tensor[];

  /** A dataset whose sample i is row i of every tensor. */
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

  /** Sample `index`: row `index` of every tensor (new tensors). */
  get(index: number): Tensor[] {
    checkInteger('TensorDataset.get', 'index', index, 0, this.length - 1);
    return this.tensors.map((t) => {
      const rows = indexSelect(t, [index]);
      const row = reshape(rows, t.shape.slice(1));
      rows.dispose();
      return row;
    });
  }

  /** The samples at `indices`, one tensor per dataset tensor (new tensors, first dimension indices.length). */
  gather(indices: ArrayLike<number>): Tensor[] {
    const index = indices instanceof Int32Array ? indices : Int32Array.from(indices);
    return this.tensors.map((t) => indexSelect(t, index));
  }

  /** Samples [begin, end) as a new dataset (copies). */
  range(begin: number, end: number): TensorDataset {
    checkInteger('TensorDataset.range', 'begin', begin, 0, this.length);
    checkInteger('TensorDataset.range', 'end', end, begin, this.length);
    return new TensorDataset(...this.gather(Int32Array.from({ length: end - begin }, (_, i) => begin + i)));
  }
}

/** Options of DataLoader. */
export interface DataLoaderOptions<S = unknown, B = unknown> {
  /** Samples per batch (default 32). */
  batchSize?: number;
  /** Reshuffle every epoch (default false). */
  shuffle?: boolean;
  /** Skip a last, smaller batch (default false). */
  dropLast?: boolean;
  /**
   * Makes a batch of the samples (default: `defaultCollate`, see `Collated`). With an image dataset the
   * samples' tensors are made for this call: dispose them unless the batch keeps them.
   */
  collate?: (samples: S[]) => B;
  /**
   * The loader's own seed (an integer in [0, 2^53)): shuffles and augmentations are reproducible from it
   * and the epoch number alone. Default: drawn from the global generator (ns.manualSeed) every epoch.
   */
  seed?: number;
  /**
   * Worker threads transforming image samples (ImageDataset only; default min(4, cores − 1), at least 1;
   * 0 transforms on the main thread). Other datasets are read on the main thread and need 0.
   */
  numWorkers?: number;
  /** Batches prepared ahead per worker (or in all for async datasets on the main thread; default 2). */
  prefetch?: number;
}

/** The order and the randomness key of one epoch. */
interface EpochPlan {
  order: Int32Array;
  key: number[];
  batches: number;
}

/**
 * How one async pass makes its batches: `start` begins batch `batch` (up to `ahead` run at once), `finish`
 * turns what it produced into B when the caller takes it, `close` ends the pass.
 */
interface Producer<B> {
  ahead: number;
  start(batch: number, indices: Int32Array): Promise<unknown>;
  finish(raw: unknown, indices: Int32Array): B;
  close(): Promise<void>;
}

const noop = (): void => undefined;

/**
 * The default collate: stacks tensors, turns numbers into a tensor (int32 when all are integers, else
 * float32), keeps strings as a list, and recurses into arrays and plain objects.
 */
export function defaultCollate<S>(samples: readonly S[]): Collated<S> {
  return collateAt(samples as readonly unknown[], '') as Collated<S>;
}

/** Collates the values found at `where` (a path such as '[1].x', '' for the samples themselves) in every sample. */
function collateAt(values: readonly unknown[], where: string): unknown {
  const first = values[0];
  const mismatch = (i: number, expected: string): never => {
    throw new TypeError(where === ''
      ? `defaultCollate: expected every sample to be ${expected} (as sample 0 is) but sample ${i} is ${describe(values[i])}`
      : `defaultCollate: expected sample${where} to be ${expected} in every sample (as in sample 0) but sample ${i} has ${describe(values[i])}`);
  };
  if (first instanceof Tensor) {
    values.forEach((v, i) => v instanceof Tensor || mismatch(i, 'a Tensor'));
    return stack(values as Tensor[]);
  }
  if (typeof first === 'number') {
    values.forEach((v, i) => typeof v === 'number' || mismatch(i, 'a number'));
    const nums = values as number[];
    return nums.every(Number.isInteger) && nums.every((v) => v >= -(2 ** 31) && v < 2 ** 31)
      ? tensor(Int32Array.from(nums), [nums.length], { dtype: 'int32' })
      : tensor(Float32Array.from(nums), [nums.length]);
  }
  if (typeof first === 'string') {
    values.forEach((v, i) => typeof v === 'string' || mismatch(i, 'a string'));
    return [...values];
  }
  if (Array.isArray(first)) {
    values.forEach((v, i) => (Array.isArray(v) && v.length === first.length) || mismatch(i, `an array of ${first.length}`));
    return first.map((_, k) => collateAt(values.map((v) => (v as unknown[])[k]), `${where}[${k}]`));
  }
  if (first !== null && typeof first === 'object' && Object.getPrototypeOf(first) === Object.prototype) {
    const keys = Object.keys(first);
    values.forEach((v, i) => (v !== null && typeof v === 'object' && Object.keys(v).join() === keys.join()) || mismatch(i, `an object with keys ${keys.join(', ')}`));
    return Object.fromEntries(keys.map((k) => [k, collateAt(values.map((v) => (v as Record<string, unknown>)[k]), `${where}.${k}`)]));
  }
  throw new TypeError(`defaultCollate: cannot batch ${describe(first)} at sample${where} (expected tensors, numbers, strings, arrays or plain objects); pass a collate function`);
}

/** Default worker count for image datasets: min(4, cores − 1), at least 1. */
function defaultWorkers(): number {
  return Math.max(1, Math.min(4, os.availableParallelism() - 1));
}

/**
 * Iterates a dataset in mini-batches; each pass over the loader is one epoch.
 *
 *   const loader = new DataLoader(trainSet, { batchSize: 128, shuffle: true, seed: 1, numWorkers: 2 });
 *   for await (const [x, y] of loader) { ... }     // any dataset; image transforms run in workers
 *   for (const [x, y] of tensorLoader) { ... }     // TensorDataset, or any synchronous dataset with numWorkers 0
 *
 * A batch's tensors belong to the caller (dispose them when done).
 */
export class DataLoader<S = Tensor[], B = Collated<S>> implements Iterable<B>, AsyncIterable<B> {
  /** Samples per batch. */
  readonly batchSize: number;
  /** Whether every epoch is reshuffled. */
  readonly shuffle: boolean;
  /** Whether a last, smaller batch is skipped. */
  readonly dropLast: boolean;
  /** The loader's own seed, or undefined when it draws from the global generator. */
  readonly seed: number | undefined;
  /** Worker threads of an image dataset (0: main thread). */
  readonly numWorkers: number;
  /** Batches prepared ahead per worker. */
  readonly prefetch: number;
  private readonly collate: ((samples: S[]) => B) | undefined;
  private nextEpoch = 0;

  /** A loader over `dataset`; see DataLoaderOptions. */
  constructor(readonly dataset: Dataset<S>, options: DataLoaderOptions<S, B> = {}) {
    const o = checkOptionKeys('DataLoader', options, ['batchSize', 'shuffle', 'dropLast', 'collate', 'seed', 'numWorkers', 'prefetch']);
    if (dataset === null || typeof dataset !== 'object' || typeof dataset.get !== 'function' ||
        typeof dataset.length !== 'number' || !Number.isInteger(dataset.length) || dataset.length < 0) {
      throw new TypeError(`DataLoader: expected dataset to have an integer length and a get(index) method but got ${describe(dataset)}`);
    }
    this.batchSize = checkInteger('DataLoader', 'batchSize', o.batchSize ?? 32, 1);
    this.shuffle = checkBoolean('DataLoader', 'shuffle', o.shuffle, false);
    this.dropLast = checkBoolean('DataLoader', 'dropLast', o.dropLast, false);
    if (o.collate !== undefined && typeof o.collate !== 'function') {
      throw new TypeError(`DataLoader: expected collate to be a function (samples) => batch but got ${describe(o.collate)}`);
    }
    this.collate = o.collate;
    this.seed = o.seed === undefined ? undefined : checkInteger('DataLoader', 'seed', o.seed, 0);
    const images = dataset instanceof ImageDataset;
    this.numWorkers = checkInteger('DataLoader', 'numWorkers', o.numWorkers ?? (images ? defaultWorkers() : 0), 0);
    if (this.numWorkers > 0 && !images) {
      const kind = dataset.constructor && dataset.constructor !== Object ? `a ${dataset.constructor.name}` : 'this dataset';
      throw new RangeError(`DataLoader: expected numWorkers to be 0 for ${kind} ` +
        `(worker threads transform ImageDataset samples; other datasets are read on the main thread) but got ${this.numWorkers}`);
    }
    this.prefetch = checkInteger('DataLoader', 'prefetch', o.prefetch ?? 2, 1);
  }

  /** Batches per epoch. */
  get length(): number {
    const n = this.dataset.length;
    return this.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
  }

  /** The number of the next epoch (0 at first; each pass increments it). Set it to resume a seeded run. */
  get epoch(): number {
    return this.nextEpoch;
  }
  set epoch(value: number) {
    this.nextEpoch = checkInteger('DataLoader', 'epoch', value, 0);
  }

  /** One epoch, synchronously: TensorDataset, or a dataset whose get() is synchronous, with numWorkers 0. */
  *[Symbol.iterator](): Iterator<B> {
    if (this.numWorkers > 0) {
      throw new TypeError(`DataLoader: synchronous iteration cannot use the ${this.numWorkers} worker threads; ` +
        'iterate with for await (const batch of loader), or pass numWorkers: 0');
    }
    const plan = this.plan();
    for (let b = 0; b < plan.batches; b++) {
      const indices = this.indicesOf(plan, b);
      const ds = this.dataset as unknown;
      if (ds instanceof ImageDataset) {
        yield this.imageBatch(ds, ds.render(indices, plan.key), indices);
      } else if (ds instanceof TensorDataset && !this.collate) {
        yield ds.gather(indices) as B;
      } else {
        const samples = Array.from(indices, (i) => {
          const s = this.dataset.get(i);
          if (s instanceof Promise) {
            throw new TypeError(`DataLoader: dataset.get(${i}) returned a Promise; iterate with for await (const batch of loader)`);
          }
          return s;
        });
        yield this.collateSamples(samples);
      }
    }
  }

  /** One epoch, asynchronously, for every dataset; later batches are prepared while the caller works. */
  async *[Symbol.asyncIterator](): AsyncIterator<B> {
    const plan = this.plan();
    const producer = this.producer(plan);
    const started = new Map<number, Promise<unknown>>();
    let next = 0;
    try {
      for (let b = 0; b < plan.batches; b++) {
        for (; next < plan.batches && next < b + producer.ahead; next++) {
          const p = producer.start(next, this.indicesOf(plan, next));
          p.catch(noop); // awaited in turn below; a batch abandoned by an early exit must not count as unhandled
          started.set(next, p);
        }
        const raw = await started.get(b);
        started.delete(b);
        yield producer.finish(raw, this.indicesOf(plan, b));
      }
    } finally {
      await producer.close();
    }
  }

  /** The order and randomness key of the next epoch (advances the epoch counter). */
  private plan(): EpochPlan {
    const epoch = this.nextEpoch++;
    const n = this.dataset.length;
    const batches = this.length;
    const random = this.dataset instanceof ImageDataset;
    if (this.seed === undefined) {
      let order: Int32Array = Int32Array.from({ length: n }, (_, i) => i);
      if (this.shuffle) {
        const u = globalUniforms(n);
        order = permutation(n, (i) => u[i]);
      }
      return { order, key: random ? globalWords(3) : [], batches };
    }
    const [lo, hi] = splitWords(this.seed);
    let order: Int32Array = Int32Array.from({ length: n }, (_, i) => i);
    if (this.shuffle) {
      const stream = new RandomStream([StreamTag.shuffle, lo, hi, epoch]);
      order = permutation(n, () => stream.uniform());
    }
    return { order, key: [lo, hi, epoch], batches };
  }

  private indicesOf(plan: EpochPlan, b: number): Int32Array {
    return plan.order.subarray(b * this.batchSize, Math.min(plan.order.length, (b + 1) * this.batchSize));
  }

  private collateSamples(samples: S[]): B {
    return this.collate ? this.collate(samples) : (defaultCollate(samples) as B);
  }

  private imageBatch(ds: ImageDataset, rendered: RenderedBatch, indices: Int32Array): B {
    return this.collate
      ? this.collate(ds.toSamples(rendered, indices) as S[])
      : (ds.toBatch('DataLoader', rendered, indices) as B);
  }

  private producer(plan: EpochPlan): Producer<B> {
    const ds = this.dataset as unknown;
    if (ds instanceof ImageDataset) {
      if (this.numWorkers === 0) {
        return {
          ahead: 1,
          start: async (_b, indices) => ds.render(indices, plan.key),
          finish: (raw, indices) => this.imageBatch(ds, raw as RenderedBatch, indices),
          close: async () => undefined,
        };
      }
      const pool = RenderPool.start(this.numWorkers, { store: ds.store, steps: ds.steps });
      return {
        ahead: this.numWorkers * this.prefetch,
        // slice(): a view would be cloned with the whole order array behind it.
        start: (b, indices) => pool.render(b % this.numWorkers, indices.slice(), plan.key),
        finish: (raw, indices) => this.imageBatch(ds, raw as RenderedBatch, indices),
        close: () => pool.close(),
      };
    }
    if (ds instanceof TensorDataset && !this.collate) {
      return {
        ahead: 1,
        start: async () => undefined,
        finish: (_raw, indices) => ds.gather(indices) as B,
        close: async () => undefined,
      };
    }
    return {
      ahead: this.prefetch,
      start: (_b, indices) => Promise.all(Array.from(indices, (i) => this.dataset.get(i))),
      finish: (raw) => this.collateSamples(raw as S[]),
      close: async () => undefined,
    };
  }
}

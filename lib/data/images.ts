/**
 * ImageDataset: decoded uint8 images held in one shared buffer, integer labels, class names and a
 * transform (lib/data/transforms.ts) applied per sample. ImageFolder and CIFAR10 are ImageDatasets; the
 * DataLoader renders their batches in worker threads.
 */
import { Tensor, formatShape } from '../tensor';
import { rand, tensor } from '../ops/creation';
import type { Dataset } from './loader';
import { PixelStore, RenderedBatch, createStore, imageAt, renderSamples } from './pixels';
import { RawImage, Step, checkStepOrder, endsAsTensor, resolveTransform } from './augment';
import { Transform, toTensor } from './transforms';
import { checkInteger } from './check';

/** `count` uniforms in [0, 1) drawn from the library's global generator (ns.manualSeed). @internal */
export function globalUniforms(count: number): Float64Array {
  const t = rand([count], { dtype: 'float64' });
  const u = t.dataSync() as Float64Array;
  t.dispose();
  return u;
}

/** `count` unsigned 32-bit words drawn from the library's global generator. @internal */
export function globalWords(count: number): number[] {
  return Array.from(globalUniforms(count), (v) => Math.floor(v * 2 ** 32) >>> 0);
}

/**
 * Validates a dataset's transform (default `toTensor()`) into its steps; it must produce float CHW data.
 * `owner` names the dataset class in messages. @internal
 */
export function imageTransformSteps(owner: string, transform: Transform | undefined): Step[] {
  const steps = resolveTransform(owner, 'transform', transform ?? toTensor());
  checkStepOrder(`${owner}: transform`, steps);
  if (!endsAsTensor(steps)) {
    throw new TypeError(`${owner}: expected transform to produce float CHW data (include transforms.toTensor()) but it leaves uint8 HWC images`);
  }
  return steps;
}

/**
 * A labelled image dataset: sample i is [its transformed image as a float32 [C, H, W] tensor, its label].
 * The decoded images stay uint8 in one shared buffer; the transform runs per sample (in the DataLoader's
 * worker threads). Instances come from `ImageFolder.load` and `CIFAR10.load`.
 */
export class ImageDataset implements Dataset<[Tensor, number]> {
  /** Class names; label k names classes[k]. */
  readonly classes: readonly string[];
  /** The transform applied to every sample. */
  readonly transform: Transform;
  /** The decoded images. @internal */
  readonly store: PixelStore;
  /** The transform's validated steps. @internal */
  readonly steps: Step[];
  private readonly targets: Int32Array;

  /**
   * `owner` names the concrete class in messages; `transform` defaults to `toTensor()` and must produce
   * float CHW data (contain toTensor).
   */
  protected constructor(owner: string, store: PixelStore, labels: Int32Array, classes: readonly string[], transform: Transform | undefined) {
    this.steps = imageTransformSteps(owner, transform);
    this.store = store;
    this.transform = structuredClone(transform ?? toTensor());
    this.targets = labels;
    this.classes = Object.freeze([...classes]);
  }

  /** Number of samples. */
  get length(): number {
    return this.store.count;
  }

  /** Every sample's label, in order (a copy). */
  get labels(): Int32Array {
    return this.targets.slice();
  }

  /** The label of sample `index`. */
  label(index: number): number {
    return this.targets[this.checkIndex('label', index)];
  }

  /** The decoded image of sample `index` before any transform: uint8 HWC (a copy). */
  image(index: number): RawImage {
    const img = imageAt(this.store, this.checkIndex('image', index));
    return { ...img, data: img.data.slice() };
  }

  /**
   * Sample `index`: [the transformed image, float32 [C, H, W], its label]. Random transforms draw from
   * the global generator (ns.manualSeed); a DataLoader gives each sample its own stream instead.
   */
  get(index: number): [Tensor, number] {
    const i = this.checkIndex('get', index);
    const rendered = renderSamples(this.store, this.steps, Int32Array.of(i), globalWords(3));
    return [tensor(rendered.data, Array.from(rendered.shapes)), this.targets[i]];
  }

  /**
   * The samples at `indices`, in that order, as a new dataset with the same classes and transform (the pixels
   * are copied, so the subset does not keep this dataset's buffer alive). Indices may repeat.
   */
  subset(indices: ArrayLike<number>): ImageDataset {
    const picked = Int32Array.from(indices, (i) => this.checkIndex('subset', i));
    const store = createStore(this.store.channels, picked.map((i) => this.store.heights[i]), picked.map((i) => this.store.widths[i]));
    picked.forEach((i, k) => store.pixels.set(imageAt(this.store, i).data, store.offsets[k]));
    return new ImageDataset(this.constructor.name, store, picked.map((i) => this.targets[i]), this.classes, this.transform);
  }

  /** Per-channel mean and standard deviation of the decoded pixels scaled to [0, 1] (before any transform). */
  channelStats(): { mean: number[]; std: number[] } {
    const c = this.store.channels, pixels = this.store.pixels;
    const sum = new Float64Array(c), sq = new Float64Array(c);
    for (let k = 0; k < pixels.length; k++) {
      const v = pixels[k] / 255;
      sum[k % c] += v;
      sq[k % c] += v * v;
    }
    const count = Math.max(pixels.length / c, 1);
    const mean = Array.from(sum, (s) => s / count);
    return { mean, std: Array.from(sq, (s, k) => Math.sqrt(Math.max(s / count - mean[k] ** 2, 1e-12))) };
  }

  /** Renders the samples at `indices` with randomness keyed by `key` (see renderSamples). @internal */
  render(indices: Int32Array, key: number[]): RenderedBatch {
    return renderSamples(this.store, this.steps, indices, key);
  }

  /** A rendered batch as [images [B, C, H, W] float32, labels [B] int32]; `owner` names the caller in messages. @internal */
  toBatch(owner: string, rendered: RenderedBatch, indices: Int32Array): [Tensor, Tensor] {
    const s = rendered.shapes;
    for (let k = 1; k < indices.length; k++) {
      if (s[3 * k] !== s[0] || s[3 * k + 1] !== s[1] || s[3 * k + 2] !== s[2]) {
        throw new RangeError(`${owner}: expected the samples of a batch to share one shape but sample ${indices[0]} is ` +
          `${formatShape([s[0], s[1], s[2]])} and sample ${indices[k]} is ${formatShape([s[3 * k], s[3 * k + 1], s[3 * k + 2]])}; ` +
          'add a resize or randomCrop transform, or pass a collate function');
      }
    }
    const labels = Int32Array.from(indices, (i) => this.targets[i]);
    return [tensor(rendered.data, [indices.length, s[0], s[1], s[2]]), tensor(labels, [indices.length], { dtype: 'int32' })];
  }

  /** A rendered batch as one [image, label] sample per index. @internal */
  toSamples(rendered: RenderedBatch, indices: Int32Array): [Tensor, number][] {
    let offset = 0;
    return Array.from(indices, (index, k) => {
      const shape = Array.from(rendered.shapes.subarray(3 * k, 3 * k + 3));
      const size = shape[0] * shape[1] * shape[2];
      const image = tensor(rendered.data.subarray(offset, offset + size), shape);
      offset += size;
      return [image, this.targets[index]];
    });
  }

  private checkIndex(method: string, index: number): number {
    return checkInteger(`${this.constructor.name}.${method}`, 'index', index, 0, this.length - 1);
  }
}

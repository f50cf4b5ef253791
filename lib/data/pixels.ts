/**
 * Decoded images in one shared buffer, and rendering a batch of them through a transform. Pure JavaScript:
 * the loader's worker threads run `renderSamples` on the same buffer (a SharedArrayBuffer, so no copy).
 */
import { RandomStream, StreamTag } from './random';
import { RawImage, Step, applySteps } from './augment';

/** The decoded uint8 HWC images of a dataset: image i holds heights[i]·widths[i]·channels bytes from offsets[i]. @internal */
export interface PixelStore {
  readonly count: number;
  readonly channels: number;
  /** Every image's bytes, backed by a SharedArrayBuffer. */
  readonly pixels: Uint8Array;
  readonly heights: Int32Array;
  readonly widths: Int32Array;
  /** Byte offset of each image in `pixels` (float64: stores may pass 4 GiB). */
  readonly offsets: Float64Array;
}

/** A store for images of the given sizes, its pixel bytes zeroed. @internal */
export function createStore(channels: number, heights: Int32Array, widths: Int32Array): PixelStore {
  const count = heights.length, offsets = new Float64Array(count);
  let total = 0;
  for (let i = 0; i < count; i++) {
    offsets[i] = total;
    total += heights[i] * widths[i] * channels;
  }
  return { count, channels, pixels: new Uint8Array(new SharedArrayBuffer(total)), heights, widths, offsets };
}

/** Image `index` of the store as a view (not a copy). @internal */
export function imageAt(store: PixelStore, index: number): RawImage {
  const height = store.heights[index], width = store.widths[index], channels = store.channels;
  const begin = store.offsets[index];
  return { data: store.pixels.subarray(begin, begin + height * width * channels), height, width, channels, layout: 'HWC' };
}

/** Transformed samples, concatenated: float32 CHW data and each sample's [C, H, W]. @internal */
export interface RenderedBatch {
  data: Float32Array;
  shapes: Int32Array;
}

/**
 * Runs `steps` (which end with toTensor, so every output is float32 CHW) on the images at `indices`.
 * Sample `indices[k]` draws its randomness from the stream [sample tag, ...key, index]: the same numbers
 * whichever thread renders it. @internal
 */
export function renderSamples(store: PixelStore, steps: readonly Step[], indices: Int32Array, key: readonly number[]): RenderedBatch {
  const outputs: RawImage[] = [];
  const shapes = new Int32Array(indices.length * 3);
  let total = 0;
  indices.forEach((index, k) => {
    const img = applySteps(steps, imageAt(store, index), new RandomStream([StreamTag.sample, ...key, index]));
    outputs.push(img);
    shapes.set([img.channels, img.height, img.width], 3 * k);
    total += img.data.length;
  });
  const data = new Float32Array(total);
  let offset = 0;
  for (const img of outputs) {
    data.set(img.data, offset);
    offset += img.data.length;
  }
  return { data, shapes };
}

/** What a render worker starts with. @internal */
export interface WorkerInit {
  store: PixelStore;
  steps: Step[];
}

/** A request to a render worker. @internal */
export interface RenderRequest {
  id: number;
  indices: Int32Array;
  key: number[];
}

/** A render worker's answer: the batch, or the error it threw. @internal */
export type RenderReply =
  | { id: number; batch: RenderedBatch }
  | { id: number; error: { name: string; message: string } };

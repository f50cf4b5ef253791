/**
 * Image transforms (ns.data.transforms), torchvision-style, as plain serialisable specs: a transform is an
 * object such as `{ kind: 'randomCrop', size: [32, 32], padding: [4, 4, 4, 4], paddingMode: 'reflect' }`, so
 * it travels to the loader's worker threads unchanged. The builder functions (`randomCrop(32, { padding: 4 })`,
 * `compose([...])`, …) validate their arguments and return such objects; specs written by hand are
 * validated by the dataset that receives them.
 *
 * Data flow: a decoded image is uint8 HWC (height, width, channels); `toTensor()` turns it into float32 CHW
 * in [0, 1]; `normalize` works on the float CHW data after it; crops, flips and resizes work on either.
 * A dataset's transform must end with float CHW data (contain `toTensor()`), the layout of a tensor.
 *
 * The code that validates and runs specs is in augment.ts (pure JavaScript, run by the worker threads).
 */
import { checkOptionKeys, checkSize, describe } from './check';
import { checkStepOrder, padding4, resolveTransform } from './augment';

/** How randomCrop fills the border it adds: mirrored pixels without repeating the edge (as torchvision's 'reflect'), or zeros. */
export type PaddingMode = 'reflect' | 'zeros';

/** Pads the image, then cuts a window of `size` at a uniformly random position (torchvision RandomCrop). */
export interface RandomCrop {
  kind: 'randomCrop';
  /** Output [height, width] (a number for a square). */
  size: number | readonly [number, number];
  /** Border added first: all sides, [left/right, top/bottom], or [left, top, right, bottom] (default 0). */
  padding?: number | readonly [number, number] | readonly [number, number, number, number];
  /** How the border is filled (default 'zeros'). */
  paddingMode?: PaddingMode;
}

/** Mirrors the image left–right with probability `p` (default 0.5). */
export interface RandomHorizontalFlip {
  kind: 'randomHorizontalFlip';
  p?: number;
}

/** `(x − mean[c]) / std[c]` per channel, on float CHW data (after toTensor); one value stands for every channel. */
export interface Normalize {
  kind: 'normalize';
  mean: readonly number[];
  std: readonly number[];
}

/** Bilinear resize to height × width (PyTorch's `interpolate(mode='bilinear', align_corners=False)`; uint8 data rounds). */
export interface Resize {
  kind: 'resize';
  height: number;
  width: number;
}

/** uint8 HWC → float32 CHW scaled to [0, 1] (torchvision ToTensor). */
export interface ToTensor {
  kind: 'toTensor';
}

/** The transforms one after the other. */
export interface Compose {
  kind: 'compose';
  transforms: readonly Transform[];
}

/** Any transform spec. */
export type Transform = RandomCrop | RandomHorizontalFlip | Normalize | Resize | ToTensor | Compose;

/** Validates a built spec and returns it; `owner` is the builder's name. */
function built<T extends Transform>(owner: string, spec: T): T {
  resolveTransform(owner, '', spec);
  return spec;
}

/**
 * Pads (per `padding`, filled per `paddingMode`) and cuts a `size` window at a random position, like
 * torchvision's `RandomCrop(size, padding, padding_mode)`: `randomCrop(32, { padding: 4, paddingMode: 'reflect' })`.
 */
export function randomCrop(size: number | readonly [number, number],
                           options: { padding?: RandomCrop['padding']; paddingMode?: PaddingMode } = {}): RandomCrop {
  const o = checkOptionKeys('transforms.randomCrop', options, ['padding', 'paddingMode']);
  const [height, width] = checkSize('transforms.randomCrop', 'size', size);
  const padding = padding4('transforms.randomCrop', o.padding);
  return built('transforms.randomCrop', { kind: 'randomCrop', size: [height, width], padding, paddingMode: o.paddingMode ?? 'zeros' });
}

/** Mirrors left–right with probability `p` (default 0.5). */
export function randomHorizontalFlip(p = 0.5): RandomHorizontalFlip {
  return built('transforms.randomHorizontalFlip', { kind: 'randomHorizontalFlip', p });
}

/** `(x − mean[c]) / std[c]` per channel on float CHW data (place after `toTensor()`). */
export function normalize(mean: readonly number[], std: readonly number[]): Normalize {
  built('transforms.normalize', { kind: 'normalize', mean, std });
  return { kind: 'normalize', mean: [...mean], std: [...std] };
}

/** Bilinear resize to `height` × `width` (align_corners = False; uint8 data is rounded). */
export function resize(height: number, width: number): Resize {
  return built('transforms.resize', { kind: 'resize', height, width });
}

/** uint8 HWC → float32 CHW in [0, 1]. */
export function toTensor(): ToTensor {
  return { kind: 'toTensor' };
}

/** The transforms in order: `compose([randomCrop(32, { padding: 4 }), randomHorizontalFlip(), toTensor()])`. */
export function compose(transforms: readonly Transform[]): Compose {
  if (!Array.isArray(transforms)) {
    throw new TypeError(`transforms.compose: expected an array of transforms but got ${describe(transforms)}`);
  }
  const spec: Compose = { kind: 'compose', transforms: [...transforms] };
  checkStepOrder('transforms.compose', resolveTransform('transforms.compose', '', spec));
  return spec;
}


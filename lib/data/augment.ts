/**
 * Validating transform specs (lib/data/transforms.ts) into steps, and running the steps on an image.
 * Pure JavaScript (no tensor or native import): the DataLoader's worker threads run it.
 */
import { checkFinite, checkInteger, checkOptionKeys, checkSize, describe, show } from './check';
import { RandomStream } from './random';
import type { Compose, Normalize, RandomCrop, RandomHorizontalFlip, Resize, ToTensor } from './transforms';

/** An image in memory: uint8 before toTensor, float32 after; HWC before toTensor, CHW after. */
export interface RawImage {
  data: Uint8Array | Float32Array;
  height: number;
  width: number;
  channels: number;
  layout: 'HWC' | 'CHW';
}

/** One validated step of a transform, with every option resolved. @internal */
export type Step =
  | { kind: 'randomCrop'; height: number; width: number; left: number; top: number; right: number; bottom: number; reflect: boolean }
  | { kind: 'randomHorizontalFlip'; p: number }
  | { kind: 'normalize'; mean: number[]; std: number[] }
  | { kind: 'resize'; height: number; width: number }
  | { kind: 'toTensor' };

const KINDS = ['randomCrop', 'randomHorizontalFlip', 'normalize', 'resize', 'toTensor', 'compose'] as const;

/** A padding option as [left, top, right, bottom]; `owner` names the caller in messages. */
export function padding4(owner: string, value: unknown): [number, number, number, number] {
  if (value === undefined) return [0, 0, 0, 0];
  if (typeof value === 'number') {
    checkInteger(owner, 'padding', value);
    return [value, value, value, value];
  }
  if (Array.isArray(value) && value.length === 2) {
    const [lr, tb] = value.map((v, i) => checkInteger(owner, `padding[${i}]`, v));
    return [lr, tb, lr, tb];
  }
  if (Array.isArray(value) && value.length === 4) {
    const [l, t, r, b] = value.map((v, i) => checkInteger(owner, `padding[${i}]`, v));
    return [l, t, r, b];
  }
  throw new TypeError(`${owner}: expected padding to be an integer, [left/right, top/bottom] or [left, top, right, bottom] but got ${describe(value)}`);
}

function channelValues(owner: string, name: string, value: unknown, positive: boolean): number[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new TypeError(`${owner}: expected ${name} to be a non-empty array of numbers (one per channel) but got ${describe(value)}`);
  }
  return value.map((v, i) => {
    const x = checkFinite(owner, `${name}[${i}]`, v);
    if (positive && !(x > 0)) throw new RangeError(`${owner}: expected ${name}[${i}] to be > 0 but got ${x}`);
    return x;
  });
}

/** Validates one spec (recursively for compose) into steps; `where` names it in messages ("transform.transforms[1]", or '' for a builder's own spec). */
function resolveInto(owner: string, where: string, spec: unknown, steps: Step[]): void {
  if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) {
    throw new TypeError(`${owner}: expected ${where || 'the transform'} to be a transform object ({ kind: ... }) but got ${describe(spec)}`);
  }
  const kind = (spec as { kind?: unknown }).kind;
  const at = where ? `${owner}: ${where}` : owner;
  switch (kind) {
    case 'randomCrop': {
      const o = checkOptionKeys(at, spec as RandomCrop, ['kind', 'size', 'padding', 'paddingMode']);
      const [height, width] = checkSize(at, 'size', o.size);
      const [left, top, right, bottom] = padding4(at, o.padding);
      const mode = o.paddingMode ?? 'zeros';
      if (mode !== 'reflect' && mode !== 'zeros') {
        throw new TypeError(`${at}: expected paddingMode to be 'reflect' or 'zeros' but got ${show(mode)}`);
      }
      steps.push({ kind, height, width, left, top, right, bottom, reflect: mode === 'reflect' });
      return;
    }
    case 'randomHorizontalFlip': {
      const o = checkOptionKeys(at, spec as RandomHorizontalFlip, ['kind', 'p']);
      steps.push({ kind, p: checkFinite(at, 'p', o.p ?? 0.5, 0, 1) });
      return;
    }
    case 'normalize': {
      const o = checkOptionKeys(at, spec as Normalize, ['kind', 'mean', 'std']);
      const mean = channelValues(at, 'mean', o.mean, false), std = channelValues(at, 'std', o.std, true);
      if (mean.length !== std.length) {
        throw new RangeError(`${at}: expected mean and std of the same length but got ${mean.length} and ${std.length}`);
      }
      steps.push({ kind, mean, std });
      return;
    }
    case 'resize': {
      const o = checkOptionKeys(at, spec as Resize, ['kind', 'height', 'width']);
      steps.push({ kind, height: checkInteger(at, 'height', o.height, 1), width: checkInteger(at, 'width', o.width, 1) });
      return;
    }
    case 'toTensor':
      checkOptionKeys(at, spec as ToTensor, ['kind']);
      steps.push({ kind });
      return;
    case 'compose': {
      const o = checkOptionKeys(at, spec as Compose, ['kind', 'transforms']);
      if (!Array.isArray(o.transforms)) {
        throw new TypeError(`${at}: expected transforms to be an array of transforms but got ${describe(o.transforms)}`);
      }
      o.transforms.forEach((t, i) => resolveInto(owner, `${where ? where + '.' : ''}transforms[${i}]`, t, steps));
      return;
    }
    default:
      throw new TypeError(`${at} has unknown kind ${show(kind)} (expected one of ${KINDS.join(', ')})`);
  }
}

/** Validates a transform spec into the list of steps it runs; `owner` and `where` name the spec in messages. @internal */
export function resolveTransform(owner: string, where: string, spec: unknown): Step[] {
  const steps: Step[] = [];
  resolveInto(owner, where, spec, steps);
  return steps;
}

/**
 * Checks that a whole pipeline's steps meet the data layouts they expect: toTensor once, on uint8 HWC
 * data; normalize after it. `label` names the pipeline in messages. @internal
 */
export function checkStepOrder(label: string, steps: readonly Step[]): void {
  let tensor = false;
  for (const step of steps) {
    if (step.kind === 'toTensor') {
      if (tensor) throw new TypeError(`${label} applies toTensor() twice; it expects uint8 HWC data the second time but gets float CHW`);
      tensor = true;
    } else if (step.kind === 'normalize' && !tensor) {
      throw new TypeError(`${label} applies normalize before toTensor(); normalize expects float CHW data but would get uint8 HWC`);
    }
  }
}

/** Whether the steps end with float CHW data, the layout a tensor takes. @internal */
export function endsAsTensor(steps: readonly Step[]): boolean {
  return steps.some((s) => s.kind === 'toTensor');
}

// ---- running the steps ---------------------------------------------------------------------------------

/** Element strides [row, column, channel] of an image's layout. */
function strides(img: RawImage): [number, number, number] {
  return img.layout === 'HWC'
    ? [img.width * img.channels, img.channels, 1]
    : [img.width, 1, img.height * img.width];
}

/** An empty image of the same dtype and layout with a new height and width. */
function like(img: RawImage, height: number, width: number): RawImage {
  const n = height * width * img.channels;
  const data = img.data instanceof Uint8Array ? new Uint8Array(n) : new Float32Array(n);
  return { data, height, width, channels: img.channels, layout: img.layout };
}

/** out[y, x, c] = img[rows[y], cols[x], c], or 0 where rows[y] or cols[x] is −1. */
function gather(img: RawImage, out: RawImage, rows: Int32Array, cols: Int32Array): void {
  const [sy, sx, sc] = strides(img), [oy, ox, oc] = strides(out);
  const src = img.data, dst = out.data;
  for (let c = 0; c < img.channels; c++) {
    for (let y = 0; y < out.height; y++) {
      const r = rows[y];
      for (let x = 0; x < out.width; x++) {
        const col = cols[x];
        dst[c * oc + y * oy + x * ox] = r < 0 || col < 0 ? 0 : src[c * sc + r * sy + col * sx];
      }
    }
  }
}

/** Source index of padded coordinate `p` (reflect without repeating the edge, or −1 outside for zeros). */
function padSource(p: number, size: number, reflect: boolean): number {
  if (p >= 0 && p < size) return p;
  if (!reflect) return -1;
  return p < 0 ? -p : 2 * (size - 1) - p;
}

/** [f(0), f(1), …, f(n − 1)] as an Int32Array. */
function indexMap(n: number, f: (i: number) => number): Int32Array {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = f(i);
  return out;
}

function randomCropImage(img: RawImage, s: Extract<Step, { kind: 'randomCrop' }>, rng: RandomStream): RawImage {
  const { height: H, width: W } = img;
  const ph = H + s.top + s.bottom, pw = W + s.left + s.right;
  if (ph < s.height || pw < s.width) {
    throw new RangeError(`randomCrop: expected the padded image (${ph}×${pw}) to be at least the crop size ${s.height}×${s.width} but got an image of ${H}×${W}`);
  }
  if (s.reflect && (Math.max(s.top, s.bottom) >= H || Math.max(s.left, s.right) >= W)) {
    throw new RangeError(`randomCrop: reflect padding [${s.left}, ${s.top}, ${s.right}, ${s.bottom}] must be smaller than the image but got an image of ${H}×${W}`);
  }
  const i = rng.below(ph - s.height + 1), j = rng.below(pw - s.width + 1);
  const rows = indexMap(s.height, (y) => padSource(i + y - s.top, H, s.reflect));
  const cols = indexMap(s.width, (x) => padSource(j + x - s.left, W, s.reflect));
  const out = like(img, s.height, s.width);
  gather(img, out, rows, cols);
  return out;
}

function flipImage(img: RawImage, p: number, rng: RandomStream): RawImage {
  if (!(rng.uniform() < p)) return img;
  const out = like(img, img.height, img.width);
  gather(img, out, indexMap(img.height, (y) => y), indexMap(img.width, (x) => img.width - 1 - x));
  return out;
}

/** Source indices and weights of bilinear interpolation along one axis (align_corners = False). */
function bilinearAxis(inSize: number, outSize: number): { i0: Int32Array; i1: Int32Array; w1: Float64Array } {
  const scale = inSize / outSize;
  const i0 = new Int32Array(outSize), i1 = new Int32Array(outSize), w1 = new Float64Array(outSize);
  for (let o = 0; o < outSize; o++) {
    const src = Math.max(scale * (o + 0.5) - 0.5, 0);
    const lo = Math.min(Math.floor(src), inSize - 1);
    i0[o] = lo;
    i1[o] = Math.min(lo + 1, inSize - 1);
    w1[o] = src - lo;
  }
  return { i0, i1, w1 };
}

function resizeImage(img: RawImage, height: number, width: number): RawImage {
  if (img.height === height && img.width === width) return img;
  const out = like(img, height, width);
  const ry = bilinearAxis(img.height, height), rx = bilinearAxis(img.width, width);
  const [sy, sx, sc] = strides(img), [oy, ox, oc] = strides(out);
  const src = img.data, dst = out.data, round = dst instanceof Uint8Array;
  for (let c = 0; c < img.channels; c++) {
    for (let y = 0; y < height; y++) {
      const r0 = c * sc + ry.i0[y] * sy, r1 = c * sc + ry.i1[y] * sy, wy = ry.w1[y];
      for (let x = 0; x < width; x++) {
        const c0 = rx.i0[x] * sx, c1 = rx.i1[x] * sx, wx = rx.w1[x];
        const top = src[r0 + c0] * (1 - wx) + src[r0 + c1] * wx;
        const bottom = src[r1 + c0] * (1 - wx) + src[r1 + c1] * wx;
        const v = top * (1 - wy) + bottom * wy;
        dst[c * oc + y * oy + x * ox] = round ? Math.min(255, Math.max(0, Math.round(v))) : v;
      }
    }
  }
  return out;
}

function toTensorImage(img: RawImage): RawImage {
  const { height: H, width: W, channels: C } = img;
  const src = img.data, out = new Float32Array(H * W * C);
  for (let c = 0; c < C; c++) {
    for (let p = 0; p < H * W; p++) out[c * H * W + p] = src[p * C + c] / 255;
  }
  return { data: out, height: H, width: W, channels: C, layout: 'CHW' };
}

function normalizeImage(img: RawImage, mean: readonly number[], std: readonly number[]): RawImage {
  const C = img.channels, plane = img.height * img.width;
  if (mean.length !== 1 && mean.length !== C) {
    throw new RangeError(`normalize: expected mean and std with 1 or ${C} values (the image's channels) but got ${mean.length}`);
  }
  const out = new Float32Array(img.data.length);
  for (let c = 0; c < C; c++) {
    const m = mean[mean.length === 1 ? 0 : c], s = std[std.length === 1 ? 0 : c];
    for (let p = c * plane; p < (c + 1) * plane; p++) out[p] = (img.data[p] - m) / s;
  }
  return { ...img, data: out };
}

/** Runs validated steps on one image, drawing its randomness from `rng` in step order. @internal */
export function applySteps(steps: readonly Step[], image: RawImage, rng: RandomStream): RawImage {
  let img = image;
  for (const s of steps) {
    switch (s.kind) {
      case 'randomCrop': img = randomCropImage(img, s, rng); break;
      case 'randomHorizontalFlip': img = flipImage(img, s.p, rng); break;
      case 'resize': img = resizeImage(img, s.height, s.width); break;
      case 'toTensor': img = toTensorImage(img); break;
      case 'normalize': img = normalizeImage(img, s.mean, s.std); break;
    }
  }
  return img;
}

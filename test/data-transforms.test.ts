/**
 * Image transforms (lib/data/transforms.ts, run by lib/data/augment.ts) against hand-computed results:
 * reflect and zero padding as torchvision/NumPy pad, crops at every position, flips, PyTorch's bilinear
 * resize, toTensor and normalize; then the validation of specs and builders.
 */
import * as ns from '../lib';
import { applySteps, resolveTransform, RawImage } from '../lib/data/augment';
import { RandomStream } from '../lib/data/random';
import { describeErrors, expectError } from './helpers';

const T = ns.data.transforms;

/** A 1-channel float CHW image from rows. */
function gray(rows: number[][]): RawImage {
  return { data: Float32Array.from(rows.flat()), height: rows.length, width: rows[0].length, channels: 1, layout: 'CHW' };
}

/** An image's single channel as rows. */
function rowsOf(img: RawImage): number[][] {
  return Array.from({ length: img.height }, (_, y) => Array.from(img.data.subarray(y * img.width, (y + 1) * img.width)));
}

function run(spec: ns.data.Transform, img: RawImage, seed = 0): RawImage {
  return applySteps(resolveTransform('test', 'transform', spec), img, new RandomStream([seed]));
}

const image3x3 = gray([[1, 2, 3], [4, 5, 6], [7, 8, 9]]);

describe('randomCrop', () => {
  test('reflect padding mirrors without repeating the edge (numpy.pad mode "reflect")', () => {
    // A crop as large as the padded image has one position: the padded image itself.
    const out = run(T.randomCrop(7, { padding: 2, paddingMode: 'reflect' }), image3x3);
    expect(rowsOf(out)).toEqual([
      [9, 8, 7, 8, 9, 8, 7],
      [6, 5, 4, 5, 6, 5, 4],
      [3, 2, 1, 2, 3, 2, 1],
      [6, 5, 4, 5, 6, 5, 4],
      [9, 8, 7, 8, 9, 8, 7],
      [6, 5, 4, 5, 6, 5, 4],
      [3, 2, 1, 2, 3, 2, 1],
    ]);
  });

  test('zero padding, and [left, top, right, bottom] padding', () => {
    expect(rowsOf(run(T.randomCrop(4, { padding: 1 }), gray([[1, 2], [3, 4]])))).toEqual([
      [0, 0, 0, 0], [0, 1, 2, 0], [0, 3, 4, 0], [0, 0, 0, 0],
    ]);
    // left 1, top 0, right 2, bottom 1 around a 2×3 image: 3×6.
    expect(rowsOf(run(T.randomCrop([3, 6], { padding: [1, 0, 2, 1], paddingMode: 'reflect' }), gray([[1, 2, 3], [4, 5, 6]])))).toEqual([
      [2, 1, 2, 3, 2, 1], [5, 4, 5, 6, 5, 4], [2, 1, 2, 3, 2, 1],
    ]);
    // [left/right, top/bottom]
    expect(rowsOf(run(T.randomCrop([2, 4], { padding: [1, 0] }), gray([[1, 2], [3, 4]])))).toEqual([[0, 1, 2, 0], [0, 3, 4, 0]]);
  });

  test('the window lands on every position, uniformly, and equals that window of the padded image', () => {
    const padded = rowsOf(run(T.randomCrop(7, { padding: 2, paddingMode: 'reflect' }), image3x3));
    const spec = T.randomCrop(3, { padding: 2, paddingMode: 'reflect' });
    const seen = new Map<string, number>();
    for (let seed = 0; seed < 1000; seed++) {
      const out = rowsOf(run(spec, image3x3, seed));
      const pos = [];
      for (let i = 0; i <= 4; i++) {
        for (let j = 0; j <= 4; j++) {
          if (out.every((row, y) => row.every((v, x) => v === padded[i + y][j + x]))) pos.push(`${i},${j}`);
        }
      }
      expect(pos.length).toBeGreaterThan(0);
      for (const p of pos) seen.set(p, (seen.get(p) ?? 0) + 1 / pos.length);
    }
    expect(seen.size).toBe(25);
    for (const count of seen.values()) expect(count).toBeGreaterThan(15); // 40 expected per position
  });

  test('HWC uint8 data keeps each pixel\'s channels together', () => {
    const hwc: RawImage = { data: Uint8Array.from([1, 2, 3, 4, 5, 6]), height: 1, width: 2, channels: 3, layout: 'HWC' };
    const out = run(T.randomCrop([1, 4], { padding: [1, 0], paddingMode: 'reflect' }), hwc);
    expect(out.data).toBeInstanceOf(Uint8Array);
    expect(Array.from(out.data)).toEqual([4, 5, 6, 1, 2, 3, 4, 5, 6, 1, 2, 3]);
  });

  test('the same stream gives the same crop', () => {
    const spec = T.randomCrop(3, { padding: 2 });
    expect(rowsOf(run(spec, image3x3, 7))).toEqual(rowsOf(run(spec, image3x3, 7)));
  });
});

describe('randomHorizontalFlip', () => {
  test('p = 1 mirrors, p = 0 keeps; p = 0.5 flips about half the samples', () => {
    expect(rowsOf(run(T.randomHorizontalFlip(1), gray([[1, 2, 3], [4, 5, 6]])))).toEqual([[3, 2, 1], [6, 5, 4]]);
    expect(rowsOf(run(T.randomHorizontalFlip(0), gray([[1, 2, 3]])))).toEqual([[1, 2, 3]]);
    let flipped = 0;
    for (let seed = 0; seed < 2000; seed++) flipped += rowsOf(run(T.randomHorizontalFlip(), gray([[1, 2]]), seed))[0][0] === 2 ? 1 : 0;
    expect(Math.abs(flipped - 1000)).toBeLessThan(100);
  });

  test('HWC: pixels move, channels stay', () => {
    const hwc: RawImage = { data: Uint8Array.from([1, 2, 3, 4, 5, 6]), height: 1, width: 2, channels: 3, layout: 'HWC' };
    expect(Array.from(run(T.randomHorizontalFlip(1), hwc).data)).toEqual([4, 5, 6, 1, 2, 3]);
  });
});

describe('resize', () => {
  test('bilinear with align_corners = False, as torch.nn.functional.interpolate', () => {
    expect(rowsOf(run(T.resize(4, 4), gray([[0, 1], [2, 3]])))).toEqual([
      [0, 0.25, 0.75, 1], [0.5, 0.75, 1.25, 1.5], [1.5, 1.75, 2.25, 2.5], [2, 2.25, 2.75, 3],
    ]);
    const ramp = gray(Array.from({ length: 4 }, (_, r) => [0, 1, 2, 3].map((c) => 4 * r + c)));
    expect(rowsOf(run(T.resize(2, 2), ramp))).toEqual([[2.5, 4.5], [10.5, 12.5]]);
  });

  test('uint8 HWC data is rounded and stays uint8', () => {
    const hwc: RawImage = { data: Uint8Array.from([0, 100, 255, 0]), height: 1, width: 2, channels: 2, layout: 'HWC' };
    const out = run(T.resize(1, 4), hwc);
    expect(out.data).toBeInstanceOf(Uint8Array);
    // x sources 0, 0.25, 0.75, 1 (clamped): channel 0 is 0 → 255, channel 1 is 100 → 0.
    expect(Array.from(out.data)).toEqual([0, 100, 64, 75, 191, 25, 255, 0]);
  });
});

test('toTensor: uint8 HWC → float32 CHW in [0, 1]; normalize per channel', () => {
  const hwc: RawImage = { data: Uint8Array.from([0, 51, 255, 102, 153, 204]), height: 1, width: 2, channels: 3, layout: 'HWC' };
  const t = run(T.toTensor(), hwc);
  expect(t.layout).toBe('CHW');
  expect(Array.from(t.data)).toEqual([0, 102, 51, 153, 255, 204].map((v) => Math.fround(v / 255)));
  const n = run(T.compose([T.toTensor(), T.normalize([0.5, 0, 1], [0.5, 2, 1])]), hwc);
  const expected = [(0 - 0.5) / 0.5, (0.4 - 0.5) / 0.5, 0.2 / 2, 0.6 / 2, 1 - 1, 0.8 - 1];
  Array.from(n.data).forEach((v, i) => expect(v).toBeCloseTo(expected[i], 6));
  // One mean/std value stands for every channel.
  const one = run(T.compose([T.toTensor(), T.normalize([0.5], [0.25])]), hwc);
  expect(one.data[0]).toBeCloseTo(-2, 6);
});

test('builders return plain specs that survive JSON (what the workers receive)', () => {
  const spec = T.compose([T.randomCrop(32, { padding: 4, paddingMode: 'reflect' }), T.randomHorizontalFlip(0.3), T.toTensor(),
    T.normalize([0.49, 0.48, 0.45], [0.25, 0.24, 0.26])]);
  expect(JSON.parse(JSON.stringify(spec))).toEqual(spec);
  expect(spec.transforms[0]).toEqual({ kind: 'randomCrop', size: [32, 32], padding: [4, 4, 4, 4], paddingMode: 'reflect' });
  // A hand-written spec with the short forms resolves like the builder's.
  expect(resolveTransform('t', 'x', { kind: 'randomCrop', size: 32, padding: 4, paddingMode: 'reflect' }))
    .toEqual(resolveTransform('t', 'x', spec.transforms[0]));
});

test('run-time errors: reflect padding as large as the image, crops larger than the padded image, channel mismatch', () => {
  expectError(() => run(T.randomCrop(3, { padding: 3, paddingMode: 'reflect' }), image3x3), RangeError,
    'randomCrop: reflect padding [3, 3, 3, 3] must be smaller than the image but got an image of 3×3');
  expectError(() => run(T.randomCrop(6), image3x3), RangeError,
    'randomCrop: expected the padded image (3×3) to be at least the crop size 6×6 but got an image of 3×3');
  const rgb: RawImage = { data: new Uint8Array(12), height: 2, width: 2, channels: 3, layout: 'HWC' };
  expectError(() => run(T.compose([T.toTensor(), T.normalize([0.5, 0.5], [1, 1])]), rgb), RangeError,
    'normalize: expected mean and std with 1 or 3 values (the image\'s channels) but got 2');
});

describeErrors('transform errors', [
  ['randomCrop size 0', () => T.randomCrop(0), RangeError, 'transforms.randomCrop: expected size to be an integer ≥ 1 but got 0'],
  ['randomCrop bad padding', () => T.randomCrop(8, { padding: [1, 2, 3] as never }), TypeError,
    'transforms.randomCrop: expected padding to be an integer, [left/right, top/bottom] or [left, top, right, bottom] but got an array'],
  ['randomCrop negative padding', () => T.randomCrop(8, { padding: -1 }), RangeError, 'transforms.randomCrop: expected padding to be an integer ≥ 0 but got -1'],
  ['randomCrop bad paddingMode', () => T.randomCrop(8, { paddingMode: 'edge' as never }), TypeError,
    'transforms.randomCrop: expected paddingMode to be \'reflect\' or \'zeros\' but got \'edge\''],
  ['randomCrop unknown option', () => T.randomCrop(8, { pad: 4 } as never), TypeError,
    'transforms.randomCrop: unknown option \'pad\' (expected one of padding, paddingMode)'],
  ['flip p > 1', () => T.randomHorizontalFlip(2), RangeError, 'transforms.randomHorizontalFlip: expected p to be a number in [0, 1] but got 2'],
  ['normalize std 0', () => T.normalize([0], [0]), RangeError, 'transforms.normalize: expected std[0] to be > 0 but got 0'],
  ['normalize lengths differ', () => T.normalize([0, 0], [1]), RangeError, 'transforms.normalize: expected mean and std of the same length but got 2 and 1'],
  ['normalize mean not an array', () => T.normalize(0.5 as never, [1]), TypeError,
    'transforms.normalize: expected mean to be a non-empty array of numbers (one per channel) but got the number 0.5'],
  ['resize height 0', () => T.resize(0, 4), RangeError, 'transforms.resize: expected height to be an integer ≥ 1 but got 0'],
  ['compose not an array', () => T.compose(T.toTensor() as never), TypeError, 'transforms.compose: expected an array of transforms but got an object (Object)'],
  ['compose normalize before toTensor', () => T.compose([T.normalize([0], [1]), T.toTensor()]), TypeError,
    'transforms.compose applies normalize before toTensor(); normalize expects float CHW data but would get uint8 HWC'],
  ['compose toTensor twice', () => T.compose([T.toTensor(), T.toTensor()]), TypeError,
    'transforms.compose applies toTensor() twice; it expects uint8 HWC data the second time but gets float CHW'],
  ['spec of unknown kind', () => resolveTransform('ImageFolder', 'transform', { kind: 'randomcrop' }), TypeError,
    'ImageFolder: transform has unknown kind \'randomcrop\' (expected one of randomCrop, randomHorizontalFlip, normalize, resize, toTensor, compose)'],
  ['spec with an unknown key, nested', () => resolveTransform('ImageFolder', 'transform', { kind: 'compose', transforms: [{ kind: 'toTensor', scale: 1 }] }), TypeError,
    'ImageFolder: transform.transforms[0]: unknown option \'scale\' (expected one of kind)'],
  ['spec that is not an object', () => resolveTransform('ImageFolder', 'transform', 'toTensor'), TypeError,
    'ImageFolder: expected transform to be a transform object ({ kind: ... }) but got string'],
]);

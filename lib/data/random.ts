/**
 * Seeded random streams for data loading: shuffling with a loader's own seed, and the augmentation of each
 * sample. Pure JavaScript, so that worker threads draw exactly the numbers the main thread would.
 *
 * A stream is named by a key of 32-bit words (for a sample: a tag, the epoch's key and the sample index);
 * the key is hashed into the 128-bit state of a xoshiro128** generator, so streams of different keys are
 * independent and a sample's randomness does not depend on which thread renders it or when.
 */

/** Key words that keep the kinds of streams apart. */
export const StreamTag = { shuffle: 0x5348_5546, sample: 0x5341_4d50, episode: 0x4550_4953, split: 0x5350_4c54 } as const;

/** The 32-bit finaliser of MurmurHash3: a bijection that mixes every input bit into every output bit. */
function mix32(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** 32-bit rotation to the left. */
function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** A number < 2^53 as its [low, high] 32-bit words. */
export function splitWords(value: number): [number, number] {
  return [value >>> 0, Math.floor(value / 2 ** 32) >>> 0];
}

/** A xoshiro128** generator whose state is a hash of `key` (32-bit words). */
export class RandomStream {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  /** The stream named by `key` (an array of unsigned 32-bit integers). */
  constructor(key: readonly number[]) {
    // Four lanes, each hashing the whole key with its own starting constant.
    const lane = (l: number): number => {
      let h = mix32(0x9e3779b9 * (l + 1));
      for (const word of key) h = mix32((h ^ mix32(word >>> 0)) + 0x7f4a7c15);
      return mix32(h + key.length);
    };
    this.s0 = lane(0);
    this.s1 = lane(1);
    this.s2 = lane(2);
    this.s3 = lane(3);
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /** The next unsigned 32-bit integer. */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** A uniform number in [0, 1) with 53 random bits. */
  uniform(): number {
    const high = this.nextUint32() >>> 5, low = this.nextUint32() >>> 6;
    return (high * 67108864 + low) / 9007199254740992;
  }

  /** A uniform integer in [0, n). */
  below(n: number): number {
    return Math.floor(this.uniform() * n);
  }
}

/** A uniformly random permutation of 0 … n−1 (Fisher–Yates) drawing uniforms from `uniform`. */
export function permutation(n: number, uniform: (i: number) => number): Int32Array {
  const order = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(uniform(i) * (i + 1));
    const t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  return order;
}

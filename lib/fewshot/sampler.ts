/**
 * Episodes for N-way K-shot learning: each episode draws `ways` classes, then `shots` support and `queries`
 * query samples of each, without repetition. Episode i depends only on the seed and i (a xoshiro stream keyed
 * by both), so a run is reproducible and any episode can be drawn again on its own.
 */
import { RandomStream, StreamTag, splitWords } from '../data/random';
import { checkInteger, checkOptionKeys, checkFinite, describe } from '../data/check';

/** Options of EpisodeSampler. */
export interface EpisodeSamplerOptions {
  /** Classes per episode (N). */
  ways: number;
  /** Support samples per class (K). */
  shots: number;
  /** Query samples per class (default 15). */
  queries?: number;
  /** The labels episodes may draw from (default: every label present); a meta-train or meta-test split. */
  classes?: ArrayLike<number>;
  /** Episodes one pass yields (default 100). */
  episodes?: number;
  /** The sampler's seed, an integer in [0, 2^53) (default 0). */
  seed?: number;
}

/** One episode: dataset indices of its support and query samples, both way-major. */
export interface Episode {
  /** The dataset labels of the episode's classes: way w is classes[w]. */
  classes: Int32Array;
  /** Support indices: way w's shots are support[w·shots … (w+1)·shots − 1]. */
  support: Int32Array;
  /** Query indices: way w's queries are query[w·queries … (w+1)·queries − 1]. */
  query: Int32Array;
}

/** Takes `count` distinct items of `items` in random order (a partial Fisher–Yates shuffle of a copy). */
function draw(items: Int32Array, count: number, rng: RandomStream): Int32Array {
  const pool = items.slice();
  for (let i = 0; i < count; i++) {
    const j = i + rng.below(pool.length - i);
    const t = pool[i];
    pool[i] = pool[j];
    pool[j] = t;
  }
  return pool.subarray(0, count);
}

/** The samples of every label: index lists in dataset order. */
function indicesByLabel(labels: ArrayLike<number>): Map<number, Int32Array> {
  const lists = new Map<number, number[]>();
  for (let i = 0; i < labels.length; i++) {
    const list = lists.get(labels[i]);
    if (list) list.push(i);
    else lists.set(labels[i], [i]);
  }
  return new Map([...lists].map(([label, list]) => [label, Int32Array.from(list)]));
}

/**
 * An episodic sampler over a labelled dataset (anything with `labels`, such as an ImageFolder, or the labels
 * themselves). Iterating yields `episodes` episodes; `episode(i)` draws episode i directly.
 */
export class EpisodeSampler implements Iterable<Episode> {
  readonly ways: number;
  readonly shots: number;
  readonly queries: number;
  readonly episodes: number;
  readonly seed: number;
  /** The labels episodes draw from, ascending. */
  readonly classes: Int32Array;
  private readonly byLabel: Map<number, Int32Array>;

  constructor(data: ArrayLike<number> | { labels: ArrayLike<number> }, options: EpisodeSamplerOptions) {
    const op = 'EpisodeSampler';
    const labels = (data !== null && typeof data === 'object' && 'labels' in data ? data.labels : data) as ArrayLike<number>;
    if (labels === null || typeof labels !== 'object' || typeof labels.length !== 'number') {
      throw new TypeError(`${op}: expected a dataset with labels or an array of labels but got ${describe(data)}`);
    }
    if (options === undefined) throw new TypeError(`${op}: expected options with ways and shots but got undefined`);
    const o = checkOptionKeys(op, options, ['ways', 'shots', 'queries', 'classes', 'episodes', 'seed']);
    this.ways = checkInteger(op, 'ways', o.ways, 1);
    this.shots = checkInteger(op, 'shots', o.shots, 1);
    this.queries = checkInteger(op, 'queries', o.queries ?? 15, 0);
    this.episodes = checkInteger(op, 'episodes', o.episodes ?? 100, 0);
    this.seed = checkInteger(op, 'seed', o.seed ?? 0, 0);
    this.byLabel = indicesByLabel(labels);
    const allowed = o.classes === undefined ? [...this.byLabel.keys()] : Array.from(o.classes, (c) => checkInteger(op, 'each of classes', c));
    this.classes = Int32Array.from(new Set(allowed)).sort();
    const missing = this.classes.filter((c) => !this.byLabel.has(c));
    if (missing.length > 0) throw new RangeError(`${op}: expected every class to have samples but label ${missing[0]} has none`);
    if (this.classes.length < this.ways) {
      throw new RangeError(`${op}: expected at least ways = ${this.ways} classes but got ${this.classes.length}`);
    }
    const need = this.shots + this.queries;
    for (const c of this.classes) {
      const have = this.byLabel.get(c)!.length;
      if (have < need) {
        throw new RangeError(`${op}: expected every class to have shots + queries = ${need} samples but label ${c} has ${have}`);
      }
    }
  }

  /** Episode `i` (any integer in [0, 2^53)): the same for the same seed and i. */
  episode(i: number): Episode {
    checkInteger('EpisodeSampler.episode', 'i', i, 0);
    const rng = new RandomStream([StreamTag.episode, ...splitWords(this.seed), ...splitWords(i)]);
    const classes = Int32Array.from(draw(this.classes, this.ways, rng));
    const support = new Int32Array(this.ways * this.shots), query = new Int32Array(this.ways * this.queries);
    classes.forEach((c, w) => {
      const picked = draw(this.byLabel.get(c)!, this.shots + this.queries, rng);
      support.set(picked.subarray(0, this.shots), w * this.shots);
      query.set(picked.subarray(this.shots), w * this.queries);
    });
    return { classes, support, query };
  }

  *[Symbol.iterator](): Iterator<Episode> {
    for (let i = 0; i < this.episodes; i++) yield this.episode(i);
  }
}

/**
 * Splits the labels 0 … count − 1 into disjoint meta-train and meta-test classes at random (seeded):
 * round(count · testFraction) test classes, at least one of each.
 */
export function splitClasses(count: number, options: { testFraction?: number; seed?: number } = {}): { train: Int32Array; test: Int32Array } {
  const op = 'splitClasses';
  const o = checkOptionKeys(op, options, ['testFraction', 'seed']);
  checkInteger(op, 'count', count, 2);
  const fraction = checkFinite(op, 'testFraction', o.testFraction ?? 0.3, 0, 1);
  const seed = checkInteger(op, 'seed', o.seed ?? 0, 0);
  const tests = Math.min(count - 1, Math.max(1, Math.round(count * fraction)));
  const rng = new RandomStream([StreamTag.split, ...splitWords(seed), count]);
  const order = draw(Int32Array.from({ length: count }, (_, i) => i), count, rng);
  return { train: order.slice(tests).sort(), test: order.slice(0, tests).sort() };
}

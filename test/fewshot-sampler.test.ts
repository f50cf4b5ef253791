/**
 * The episodic sampler and the class split (lib/fewshot/sampler.ts): episodes stay inside their split, hold
 * distinct samples of the right classes in way-major order, are reproducible from the seed, and bad options throw.
 */
import * as ns from '../lib';
import { expectError } from './helpers';

const { EpisodeSampler, splitClasses } = ns.fewshot;

/** 30 classes of 20 samples each, interleaved (label of sample i is i mod 30). */
const LABELS = Int32Array.from({ length: 600 }, (_, i) => i % 30);

describe('splitClasses', () => {
  test('splits the classes disjointly, covers them all, and is reproducible from its seed', () => {
    const a = splitClasses(30, { testFraction: 0.3, seed: 7 });
    expect(a.test.length).toBe(9);
    expect(a.train.length).toBe(21);
    const all = [...a.train, ...a.test].sort((x, y) => x - y);
    expect(all).toEqual(Array.from({ length: 30 }, (_, i) => i));
    expect(a).toEqual(splitClasses(30, { testFraction: 0.3, seed: 7 }));
    expect(splitClasses(30, { testFraction: 0.3, seed: 8 }).test).not.toEqual(a.test);
  });

  test('bad arguments', () => {
    expectError(() => splitClasses(1), RangeError, 'splitClasses: expected count to be an integer ≥ 2 but got 1');
    expectError(() => splitClasses(10, { testFraction: 2 }), RangeError, 'splitClasses: expected testFraction to be a number in [0, 1] but got 2');
    expectError(() => splitClasses(10, { fraction: 0.2 } as never), TypeError, "splitClasses: unknown option 'fraction' (expected one of testFraction, seed)");
  });
});

describe('EpisodeSampler', () => {
  const split = splitClasses(30, { seed: 1 });

  test('never mixes meta-train and meta-test classes; samples are distinct, of their way, way-major', () => {
    for (const [classes, other] of [[split.train, split.test], [split.test, split.train]]) {
      const sampler = new EpisodeSampler(LABELS, { ways: 5, shots: 2, queries: 3, classes, episodes: 50, seed: 3 });
      for (const e of sampler) {
        expect(e.classes.length).toBe(5);
        expect(new Set(e.classes).size).toBe(5);
        for (const c of e.classes) {
          expect(classes).toContain(c);
          expect(other).not.toContain(c);
        }
        const seen = new Set<number>();
        e.support.forEach((i, k) => {
          expect(LABELS[i]).toBe(e.classes[Math.floor(k / 2)]);
          seen.add(i);
        });
        e.query.forEach((i, k) => {
          expect(LABELS[i]).toBe(e.classes[Math.floor(k / 3)]);
          seen.add(i);
        });
        expect(seen.size).toBe(5 * (2 + 3));
      }
    }
  });

  test('reproducible from its seed; episode(i) equals the i-th episode of a pass', () => {
    const make = (seed: number) => new EpisodeSampler({ labels: LABELS }, { ways: 4, shots: 1, queries: 2, episodes: 20, seed });
    const a = [...make(5)], b = [...make(5)], c = [...make(6)];
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    expect(make(5).episode(13)).toEqual(a[13]);
    // Every class is drawn over many episodes (the draw covers the whole allowed set).
    const drawn = new Set<number>();
    for (let i = 0; i < 200; i++) make(9).episode(i).classes.forEach((x) => drawn.add(x));
    expect(drawn.size).toBe(30);
  });

  test('bad arguments', () => {
    expectError(() => new EpisodeSampler(LABELS, undefined as never), TypeError, 'EpisodeSampler: expected options with ways and shots but got undefined');
    expectError(() => new EpisodeSampler(LABELS, { ways: 5, shots: 1, way: 2 } as never), TypeError, "EpisodeSampler: unknown option 'way' (expected one of ways, shots, queries, classes, episodes, seed)");
    expectError(() => new EpisodeSampler(LABELS, { ways: 31, shots: 1 }), RangeError, 'EpisodeSampler: expected at least ways = 31 classes but got 30');
    expectError(() => new EpisodeSampler(LABELS, { ways: 5, shots: 10, queries: 11 }), RangeError,
      'EpisodeSampler: expected every class to have shots + queries = 21 samples but label 0 has 20');
    expectError(() => new EpisodeSampler(LABELS, { ways: 2, shots: 1, classes: [0, 99] }), RangeError,
      'EpisodeSampler: expected every class to have samples but label 99 has none');
    expectError(() => new EpisodeSampler(LABELS, { ways: 0, shots: 1 }), RangeError, 'EpisodeSampler: expected ways to be an integer ≥ 1 but got 0');
    expectError(() => new EpisodeSampler(null as never, { ways: 1, shots: 1 }), TypeError, 'EpisodeSampler: expected a dataset with labels or an array of labels but got null');
    expectError(() => new EpisodeSampler(LABELS, { ways: 2, shots: 1 }).episode(-1), RangeError, 'EpisodeSampler.episode: expected i to be an integer ≥ 0 but got -1');
  });
});

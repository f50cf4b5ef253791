/** Axis scales: "nice" tick steps (1, 2 or 5 times a power of ten) and the domains they round to. */

/** An axis: its domain [lo, hi] (lo < hi), its ticks inside it, and how many decimals they need. */
export interface Axis {
  lo: number;
  hi: number;
  ticks: number[];
  decimals: number;
}

/** A step of 1, 2 or 5 × 10ⁿ giving about `count` intervals over `span` (> 0), as d3's tickIncrement. */
function niceStep(span: number, count: number): number {
  const raw = span / count;
  const power = Math.floor(Math.log10(raw));
  const error = raw / 10 ** power;
  const factor = error >= Math.sqrt(50) ? 10 : error >= Math.sqrt(10) ? 5 : error >= Math.SQRT2 ? 2 : 1;
  return factor * 10 ** power;
}

/** Decimals that print every multiple of `step` exactly. */
function stepDecimals(step: number): number {
  return Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
}

/** Multiples of `step` from k0·step to k1·step, rounded to `decimals` (so 0.6 is not 0.6000000000000001). */
function multiples(k0: number, k1: number, step: number, decimals: number): number[] {
  const ticks: number[] = [];
  for (let k = k0; k <= k1; k++) ticks.push(Number((k * step).toFixed(Math.min(decimals, 100))));
  return ticks;
}

/**
 * A value axis over finite `values` (at least one): the domain is widened to the nearest multiples of a
 * nice step so that its ends are ticks; a single value v gets [v − 10%, v + 10%] first (±1 when v = 0).
 */
export function valueAxis(values: readonly number[], count = 5): Axis {
  let min = Math.min(...values);
  let max = Math.max(...values);
  if (min === max) {
    const pad = min === 0 ? 1 : Math.abs(min) / 10;
    min -= pad;
    max += pad;
  }
  const step = niceStep(max - min, count);
  const decimals = stepDecimals(step);
  const k0 = Math.floor(min / step + 1e-9);
  const k1 = Math.ceil(max / step - 1e-9);
  const ticks = multiples(k0, k1, step, decimals);
  return { lo: ticks[0], hi: ticks[ticks.length - 1], ticks, decimals };
}

/**
 * The epoch axis: the domain is exactly [first, last] epoch (one epoch e gets [e − 1, e + 1]); ticks are
 * the multiples of a whole-number step (1, 2, 5, 10, …) inside it.
 */
export function epochAxis(epochs: readonly number[], count = 8): Axis {
  let lo = Math.min(...epochs);
  let hi = Math.max(...epochs);
  if (lo === hi) {
    lo -= 1;
    hi += 1;
  }
  const step = Math.max(1, niceStep(hi - lo, count));
  return { lo, hi, ticks: multiples(Math.ceil(lo / step - 1e-9), Math.floor(hi / step + 1e-9), step, 0), decimals: 0 };
}

/** Maps `v` from [d0, d1] to [r0, r1] linearly. */
export function linear(v: number, d0: number, d1: number, r0: number, r1: number): number {
  return r0 + ((v - d0) / (d1 - d0)) * (r1 - r0);
}

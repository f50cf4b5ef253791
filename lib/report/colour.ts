/** Colours of the report: series colours and the two colour scales of the heat maps. */

/** Series colours (Tableau 10); runs beyond ten get colours spread around the hue circle. */
const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

/** The colour of series (or run) `i`: distinct for the first ten, golden-angle hues after that. */
export function seriesColour(i: number): string {
  return i < PALETTE.length ? PALETTE[i] : `hsl(${((i * 137.508) % 360).toFixed(1)}, 65%, 42%)`;
}

type Rgb = [number, number, number];

/** The diverging scale's ends and centre (ColorBrewer RdBu): negative blue, zero near-white, positive red. */
export const DIVERGING = { negative: '#2166ac', centre: '#f7f7f7', positive: '#b2182b' } as const;

/** The sequential scale's ends (ColorBrewer Blues): 0 near-white, 1 dark blue. */
export const SEQUENTIAL = { low: '#f7fbff', high: '#08306b' } as const;

function parseHex(hex: string): Rgb {
  return [parseInt(hex.slice(1, 3), 16), parseInt(hex.slice(3, 5), 16), parseInt(hex.slice(5, 7), 16)];
}

/** `from` + t·(`to` − `from`) per channel, rounded, as #rrggbb. */
function mix(from: string, to: string, t: number): string {
  const a = parseHex(from);
  const b = parseHex(to);
  return `#${a.map((x, k) => Math.round(x + t * (b[k] - x)).toString(16).padStart(2, '0')).join('')}`;
}

/**
 * The diverging colour of `v` on a scale centred at 0 running from −`limit` (blue) to +`limit` (red),
 * linear in RGB on each side; values beyond the limit take the end colours, NaN takes the centre.
 */
export function divergingColour(v: number, limit: number): string {
  const t = Number.isNaN(v) ? 0 : Math.max(-1, Math.min(1, v / limit));
  return t >= 0 ? mix(DIVERGING.centre, DIVERGING.positive, t) : mix(DIVERGING.centre, DIVERGING.negative, -t);
}

/** The sequential colour of `t` in [0, 1] (clamped; NaN is 0). */
export function sequentialColour(t: number): string {
  return mix(SEQUENTIAL.low, SEQUENTIAL.high, Number.isNaN(t) ? 0 : Math.max(0, Math.min(1, t)));
}

/** The symmetric limit of a diverging scale for `values`: the largest finite |v| (1 when all are zero). */
export function symmetricLimit(values: readonly number[]): number {
  let limit = 0;
  for (const v of values) if (Number.isFinite(v)) limit = Math.max(limit, Math.abs(v));
  return limit > 0 ? limit : 1;
}

/** Text colour readable on background `hex` (#rrggbb): white on dark colours, near-black otherwise. */
export function inkOn(hex: string): string {
  const [r, g, b] = parseHex(hex);
  return 0.299 * r + 0.587 * g + 0.114 * b < 140 ? '#ffffff' : '#1a1a1a';
}

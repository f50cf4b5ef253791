/**
 * Inline SVG charts: line charts of metrics per epoch, and colour-scaled grids (heat maps of similarity
 * matrices, kernel-shape maps, confusion matrices) with a colour legend. Every chart is an
 * `<svg class="ns-chart …" id="…" data-chart="…">` carrying its own presentation attributes, so it draws
 * the same with or without the page's style sheet. All text is escaped here.
 */
import { escapeHtml, formatNumber } from './format';
import { Axis, epochAxis, linear, valueAxis } from './scale';
import { divergingColour, inkOn, sequentialColour } from './colour';

const SVG_NS = 'http://www.w3.org/2000/svg';

/**
 * Line-chart layout in pixels: the plot spans x ∈ [left, width − right] and y ∈ [top, top + plotHeight];
 * below it come the tick labels and axis title (axisBand), then the legend rows.
 */
const LINE_CHART = {
  width: 640, left: 60, right: 20, top: 20, plotHeight: 240, axisBand: 44, legendRow: 18, legendColumn: 186,
} as const;

/** Cells at least this large (px) carry their value as text. */
const TEXT_CELL = 22;
/** Labels are drawn for every k-th row/column so that labelled cells are at least this far apart (px). */
const LABEL_PITCH = 10;
/** Longest label drawn in full (the full text is in the tooltip). */
const LABEL_CHARS = 14;
/** Steps of a colour legend bar (odd, so a diverging bar has a step exactly at 0). */
const LEGEND_STEPS = 33;

/** One curve of a line chart: (epoch, value) points; non-finite values are left out. */
export interface Series {
  label: string;
  colour: string;
  /** SVG stroke-dasharray; solid when absent. */
  dash?: string;
  points: [number, number][];
}

/** A legend entry: a line sample in a colour and dash style, and its label. */
export interface LegendEntry {
  label: string;
  colour: string;
  dash?: string;
}

/** What lineChart draws. */
export interface LineChartSpec {
  id: string;
  /** The data-chart attribute ("loss", "accuracy", "lr"). */
  chart: string;
  title: string;
  yLabel: string;
  series: Series[];
  legend: LegendEntry[];
}

/** A colour legend: a diverging scale over [−limit, limit], or a sequential one over [0, 1] with end labels. */
export type ColourLegend = { kind: 'diverging'; limit: number } | { kind: 'sequential'; low: string; high: string };

/** What gridChart draws: a rows×cols grid of cells coloured on a scale, with optional labels and text. */
export interface GridSpec {
  id: string;
  /** The data-chart attribute. */
  chart: string;
  title: string;
  /** More attributes for the svg element (names are trusted, values escaped). */
  attributes?: Record<string, string>;
  rows: number;
  cols: number;
  /** Cell size in px. */
  cell: number;
  /** The number the cell's colour comes from (a value for a diverging scale, a fraction for a sequential one). */
  colourValue: (r: number, c: number) => number;
  /** The cell's tooltip. */
  tooltip: (r: number, c: number) => string;
  /** Text written in the cell when cells are large enough. */
  text?: (r: number, c: number) => string;
  rowLabels?: readonly string[];
  colLabels?: readonly string[];
  rowAxis?: string;
  colAxis?: string;
  /** Cells to outline (the identity a similarity matrix started from). */
  outline?: (r: number, c: number) => boolean;
  legend: ColourLegend;
}

/** A coordinate with at most two decimals. */
function px(v: number): string {
  return String(Math.round(v * 100) / 100);
}

/** A label cut to LABEL_CHARS characters. */
function shortLabel(text: string): string {
  return text.length > LABEL_CHARS ? `${text.slice(0, LABEL_CHARS - 1)}…` : text;
}

function svgOpen(spec: { id: string; chart: string; title: string }, kind: string, width: number, height: number, attributes = ''): string {
  return `<svg xmlns="${SVG_NS}" class="ns-chart ${kind}" id="${escapeHtml(spec.id)}" data-chart="${escapeHtml(spec.chart)}"${attributes}` +
    ` width="${px(width)}" height="${px(height)}" viewBox="0 0 ${px(width)} ${px(height)}" role="img"` +
    ` aria-label="${escapeHtml(spec.title)}" font-family="sans-serif" font-size="11" fill="#333">` +
    `<title>${escapeHtml(spec.title)}</title>`;
}

function tickLabel(v: number, axis: Axis): string {
  return axis.decimals <= 4 && Math.abs(v) < 1e6 ? v.toFixed(axis.decimals) : formatNumber(v);
}

/**
 * A line chart of per-epoch values: x is the epoch over [first, last], y a nice domain covering every
 * finite value; gridlines and labelled ticks on both axes, a polyline per series (with point markers up
 * to 30 points), and a legend under the plot. Without a finite value it says so in a paragraph instead.
 */
export function lineChart(spec: LineChartSpec): string {
  const series = spec.series.map((s) => ({ ...s, points: s.points.filter(([e, v]) => Number.isFinite(e) && Number.isFinite(v)) }));
  const all = series.flatMap((s) => s.points);
  if (all.length === 0) return `<p class="ns-empty" id="${escapeHtml(spec.id)}">${escapeHtml(spec.title)}: no finite values to plot.</p>`;
  const L = LINE_CHART;
  const plotWidth = L.width - L.left - L.right;
  const bottom = L.top + L.plotHeight;
  const xAxis = epochAxis(all.map((p) => p[0]));
  const yAxis = valueAxis(all.map((p) => p[1]));
  const x = (v: number): number => linear(v, xAxis.lo, xAxis.hi, L.left, L.left + plotWidth);
  const y = (v: number): number => linear(v, yAxis.lo, yAxis.hi, bottom, L.top);
  const perRow = Math.max(1, Math.floor(plotWidth / L.legendColumn));
  const height = bottom + L.axisBand + Math.ceil(spec.legend.length / perRow) * L.legendRow + 6;

  const out = [svgOpen(spec, 'ns-line-chart', L.width, height)];
  out.push('<g class="ns-grid" stroke="#e6e6e6" stroke-width="1">');
  for (const t of yAxis.ticks) out.push(`<line x1="${L.left}" x2="${L.left + plotWidth}" y1="${px(y(t))}" y2="${px(y(t))}"/>`);
  for (const t of xAxis.ticks) out.push(`<line x1="${px(x(t))}" x2="${px(x(t))}" y1="${L.top}" y2="${bottom}"/>`);
  out.push('</g><g class="ns-axes">');
  out.push(`<line class="ns-axis" data-axis="x" x1="${L.left}" x2="${L.left + plotWidth}" y1="${bottom}" y2="${bottom}" stroke="#333"/>`);
  out.push(`<line class="ns-axis" data-axis="y" x1="${L.left}" x2="${L.left}" y1="${L.top}" y2="${bottom}" stroke="#333"/>`);
  for (const t of yAxis.ticks) {
    out.push(`<line x1="${L.left - 4}" x2="${L.left}" y1="${px(y(t))}" y2="${px(y(t))}" stroke="#333"/>`);
    out.push(`<text class="ns-tick" data-axis="y" x="${L.left - 7}" y="${px(y(t) + 4)}" text-anchor="end">${tickLabel(t, yAxis)}</text>`);
  }
  for (const t of xAxis.ticks) {
    out.push(`<line x1="${px(x(t))}" x2="${px(x(t))}" y1="${bottom}" y2="${bottom + 4}" stroke="#333"/>`);
    out.push(`<text class="ns-tick" data-axis="x" x="${px(x(t))}" y="${bottom + 17}" text-anchor="middle">${tickLabel(t, xAxis)}</text>`);
  }
  out.push(`<text class="ns-axis-label" x="${L.left + plotWidth / 2}" y="${bottom + 36}" text-anchor="middle">epoch</text>`);
  out.push(`<text class="ns-axis-label" transform="translate(15 ${L.top + L.plotHeight / 2}) rotate(-90)" text-anchor="middle">${escapeHtml(spec.yLabel)}</text>`);
  out.push('</g><g class="ns-series">');
  for (const s of series) {
    const dash = s.dash ? ` stroke-dasharray="${s.dash}"` : '';
    const label = escapeHtml(s.label);
    if (s.points.length >= 2) {
      const points = s.points.map(([e, v]) => `${px(x(e))},${px(y(v))}`).join(' ');
      out.push(`<polyline class="ns-line" data-series="${label}" points="${points}" fill="none" stroke="${s.colour}" stroke-width="2" stroke-linejoin="round"${dash}/>`);
    }
    if (s.points.length <= 30) {
      for (const [e, v] of s.points) {
        out.push(`<circle class="ns-point" cx="${px(x(e))}" cy="${px(y(v))}" r="2.5" fill="${s.colour}"><title>${label}, epoch ${formatNumber(e)}: ${formatNumber(v)}</title></circle>`);
      }
    }
  }
  out.push('</g><g class="ns-legend">');
  spec.legend.forEach((entry, i) => {
    const lx = L.left + (i % perRow) * L.legendColumn;
    const ly = bottom + L.axisBand + Math.floor(i / perRow) * L.legendRow + 8;
    const dash = entry.dash ? ` stroke-dasharray="${entry.dash}"` : '';
    out.push(`<line x1="${lx}" x2="${lx + 26}" y1="${ly}" y2="${ly}" stroke="${entry.colour}" stroke-width="2.5"${dash}/>`);
    const text = entry.label.length > 26 ? `${entry.label.slice(0, 25)}…` : entry.label;
    out.push(`<text x="${lx + 32}" y="${ly + 4}">${escapeHtml(text)}<title>${escapeHtml(entry.label)}</title></text>`);
  });
  out.push('</g></svg>');
  return out.join('');
}

/** Indices of the labels to draw for cells of size `cell` (every k-th, so labels do not overlap). */
function labelStride(cell: number): number {
  return Math.max(1, Math.ceil(LABEL_PITCH / cell));
}

/**
 * A grid of colour-scaled cells (`<rect class="ns-cell" data-row data-col>` with a tooltip), optional row
 * and column labels and axis titles, optional outlined cells, and a colour legend bar to the right.
 */
export function gridChart(spec: GridSpec): string {
  const { rows, cols, cell } = spec;
  const fontSize = Math.max(8, Math.min(12, Math.round(cell * 0.3)));
  const rowChars = spec.rowLabels ? Math.max(...spec.rowLabels.map((l) => shortLabel(l).length)) : 0;
  const colChars = spec.colLabels ? Math.max(...spec.colLabels.map((l) => shortLabel(l).length)) : 0;
  const verticalCols = colChars * 6.5 + 4 > cell;
  const left = 6 + (spec.rowAxis ? 18 : 0) + (spec.rowLabels ? rowChars * 6.5 + 8 : 0);
  const top = 6 + (spec.colAxis ? 18 : 0) + (spec.colLabels ? (verticalCols ? colChars * 6.5 + 10 : 18) : 0);
  const gridWidth = cols * cell;
  const gridHeight = rows * cell;
  const barHeight = Math.max(gridHeight, 120);
  const barX = left + gridWidth + 18;
  const width = barX + 14 + 72;
  const height = top + barHeight + 10;
  const attributes = Object.entries(spec.attributes ?? {}).map(([k, v]) => ` ${k}="${escapeHtml(v)}"`).join('');

  const out = [svgOpen(spec, 'ns-grid-chart', width, height, attributes)];
  if (spec.colAxis) out.push(`<text class="ns-axis-label" x="${px(left + gridWidth / 2)}" y="16" text-anchor="middle">${escapeHtml(spec.colAxis)}</text>`);
  if (spec.rowAxis) {
    out.push(`<text class="ns-axis-label" transform="translate(16 ${px(top + gridHeight / 2)}) rotate(-90)" text-anchor="middle">${escapeHtml(spec.rowAxis)}</text>`);
  }
  const stride = labelStride(cell);
  const labelSize = Math.min(11, Math.max(8, cell - 2));
  if (spec.colLabels) {
    spec.colLabels.forEach((label, c) => {
      if (c % stride !== 0) return;
      const cx = left + (c + 0.5) * cell;
      const text = `${escapeHtml(shortLabel(label))}<title>${escapeHtml(label)}</title>`;
      out.push(verticalCols
        ? `<text class="ns-label" transform="translate(${px(cx + 4)} ${px(top - 6)}) rotate(-90)" font-size="${labelSize}">${text}</text>`
        : `<text class="ns-label" x="${px(cx)}" y="${px(top - 6)}" text-anchor="middle" font-size="${labelSize}">${text}</text>`);
    });
  }
  if (spec.rowLabels) {
    spec.rowLabels.forEach((label, r) => {
      if (r % stride !== 0) return;
      out.push(`<text class="ns-label" x="${px(left - 6)}" y="${px(top + (r + 0.5) * cell + 4)}" text-anchor="end" font-size="${labelSize}">` +
        `${escapeHtml(shortLabel(label))}<title>${escapeHtml(label)}</title></text>`);
    });
  }
  const colour = (v: number): string => (spec.legend.kind === 'diverging' ? divergingColour(v, spec.legend.limit) : sequentialColour(v));
  out.push('<g class="ns-cells">');
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const fill = colour(spec.colourValue(r, c));
      const x = left + c * cell;
      const y = top + r * cell;
      out.push(`<rect class="ns-cell" data-row="${r}" data-col="${c}" x="${px(x)}" y="${px(y)}" width="${px(cell)}" height="${px(cell)}" fill="${fill}">` +
        `<title>${escapeHtml(spec.tooltip(r, c))}</title></rect>`);
      if (spec.text && cell >= TEXT_CELL) {
        out.push(`<text class="ns-cell-text" x="${px(x + cell / 2)}" y="${px(y + cell / 2 + fontSize * 0.35)}" text-anchor="middle"` +
          ` font-size="${fontSize}" fill="${inkOn(fill)}">${escapeHtml(spec.text(r, c))}</text>`);
      }
    }
  }
  out.push('</g>');
  if (spec.outline) {
    out.push('<g class="ns-outlines" fill="none" stroke="#111" stroke-width="1.5" stroke-dasharray="3 2">');
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        if (spec.outline(r, c)) {
          out.push(`<rect class="ns-identity" x="${px(left + c * cell + 1)}" y="${px(top + r * cell + 1)}" width="${px(cell - 2)}" height="${px(cell - 2)}"/>`);
        }
      }
    }
    out.push('</g>');
  }
  out.push(colourLegend(spec.legend, barX, top, barHeight));
  out.push('</svg>');
  return out.join('');
}

/** A vertical colour bar (top = high end) of LEGEND_STEPS rects with its end (and centre) values. */
function colourLegend(legend: ColourLegend, x: number, top: number, height: number): string {
  const step = height / LEGEND_STEPS;
  const out = ['<g class="ns-colour-legend">'];
  for (let i = 0; i < LEGEND_STEPS; i++) {
    const t = 1 - i / (LEGEND_STEPS - 1);
    const fill = legend.kind === 'diverging' ? divergingColour(legend.limit * (2 * t - 1), legend.limit) : sequentialColour(t);
    // Each step overlaps the next by half a pixel so no seams show between them.
    out.push(`<rect class="ns-legend-step" x="${px(x)}" y="${px(top + i * step)}" width="14" height="${px(step + 0.5)}" fill="${fill}"/>`);
  }
  const labels: [number, string][] = legend.kind === 'diverging'
    ? [[0, `+${formatNumber(legend.limit)}`], [0.5, '0'], [1, `−${formatNumber(legend.limit)}`]]
    : [[0, legend.high], [1, legend.low]];
  for (const [at, text] of labels) {
    out.push(`<text class="ns-legend-label" x="${px(x + 19)}" y="${px(top + at * height + 4)}">${escapeHtml(text)}</text>`);
  }
  out.push(`<rect x="${px(x)}" y="${px(top)}" width="14" height="${px(height)}" fill="none" stroke="#999"/></g>`);
  return out.join('');
}

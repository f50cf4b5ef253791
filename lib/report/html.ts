/**
 * The HTML documents: a report of one training run, and a report comparing the runs of an experiment.
 * Each is one self-contained file (inline CSS and SVG, no script, no external URL; a Content-Security-Policy
 * forbids fetching anything), so it opens offline and can be archived with the run.
 */
import { escapeHtml, formatNumber, formatPercent, formatValue } from './format';
import { seriesColour } from './colour';
import { gridChart, lineChart, LegendEntry, Series } from './charts';
import { similarityFigures } from './similarity';
import type { EpochRecord, ExperimentSummary, RunRecord } from './types';

/** Dash patterns of the splits when colour tells runs apart. */
const DASH = { train: undefined, validation: '7 4', top5: '2 3' } as const;

const STYLE = `
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 1100px; padding: 0 1rem; color: #1a1a1a; }
h1 { font-size: 1.6rem; margin-bottom: .25rem; } h2 { font-size: 1.25rem; margin-top: 2rem; border-bottom: 1px solid #ddd; padding-bottom: .2rem; }
h3 { font-size: 1rem; margin: 1rem 0 .4rem; }
table { border-collapse: collapse; margin: .5rem 0 1rem; font-size: .9rem; }
th, td { border: 1px solid #ddd; padding: .25rem .6rem; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.differs td { background: #fff8e1; }
.ns-charts { display: flex; flex-wrap: wrap; gap: 1rem 2rem; }
.ns-figure { margin: .5rem 0 1rem; max-width: 100%; overflow-x: auto; } .ns-charts > .ns-figure { width: min-content; } .ns-figure figcaption { font-size: .85rem; color: #444; max-width: 640px; }
.ns-chart { display: block; } .ns-empty { color: #777; font-style: italic; }
details > summary { cursor: pointer; font-weight: 600; }
`;

/** A complete HTML document around `body`. */
function page(title: string, body: string): string {
  return '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">' +
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">` +
    '<meta name="viewport" content="width=device-width, initial-scale=1">' +
    `<meta name="generator" content="neural-similarity report"><title>${escapeHtml(title)}</title><style>${STYLE}</style></head>` +
    `<body>\n${body}\n</body></html>\n`;
}

/** A table cell: numbers formatted and right-aligned, text escaped. */
function cell(v: string | number): string {
  return typeof v === 'number' ? `<td class="num">${escapeHtml(formatNumber(v))}</td>` : `<td>${escapeHtml(v)}</td>`;
}

/** A right-aligned cell of already formatted text (escaped here). */
function numText(text: string): string {
  return `<td class="num">${escapeHtml(text)}</td>`;
}

function table(cls: string, columns: readonly string[], rows: readonly string[][]): string {
  return `<table class="${cls}"><thead><tr>${columns.map((c) => `<th>${escapeHtml(c)}</th>`).join('')}</tr></thead>` +
    `<tbody>${rows.map((r) => `<tr>${r.join('')}</tr>`).join('')}</tbody></table>`;
}

/** A metric's points over the epochs that have it. */
function points(epochs: readonly EpochRecord[], get: (e: EpochRecord) => number | undefined, scale = 1): [number, number][] {
  const out: [number, number][] = [];
  for (const e of epochs) {
    const v = get(e);
    if (v !== undefined) out.push([e.epoch, v * scale]);
  }
  return out;
}

/** One metric family drawn from every run: the splits it has and how to read them. */
interface Metric {
  chart: 'loss' | 'accuracy' | 'lr';
  title: string;
  yLabel: string;
  splits: { name: string; dash: string | undefined; get: (e: EpochRecord) => number | undefined }[];
  scale: number;
}

const METRICS: readonly Metric[] = [
  {
    chart: 'loss', title: 'Loss per epoch', yLabel: 'loss', scale: 1,
    splits: [{ name: 'train', dash: DASH.train, get: (e) => e.trainLoss }, { name: 'validation', dash: DASH.validation, get: (e) => e.valLoss }],
  },
  {
    chart: 'accuracy', title: 'Accuracy per epoch', yLabel: 'accuracy (%)', scale: 100,
    splits: [
      { name: 'train', dash: DASH.train, get: (e) => e.trainAccuracy },
      { name: 'validation', dash: DASH.validation, get: (e) => e.valAccuracy },
      { name: 'validation top-5', dash: DASH.top5, get: (e) => e.top5 },
    ],
  },
  { chart: 'lr', title: 'Learning rate per epoch', yLabel: 'learning rate', scale: 1, splits: [{ name: 'lr', dash: DASH.train, get: (e) => e.lr }] },
];

/**
 * The curves of `runs` for each metric any run has: with one run, one colour per split; with several,
 * one colour per run and one dash pattern per split, and a legend of both.
 */
function curves(runs: readonly RunRecord[]): string {
  const charts: string[] = [];
  for (const metric of METRICS) {
    const series: Series[] = [];
    const splitsShown = new Set<string>();
    runs.forEach((run, r) => {
      metric.splits.forEach((split, s) => {
        const pts = points(run.epochs, split.get, metric.scale);
        if (pts.length === 0) return;
        splitsShown.add(split.name);
        series.push(runs.length === 1
          ? { label: split.name, colour: seriesColour(s), dash: split.dash, points: pts }
          : { label: `${run.name} (${split.name})`, colour: seriesColour(r), dash: split.dash, points: pts });
      });
    });
    if (series.length === 0) continue;
    const legend: LegendEntry[] = runs.length === 1
      ? series.map((s) => ({ label: s.label, colour: s.colour, dash: s.dash }))
      : [
        ...runs.map((run, r) => ({ label: run.name, colour: seriesColour(r) })),
        ...(splitsShown.size > 1 ? metric.splits.filter((s) => splitsShown.has(s.name)).map((s) => ({ label: s.name, colour: '#555', dash: s.dash })) : []),
      ];
    charts.push(`<figure class="ns-figure">${lineChart({ id: metric.chart, chart: metric.chart, title: metric.title, yLabel: metric.yLabel, series, legend })}` +
      `<figcaption>${metric.title}</figcaption></figure>`);
  }
  return charts.length ? `<div class="ns-charts">${charts.join('')}</div>` : '<p class="ns-empty">No per-epoch metrics to plot.</p>';
}

/** The per-epoch table, with a column for each metric some epoch has. */
function epochTable(epochs: readonly EpochRecord[]): string {
  if (epochs.length === 0) return '<p class="ns-empty">No epochs recorded.</p>';
  const columns: [string, (e: EpochRecord) => string | number | undefined][] = [
    ['epoch', (e) => e.epoch], ['train loss', (e) => e.trainLoss],
    ['train accuracy', (e) => e.trainAccuracy === undefined ? undefined : formatPercent(e.trainAccuracy)],
    ['val loss', (e) => e.valLoss],
    ['val accuracy', (e) => e.valAccuracy === undefined ? undefined : formatPercent(e.valAccuracy)],
    ['val top-5', (e) => e.top5 === undefined ? undefined : formatPercent(e.top5)],
    ['lr', (e) => e.lr], ['seconds', (e) => e.seconds], ['images/s', (e) => e.imagesPerSecond],
  ];
  const shown = columns.filter(([, get]) => epochs.some((e) => get(e) !== undefined));
  const rows = epochs.map((e) => shown.map(([, get]) => {
    const v = get(e);
    return v === undefined ? '<td></td>' : typeof v === 'string' ? numText(v) : cell(v);
  }));
  return `<details><summary>Per-epoch metrics (${epochs.length} epochs)</summary>${table('ns-epochs', shown.map(([name]) => name), rows)}</details>`;
}

/** Summary numbers of a run beyond its final test metrics: best validation accuracy, time, throughput. */
function runFacts(run: RunRecord): [string, string][] {
  const facts: [string, string][] = [];
  let best: EpochRecord | undefined;
  for (const e of run.epochs) if (e.valAccuracy !== undefined && (best === undefined || e.valAccuracy > (best.valAccuracy as number))) best = e;
  if (best) facts.push(['best validation accuracy', `${formatPercent(best.valAccuracy as number)} (epoch ${formatNumber(best.epoch)})`]);
  const seconds = run.epochs.filter((e) => e.seconds !== undefined).map((e) => e.seconds as number);
  if (seconds.length) facts.push(['training time', `${formatNumber(seconds.reduce((a, b) => a + b, 0))} s`]);
  const speeds = run.epochs.filter((e) => e.imagesPerSecond !== undefined).map((e) => e.imagesPerSecond as number);
  if (speeds.length) facts.push(['mean throughput', `${formatNumber(speeds.reduce((a, b) => a + b, 0) / speeds.length)} images/s`]);
  return facts;
}

/** The final-metrics table of one run. */
function finalTable(run: RunRecord): string {
  const rows: [string, string][] = [];
  if (run.final) {
    rows.push(['test loss', formatNumber(run.final.loss)], ['test accuracy', formatPercent(run.final.accuracy)]);
    if (run.final.top5 !== undefined) rows.push(['test top-5 accuracy', formatPercent(run.final.top5)]);
  }
  const last = run.epochs[run.epochs.length - 1];
  if (last) rows.push(['epochs', String(run.epochs.length)], ['last train loss', formatNumber(last.trainLoss)]);
  rows.push(...runFacts(run));
  if (rows.length === 0) return '<p class="ns-empty">No metrics recorded.</p>';
  return table('ns-final', ['metric', 'value'], rows.map(([k, v]) => [`<th>${escapeHtml(k)}</th>`, numText(v)]));
}

/**
 * The confusion matrix as a grid: rows are true classes, columns predictions, each cell coloured by its
 * share of the true class (so imbalanced classes read alike) and labelled with its count.
 * @throws RangeError when the matrix is not square or the class names do not match it.
 */
function confusionFigure(op: string, id: string, m: readonly (readonly number[])[], classes: readonly string[] | undefined): string {
  const n = m.length;
  m.forEach((row, r) => {
    if (row.length !== n) throw new RangeError(`${op}: confusion matrix row ${r} has ${row.length} entries but expected ${n} (a square matrix)`);
  });
  if (classes && classes.length !== n) {
    throw new RangeError(`${op}: got ${classes.length} class names but expected ${n}, one per confusion row`);
  }
  const names = classes ?? Array.from({ length: n }, (_, i) => String(i));
  const totals = m.map((row) => row.reduce((a, b) => a + b, 0));
  const correct = m.reduce((s, row, r) => s + row[r], 0);
  const all = totals.reduce((a, b) => a + b, 0);
  const chart = gridChart({
    id, chart: 'confusion', title: 'Confusion matrix', attributes: { 'data-classes': String(n) },
    rows: n, cols: n, cell: Math.max(4, Math.min(48, Math.floor(480 / Math.max(n, 1)))),
    colourValue: (r, c) => (totals[r] > 0 ? m[r][c] / totals[r] : 0),
    tooltip: (r, c) => `true ${names[r]}, predicted ${names[c]}: ${formatNumber(m[r][c])}` +
      (totals[r] > 0 ? ` (${formatPercent(m[r][c] / totals[r])} of ${names[r]})` : ''),
    text: (r, c) => formatNumber(m[r][c]),
    rowLabels: names, colLabels: names, rowAxis: 'true class', colAxis: 'predicted class',
    legend: { kind: 'sequential', low: '0%', high: '100%' },
  });
  return `<figure class="ns-figure">${chart}<figcaption>Confusion matrix: ${formatNumber(correct)} of ${formatNumber(all)} test samples on the diagonal` +
    `${all > 0 ? ` (${formatPercent(correct / all)})` : ''}; colour is the share of the row's true class.</figcaption></figure>`;
}

/** Confusion matrix and similarity pictures of one run, chart ids prefixed with `prefix`. */
function runDetails(op: string, run: RunRecord, prefix: string): string {
  const out: string[] = [];
  const confusion = run.final?.confusion;
  if (confusion && confusion.length > 0) out.push('<h3>Confusion matrix</h3>', confusionFigure(op, `${prefix}confusion`, confusion, run.final?.classes));
  if (run.similarity && run.similarity.length > 0) {
    out.push('<h3>Learned similarity</h3><div class="ns-charts">');
    run.similarity.forEach((p, i) => out.push(similarityFigures(op, `${prefix}similarity-${i}`, p)));
    out.push('</div>');
  }
  return out.join('');
}

/**
 * A complete, self-contained HTML report of one training run: its configuration, loss, accuracy and
 * learning-rate curves per epoch (train and validation), a per-epoch table, the final metrics, the
 * confusion matrix, and a picture of what each similarity layer learned. All text is escaped.
 *
 * Chart ids: `loss`, `accuracy`, `lr`, `confusion`, `similarity-<i>` (and `similarity-<i>-full`), each an
 * `<svg class="ns-chart" data-chart="…">`.
 * @throws RangeError when a confusion matrix or similarity picture does not fit its declared shape.
 */
export function renderRunReport(run: RunRecord): string {
  const op = 'renderRunReport';
  const config = Object.entries(run.config);
  const body = [
    `<h1>${escapeHtml(run.name)}</h1>`,
    '<h2>Configuration</h2>',
    config.length ? table('ns-config', ['setting', 'value'], config.map(([k, v]) => [`<th>${escapeHtml(k)}</th>`, `<td>${escapeHtml(formatValue(v))}</td>`]))
      : '<p class="ns-empty">No configuration recorded.</p>',
    '<h2>Training curves</h2>', curves([run]), epochTable(run.epochs),
    '<h2>Final metrics</h2>', finalTable(run),
    runDetails(op, run, ''),
  ];
  if (!run.similarity?.length) body.push('<p class="ns-empty">No similarity layers in this run.</p>');
  return page(run.name, body.join('\n'));
}

/** Rows of the configuration comparison: every key of any run, flagged when the runs differ. */
function configComparison(runs: readonly RunRecord[]): string {
  const keys = [...new Set(runs.flatMap((r) => Object.keys(r.config)))];
  if (keys.length === 0) return '<p class="ns-empty">No configuration recorded.</p>';
  let anyDiffers = false;
  const rows = keys.map((k) => {
    const values = runs.map((r) => (Object.prototype.hasOwnProperty.call(r.config, k) ? formatValue(r.config[k]) : ''));
    const differs = new Set(values).size > 1;
    anyDiffers ||= differs;
    return `<tr${differs ? ' class="differs"' : ''}><th>${escapeHtml(k)}</th>${values.map((v) => `<td>${escapeHtml(v)}</td>`).join('')}</tr>`;
  });
  return `<table class="ns-config"><thead><tr><th>setting</th>${runs.map((r) => `<th>${escapeHtml(r.name)}</th>`).join('')}</tr></thead>` +
    `<tbody>${rows.join('')}</tbody></table>${anyDiffers ? '<p class="ns-note">Highlighted settings differ between runs.</p>' : ''}`;
}

/** One row per run: final test metrics, epochs, best validation accuracy, time. */
function resultsComparison(runs: readonly RunRecord[]): string {
  const rows = runs.map((run, r) => {
    const facts = new Map(runFacts(run));
    const swatch = `<svg width="12" height="12" aria-hidden="true"><rect width="12" height="12" fill="${seriesColour(r)}"/></svg> `;
    return [
      `<td>${swatch}${escapeHtml(run.name)}</td>`, cell(run.epochs.length),
      numText(run.final ? formatNumber(run.final.loss) : ''), numText(run.final ? formatPercent(run.final.accuracy) : ''),
      numText(run.final?.top5 !== undefined ? formatPercent(run.final.top5) : ''),
      numText(facts.get('best validation accuracy') ?? ''), numText(facts.get('training time') ?? ''),
    ];
  });
  return table('ns-final', ['run', 'epochs', 'test loss', 'test accuracy', 'test top-5', 'best validation accuracy', 'training time'], rows);
}

/**
 * A complete, self-contained HTML report comparing the runs of an experiment: an optional summary table,
 * the final metrics of every run, their configurations side by side (differing settings highlighted),
 * every run's curves on one chart per metric (one colour per run, dash pattern per split, with a legend),
 * then a section per run with its per-epoch table, confusion matrix and similarity pictures. All text is escaped.
 *
 * Chart ids: `loss`, `accuracy`, `lr`, then `run-<r>-confusion`, `run-<r>-similarity-<i>` for run r.
 * @throws RangeError when a summary row does not have one cell per column, or a run's confusion matrix or
 * similarity picture does not fit its declared shape.
 */
export function renderExperimentReport(title: string, runs: RunRecord[], summary?: ExperimentSummary): string {
  const op = 'renderExperimentReport';
  const body = [`<h1>${escapeHtml(title)}</h1>`, `<p>${runs.length} run${runs.length === 1 ? '' : 's'}.</p>`];
  if (summary) {
    summary.rows.forEach((row, i) => {
      if (row.length !== summary.columns.length) {
        throw new RangeError(`${op}: summary row ${i} has ${row.length} cells but expected ${summary.columns.length}, one per column`);
      }
    });
    body.push('<h2>Summary</h2>', table('ns-summary', summary.columns, summary.rows.map((row) => row.map(cell))));
  }
  if (runs.length > 0) {
    body.push('<h2>Results</h2>', resultsComparison(runs), '<h2>Configuration</h2>', configComparison(runs),
      '<h2>Training curves</h2>', curves(runs));
  }
  runs.forEach((run, r) => {
    body.push(`<section class="ns-run" id="run-${r}"><h2>${escapeHtml(run.name)}</h2>${epochTable(run.epochs)}${runDetails(op, run, `run-${r}-`)}</section>`);
  });
  return page(title, body.join('\n'));
}

/**
 * lib/report: the SVG the reports draw, checked against numbers worked out by hand, plus escaping, the
 * offline guarantee, shape errors and the atomic write. (test/report-chromium.test.ts renders the pages.)
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { renderExperimentReport, renderRunReport, writeReport, RunRecord, SimilarityPicture } from '../lib/report';
import { divergingColour, seriesColour, sequentialColour } from '../lib/report/colour';
import { escapeHtml, formatNumber } from '../lib/report/format';
import { valueAxis } from '../lib/report/scale';

/** The `<svg … data-chart="name" …>…</svg>` elements of `html` (charts are never nested). */
function charts(html: string, name: string): string[] {
  const re = new RegExp(`<svg\\b[^>]*\\bdata-chart="${name}"[^>]*>[\\s\\S]*?</svg>`, 'g');
  return html.match(re) ?? [];
}

/** The one chart named `name`. */
function chart(html: string, name: string): string {
  const found = charts(html, name);
  expect(found).toHaveLength(1);
  return found[0];
}

/** The opening tags of the `tag` elements in `svg`. */
function tags(svg: string, tag: string): string[] {
  return svg.match(new RegExp(`<${tag}\\b[^>]*>`, 'g')) ?? [];
}

/** The text content of the `<text class="cls" …>` elements of `svg`, in order. */
function texts(svg: string, cls: string): string[] {
  return [...svg.matchAll(new RegExp(`<text class="${cls}"[^>]*>([^<]*)<`, 'g'))].map((m) => m[1]);
}

/** The value of attribute `name` in an opening tag. */
function attr(tag: string, name: string): string | undefined {
  return new RegExp(`\\s${name}="([^"]*)"`).exec(tag)?.[1];
}

/** The fill of the cell at (row, col) of a grid chart. */
function cellFill(svg: string, row: number, col: number): string | undefined {
  const cell = tags(svg, 'rect').find((t) => attr(t, 'class') === 'ns-cell' && attr(t, 'data-row') === String(row) && attr(t, 'data-col') === String(col));
  return cell && attr(cell, 'fill');
}

/** A three-epoch run whose curves are easy to place by hand. */
function tinyRun(extra: Partial<RunRecord> = {}): RunRecord {
  return {
    name: 'tiny',
    config: { model: 'smallConvNet', dataset: 'mnist', epochs: 3, batchSize: 64, lr: 0.05, device: 'cpu' },
    epochs: [
      { epoch: 1, trainLoss: 2, valLoss: 2.2, trainAccuracy: 0.5, lr: 0.05, seconds: 10, imagesPerSecond: 800 },
      { epoch: 2, trainLoss: 1.5, valLoss: 1.6, trainAccuracy: 0.7, lr: 0.05, seconds: 11, imagesPerSecond: 820 },
      { epoch: 3, trainLoss: 1, valLoss: 1.2, trainAccuracy: 0.9, lr: 0.005, seconds: 12, imagesPerSecond: 840 },
    ],
    ...extra,
  };
}

const K9_IDENTITY = Array.from({ length: 81 }, (_, i) => (Math.floor(i / 9) === i % 9 ? 1 : 0));

/** One picture of every kind, for 3×3 kernels (static-full with C = 2). */
const EVERY_KIND: SimilarityPicture[] = [
  { layer: 'features.0', kind: 'static-diagonal', kernel: [3, 3], values: [0.1, 0.9, 0.2, 1.0, 1.5, 0.8, -0.2, 0.7, 0.1] },
  { layer: 'features.3', kind: 'static-spatial', kernel: [3, 3], values: K9_IDENTITY.map((v, i) => v + 0.01 * (i % 7) - 0.03) },
  { layer: 'features.6', kind: 'static-full', kernel: [3, 3], values: Array.from({ length: 18 * 18 }, (_, i) => (Math.floor(i / 18) === i % 18 ? 1 : 0.02)) },
  { layer: 'features.9', kind: 'dynamic-diagonal', kernel: [3, 3], values: [1.1, 1.2, 1.0, 0.9, 1.4, 1.0, 0.8, 1.1, 1.0] },
  { layer: 'features.12', kind: 'dynamic-spatial', kernel: [3, 3], values: K9_IDENTITY.map((v) => 0.9 * v) },
];

describe('report: text', () => {
  test('escapeHtml escapes the five HTML-special characters', () => {
    expect(escapeHtml(`<a href="x" title='y'>&</a>`)).toBe('&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;');
  });

  test('formatNumber keeps four significant digits and spells out non-finite values', () => {
    expect([formatNumber(3), formatNumber(0.123456), formatNumber(1234.56), formatNumber(1e-5), formatNumber(NaN), formatNumber(-Infinity)])
      .toEqual(['3', '0.1235', '1235', '1.00e-5', 'NaN', '−∞']);
  });

  test('valueAxis widens the domain to nice ticks', () => {
    expect(valueAxis([1, 1.5, 2])).toEqual({ lo: 1, hi: 2, ticks: [1, 1.2, 1.4, 1.6, 1.8, 2], decimals: 1 });
    expect(valueAxis([1.2, 2.2])).toMatchObject({ lo: 1.2, hi: 2.2 }); // 11·0.2 is not rounded up to 2.4
    expect(valueAxis([50, 90])).toMatchObject({ lo: 50, hi: 90, ticks: [50, 60, 70, 80, 90], decimals: 0 });
    expect(valueAxis([3])).toMatchObject({ lo: 2.7, hi: 3.3 }); // a single value gets ±10% first
  });
});

describe('report: line charts', () => {
  // Layout (LINE_CHART): the plot spans x ∈ [60, 620] and y ∈ [20, 260].
  test('the loss polylines map (epoch, loss) onto the axes', () => {
    const svg = chart(renderRunReport(tinyRun()), 'loss');
    // x: epochs [1, 3] → [60, 620], so 1 → 60, 2 → 340, 3 → 620.
    // y: losses 1 … 2.2, step 0.2 → domain [1, 2.2] → [260, 20]: y(v) = 20 + 240·(2.2 − v)/1.2.
    //   train 2, 1.5, 1 → 60, 160, 260; validation 2.2, 1.6, 1.2 → 20, 140, 220.
    const lines = tags(svg, 'polyline');
    expect(lines).toHaveLength(2);
    const train = lines.find((l) => attr(l, 'data-series') === 'train') as string;
    const val = lines.find((l) => attr(l, 'data-series') === 'validation') as string;
    expect(attr(train, 'points')).toBe('60,60 340,160 620,260');
    expect(attr(val, 'points')).toBe('60,20 340,140 620,220');
    expect(attr(train, 'stroke')).toBe(seriesColour(0));
    expect(attr(val, 'stroke')).toBe(seriesColour(1));
    expect(attr(train, 'stroke-dasharray')).toBeUndefined();
    expect(attr(val, 'stroke-dasharray')).toBe('7 4');
    expect(attr(svg.slice(0, svg.indexOf('>') + 1), 'class')).toBe('ns-chart ns-line-chart');
    expect(attr(svg.slice(0, svg.indexOf('>') + 1), 'id')).toBe('loss');
    // Ticks sit where the points say: y tick "1.6" at y = 140 (+4 to centre the text), x tick "2" at x = 340.
    const ticks = tags(svg, 'text').filter((t) => attr(t, 'class') === 'ns-tick');
    expect(texts(svg, 'ns-tick" data-axis="y')).toEqual(['1.0', '1.2', '1.4', '1.6', '1.8', '2.0', '2.2']);
    expect(ticks.find((t) => attr(t, 'data-axis') === 'y' && attr(t, 'y') === '144')).toBeDefined();
    expect(svg).toMatch(/<text class="ns-tick" data-axis="x" x="340" y="277"[^>]*>2</);
    expect(svg).toContain('>epoch</text>');
    expect(svg).toContain('>loss</text>');
    // The legend names both splits.
    expect(svg).toMatch(/<g class="ns-legend">[\s\S]*>train<title>[\s\S]*>validation<title>/);
  });

  test('accuracy is plotted in percent', () => {
    const svg = chart(renderRunReport(tinyRun()), 'accuracy');
    // 50%, 70%, 90% on a domain [50, 90] (step 10) → y = 260, 140, 20.
    const [train] = tags(svg, 'polyline');
    expect(attr(train, 'points')).toBe('60,260 340,140 620,20');
    expect(svg).toContain('>accuracy (%)</text>');
  });

  test('an experiment draws every run on one chart, one colour per run, with a legend', () => {
    const a = tinyRun({ name: 'plain', epochs: tinyRun().epochs.map((e) => ({ epoch: e.epoch, trainLoss: e.trainLoss })) });
    const b = tinyRun({ name: 'similarity', epochs: [1.8, 1.2, 0.6].map((trainLoss, i) => ({ epoch: i + 1, trainLoss })) });
    const html = renderExperimentReport('sweep', [a, b]);
    const svg = chart(html, 'loss');
    const lines = tags(svg, 'polyline');
    expect(lines.map((l) => attr(l, 'stroke'))).toEqual([seriesColour(0), seriesColour(1)]);
    // Domain [0.6, 2] (step 0.2): y(v) = 20 + 240·(2 − v)/1.4.
    expect(attr(lines[0], 'points')).toBe('60,20 340,105.71 620,191.43');
    expect(attr(lines[1], 'points')).toBe('60,54.29 340,157.14 620,260');
    expect(attr(lines[1], 'data-series')).toBe('similarity (train)');
    expect(svg).toMatch(/<g class="ns-legend">[\s\S]*>plain<title>[\s\S]*>similarity<title>/);
    // No accuracy anywhere: no accuracy chart.
    expect(charts(html, 'accuracy')).toHaveLength(0);
  });

  test('non-finite values are left out, and a run without epochs says so', () => {
    const diverged = tinyRun({ epochs: [{ epoch: 1, trainLoss: 2 }, { epoch: 2, trainLoss: NaN }, { epoch: 3, trainLoss: 1 }] });
    const [line] = tags(chart(renderRunReport(diverged), 'loss'), 'polyline');
    expect(attr(line, 'points')).toBe('60,20 620,260');
    const empty = renderRunReport(tinyRun({ epochs: [] }));
    expect(empty).toContain('No epochs recorded.');
    expect(empty).not.toContain('class="ns-chart');
  });

  test('runs beyond the palette still get distinct colours', () => {
    const colours = Array.from({ length: 14 }, (_, i) => seriesColour(i));
    expect(new Set(colours).size).toBe(14);
  });
});

describe('report: heat maps', () => {
  test('a static M: diverging colours at the extremes and centre, the identity outlined, a legend of the values', () => {
    // K = 2 (kernel 1×2), M = [[2, 0], [0.5, −2]]: the scale runs over [−2, 2].
    const run = tinyRun({ similarity: [{ layer: 'conv', kind: 'static-spatial', kernel: [1, 2], values: [2, 0, 0.5, -2] }] });
    const svg = chart(renderRunReport(run), 'similarity-matrix');
    expect(cellFill(svg, 0, 0)).toBe('#b2182b'); // +2: the red end
    expect(cellFill(svg, 0, 1)).toBe('#f7f7f7'); // 0: the centre
    expect(cellFill(svg, 1, 1)).toBe('#2166ac'); // −2: the blue end
    // 0.5 is a quarter of the way from the centre (247, 247, 247) to red (178, 24, 43):
    // 247 − 0.25·69 = 229.75 → 230 (e6), 247 − 0.25·223 = 191.25 → 191 (bf), 247 − 0.25·204 = 196 (c4).
    expect(cellFill(svg, 1, 0)).toBe('#e6bfc4');
    expect(tags(svg, 'rect').filter((t) => attr(t, 'class') === 'ns-cell')).toHaveLength(4);
    expect(tags(svg, 'rect').filter((t) => attr(t, 'class') === 'ns-identity')).toHaveLength(2);
    const steps = tags(svg, 'rect').filter((t) => attr(t, 'class') === 'ns-legend-step').map((t) => attr(t, 'fill'));
    expect([steps[0], steps[(steps.length - 1) / 2], steps[steps.length - 1]]).toEqual(['#b2182b', '#f7f7f7', '#2166ac']);
    expect(texts(svg, 'ns-legend-label')).toEqual(['+2', '0', '−2']);
    expect(svg).toContain('>2.00</text>'); // values written in the cells
    expect(svg).toContain('data-layer="conv"');
    expect(svg).toContain('data-kind="static-spatial"');
  });

  test('the colour scales at their ends and centre', () => {
    expect([divergingColour(-3, 3), divergingColour(0, 3), divergingColour(3, 3), divergingColour(9, 3)]).toEqual(['#2166ac', '#f7f7f7', '#b2182b', '#b2182b']);
    expect([sequentialColour(0), sequentialColour(1)]).toEqual(['#f7fbff', '#08306b']);
  });

  test('a diagonal m is drawn as a kh×kw kernel-shape map, tap a = i·kw + j', () => {
    // kernel 2×3: tap 3 = (1, 0) holds the largest |m| (red end), tap 5 = (1, 2) its negative (blue end).
    const run = tinyRun({ similarity: [{ layer: 'conv', kind: 'static-diagonal', kernel: [2, 3], values: [1, 1, 1, 4, 0, -4] }] });
    const svg = chart(renderRunReport(run), 'similarity-kernel');
    const cells = tags(svg, 'rect').filter((t) => attr(t, 'class') === 'ns-cell');
    expect(cells).toHaveLength(6);
    expect(Math.max(...cells.map((t) => Number(attr(t, 'data-row'))))).toBe(1);
    expect(Math.max(...cells.map((t) => Number(attr(t, 'data-col'))))).toBe(2);
    expect(cellFill(svg, 1, 0)).toBe('#b2182b');
    expect(cellFill(svg, 1, 1)).toBe('#f7f7f7');
    expect(cellFill(svg, 1, 2)).toBe('#2166ac');
    expect(cellFill(svg, 0, 0)).toBe(divergingColour(1, 4));
  });

  test('the confusion matrix: colour by share of the true class, counts and class names written', () => {
    const run = tinyRun({ final: { loss: 0.4, accuracy: 0.75, confusion: [[3, 1], [0, 2]], classes: ['cat', 'dog'] } });
    const html = renderRunReport(run);
    const svg = chart(html, 'confusion');
    expect(cellFill(svg, 1, 1)).toBe('#08306b'); // 2 of 2 dogs
    expect(cellFill(svg, 1, 0)).toBe('#f7fbff'); // 0 of 2
    expect(cellFill(svg, 0, 0)).toBe(sequentialColour(0.75)); // 3 of 4 cats
    expect(svg).toMatch(/class="ns-cell-text"[^>]*>3</);
    expect(svg).toMatch(/class="ns-label"[^>]*>cat<title>cat</);
    expect(svg).toContain('>predicted class</text>');
    expect(html).toContain('5 of 6 test samples on the diagonal (83.33%)');
    expect(html).toMatch(/<th>test accuracy<\/th><td class="num">75.00%<\/td>/);
  });
});

describe('report: documents', () => {
  test('user text is escaped everywhere: no <script> gets through', () => {
    const evil = '<script>alert(1)</script>';
    const run = tinyRun({
      name: evil,
      config: { [evil]: evil, nested: { html: evil } },
      epochs: tinyRun().epochs,
      final: { loss: 1, accuracy: 0.5, confusion: [[1, 0], [0, 1]], classes: [evil, '"><img src=x onerror=alert(1)>'] },
      similarity: [{ layer: `"><script>alert(2)</script>`, kind: 'static-diagonal', kernel: [1, 2], values: [1, 2] }],
    });
    for (const html of [renderRunReport(run), renderExperimentReport(evil, [run], { columns: [evil], rows: [[evil]] })]) {
      expect(html).not.toMatch(/<script/i);
      expect(html).not.toMatch(/<img/i);
      expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
      expect(html).toContain(`<title>&lt;script&gt;alert(1)&lt;/script&gt;</title>`);
      expect(html).toContain('data-layer="&quot;&gt;&lt;script&gt;alert(2)&lt;/script&gt;"');
    }
  });

  test('a report is one offline document: no script, no link, no URL but the SVG namespace', () => {
    const html = renderExperimentReport('offline', [tinyRun({ similarity: EVERY_KIND }), tinyRun({ name: 'b' })]);
    expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
    expect(html.trimEnd().endsWith('</html>')).toBe(true);
    const urls = (html.match(/(https?:)?\/\/[^\s"'<>)]+/g) ?? []).filter((u) => u !== 'http://www.w3.org/2000/svg');
    expect(urls).toEqual([]);
    expect(html).not.toMatch(/<script|<link|<iframe|<object|<embed|@import|url\(|\ssrc=|\shref=/i);
    expect(html).toContain(`content="default-src 'none'; style-src 'unsafe-inline'; img-src data:"`);
  });

  test('a run without similarity layers has no similarity pictures', () => {
    const html = renderRunReport(tinyRun());
    expect(html).not.toMatch(/data-chart="similarity/);
    expect(html).toContain('No similarity layers in this run.');
    expect(html).toMatch(/<table class="ns-config">[\s\S]*<th>batchSize<\/th><td>64<\/td>/);
    expect(html).toMatch(/<th>training time<\/th><td class="num">33 s<\/td>/);
  });

  test('a run with every kind of similarity layer gets the right picture for each', () => {
    const html = renderRunReport(tinyRun({ similarity: EVERY_KIND }));
    expect(html).not.toContain('No similarity layers');
    const kernels = charts(html, 'similarity-kernel');
    const matrices = charts(html, 'similarity-matrix');
    expect(kernels.map((s) => attr(s, 'data-kind'))).toEqual(['static-diagonal', 'dynamic-diagonal']);
    // static-spatial (9×9), static-full (its channel-averaged 9×9 block and the whole 18×18), dynamic-spatial (9×9).
    expect(matrices.map((s) => `${attr(s, 'data-kind')} ${attr(s, 'data-size')} ${attr(s, 'id')}`)).toEqual([
      'static-spatial 9 similarity-1', 'static-full 9 similarity-2', 'static-full 18 similarity-2-full', 'dynamic-spatial 9 similarity-4',
    ]);
    const cellCount = (svg: string): number => tags(svg, 'rect').filter((t) => attr(t, 'class') === 'ns-cell').length;
    expect(kernels.map(cellCount)).toEqual([9, 9]);
    expect(matrices.map(cellCount)).toEqual([81, 81, 324, 81]);
    // The block mean of the static-full M is the identity plus 0.02 off the diagonal.
    expect(matrices[1]).toMatch(/<title>M\[a=0 \(i=0, j=0\), a=1 \(i=0, j=1\)\] = 0.02<\/title>/);
    expect(html).toContain('the layer started from all ones');
    expect(html).toContain('dashed outlines mark the identity the layer started from');
    for (const svg of [...kernels, ...matrices]) expect(attr(svg, 'class')).toBe('ns-chart ns-grid-chart');
  });

  test('an experiment report: summary, results, configuration differences and per-run sections with unique ids', () => {
    const a = tinyRun({ name: 'plain', final: { loss: 0.5, accuracy: 0.9, confusion: [[9, 1], [1, 9]] } });
    const b = tinyRun({ name: 'nsl', config: { ...tinyRun().config, model: 'nsl' }, similarity: EVERY_KIND.slice(0, 2) });
    const html = renderExperimentReport('MNIST: plain vs NSL', [a, b], { columns: ['model', 'accuracy'], rows: [['plain', 0.9], ['nsl', 0.9123]] });
    expect(html).toContain('<title>MNIST: plain vs NSL</title>');
    expect(html).toMatch(/<table class="ns-summary">[\s\S]*<td>nsl<\/td><td class="num">0.9123<\/td>/);
    expect(html).toMatch(/<tr class="differs"><th>model<\/th><td>smallConvNet<\/td><td>nsl<\/td><\/tr>/);
    expect(html).toMatch(/<tr><th>dataset<\/th>/);
    const ids = html.match(/\sid="[^"]*"/g) ?? [];
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toEqual(expect.arrayContaining([' id="run-0-confusion"', ' id="run-1-similarity-0"', ' id="run-1-similarity-1"']));
  });

  test('shapes that do not fit are refused, naming what was got and what was expected', () => {
    const bad = (p: SimilarityPicture): (() => string) => () => renderRunReport(tinyRun({ similarity: [p] }));
    expect(bad({ layer: 'c', kind: 'static-spatial', kernel: [3, 3], values: [1, 2, 3] }))
      .toThrow(new RangeError('renderRunReport: similarity layer "c" (static-spatial): got 3 values but expected K² = 81 (K = 9)'));
    expect(bad({ layer: 'c', kind: 'dynamic-diagonal', kernel: [3, 3], values: [1] })).toThrow('got 1 values but expected K = kh·kw = 9');
    expect(bad({ layer: 'c', kind: 'static-full', kernel: [3, 3], values: new Array(100).fill(0) })).toThrow('expected (C·K)²');
    expect(bad({ layer: 'c', kind: 'static-diagonal', kernel: [0, 3], values: [] })).toThrow('got kernel [0, 3] but expected two positive integers');
    expect(() => renderRunReport(tinyRun({ final: { loss: 1, accuracy: 1, confusion: [[1, 2], [3]] } })))
      .toThrow(new RangeError('renderRunReport: confusion matrix row 1 has 1 entries but expected 2 (a square matrix)'));
    expect(() => renderRunReport(tinyRun({ final: { loss: 1, accuracy: 1, confusion: [[1]], classes: ['a', 'b'] } })))
      .toThrow('got 2 class names but expected 1');
    expect(() => renderExperimentReport('x', [], { columns: ['a', 'b'], rows: [['only one']] }))
      .toThrow(new RangeError('renderExperimentReport: summary row 0 has 1 cells but expected 2, one per column'));
  });
});

describe('report: writeReport', () => {
  test('writes atomically: the new file replaces the old, no temporary file stays behind', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ns-report-'));
    try {
      const file = path.join(dir, 'report.html');
      fs.writeFileSync(file, 'old');
      const html = renderRunReport(tinyRun({ name: 'ünïcode ✓' }));
      await writeReport(file, html);
      expect(fs.readFileSync(file, 'utf8')).toBe(html);
      expect(fs.readdirSync(dir)).toEqual(['report.html']);
      await expect(writeReport(path.join(dir, 'missing', 'r.html'), html)).rejects.toThrow(/ENOENT/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

/**
 * lib/report in a real browser: headless Chromium (Debian's /usr/bin/chromium, which CI installs; nothing
 * is installed here) loads a report from a file, and the test reads back
 *   - the DOM Chromium built (--dump-dom): every chart is an svg with its polylines and rects;
 *   - a screenshot (--screenshot): not blank, and the curve and heat-map colours are really painted;
 *   - Chromium's network log (--log-net-log): the page asked for nothing. A control page with an external
 *     image and style sheet proves the log would show such requests.
 */
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import sharp from 'sharp';
import { renderRunReport, writeReport, RunRecord } from '../lib/report';
import { DIVERGING, seriesColour } from '../lib/report/colour';

const CHROMIUM = '/usr/bin/chromium';
const WINDOW = { width: 1280, height: 4000 };

/** Fails (never skips) when Chromium is missing, saying how to install it. */
function requireChromium(): void {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`headless Chromium is needed at ${CHROMIUM} for the report rendering test: install it with ` +
      '`apt-get update && apt-get install -y chromium` (as root; .ci/run installs it in CI)');
  }
}

/** What one headless Chromium load of a page gave back. */
interface Rendered {
  dom: string;
  png: Buffer;
  /** URLs of the network requests made on the page's behalf (not Chromium's own background requests). */
  pageRequests: string[];
}

/** The URL_REQUEST_START_JOB events of a Chromium net log (tolerating a log cut short at exit). */
function requestStarts(netLogFile: string): { url: string; initiator?: string; network_isolation_key?: string }[] {
  let text = fs.readFileSync(netLogFile, 'utf8').trimEnd();
  let log: { constants: { logEventTypes: Record<string, number> }; events: { type: number; params?: Record<string, unknown> }[] };
  try {
    log = JSON.parse(text);
  } catch {
    text = text.replace(/,\s*$/, '');
    log = JSON.parse(`${text}]}`);
  }
  const start = log.constants.logEventTypes.URL_REQUEST_START_JOB;
  return log.events.filter((e) => e.type === start && typeof e.params?.url === 'string')
    .map((e) => e.params as { url: string; initiator?: string; network_isolation_key?: string });
}

/** Loads `file` in headless Chromium with a fresh profile; returns its DOM, a screenshot and the page's requests. */
async function render(file: string, dir: string): Promise<Rendered> {
  const png = path.join(dir, 'shot.png');
  const netLog = path.join(dir, 'net.json');
  const args = [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--hide-scrollbars', `--user-data-dir=${path.join(dir, 'profile')}`,
    // Nothing resolves, so even Chromium's own background requests never leave the machine.
    '--host-resolver-rules=MAP * ~NOTFOUND',
    '--virtual-time-budget=3000', `--window-size=${WINDOW.width},${WINDOW.height}`,
    `--log-net-log=${netLog}`, `--screenshot=${png}`, '--dump-dom', `file://${file}`,
  ];
  const dom = await new Promise<string>((resolve, reject) => {
    execFile(CHROMIUM, args, { timeout: 45_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${CHROMIUM} failed: ${err.message}\n${stderr.slice(-2000)}`));
      else resolve(stdout);
    });
  });
  // A request made for the page carries the page's (file://) origin; Chromium's own carry "not an origin".
  const pageRequests = requestStarts(netLog)
    .filter((r) => r.initiator !== 'not an origin' || (r.network_isolation_key ?? '').includes('file://'))
    .map((r) => r.url);
  return { dom, png: fs.readFileSync(png), pageRequests };
}

/**
 * Pixels of an image (`channels` bytes each, RGB first) within `tolerance` of `hex` in every channel. The
 * loop touches no global (Math included): globals are slow inside jest's sandbox.
 */
function countColour(pixels: Uint8Array, channels: number, hex: string, tolerance = 3): number {
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
  let n = 0;
  for (let i = 0; i < pixels.length; i += channels) {
    const dr = pixels[i] - r;
    const dg = pixels[i + 1] - g;
    const db = pixels[i + 2] - b;
    if (dr <= tolerance && dr >= -tolerance && dg <= tolerance && dg >= -tolerance && db <= tolerance && db >= -tolerance) n++;
  }
  return n;
}

/** The `<svg … data-chart="name" …>…</svg>` elements of a DOM dump. */
function svgs(dom: string, name: string): string[] {
  return dom.match(new RegExp(`<svg\\b[^>]*\\bdata-chart="${name}"[^>]*>[\\s\\S]*?</svg>`, 'g')) ?? [];
}

const RUN: RunRecord = {
  name: 'rendered <run>',
  config: { model: 'smallConvNet', dataset: 'mnist', epochs: 4, batchSize: 64, lr: 0.05, device: 'cpu' },
  epochs: [2.1, 1.2, 0.8, 0.6].map((trainLoss, i) => ({
    epoch: i + 1, trainLoss, valLoss: trainLoss + 0.2, trainAccuracy: 0.6 + 0.1 * i, valAccuracy: 0.55 + 0.1 * i, lr: 0.05,
  })),
  final: { loss: 0.7, accuracy: 0.85, confusion: [[40, 3, 2], [4, 38, 3], [1, 2, 42]], classes: ['zero', 'one', 'two'] },
  similarity: [
    // Strong ±2 entries, so both ends of the diverging scale fill whole 40×40 cells.
    { layer: 'conv1', kind: 'static-spatial', kernel: [3, 3], values: Array.from({ length: 81 }, (_, i) => (i === 0 ? 2 : i === 80 ? -2 : Math.floor(i / 9) === i % 9 ? 1 : 0)) },
    { layer: 'conv2', kind: 'dynamic-diagonal', kernel: [3, 3], values: [0.5, 1, 0.5, 1, 1.6, 1, 0.5, 1, 0.5] },
  ],
};

describe('report in headless Chromium', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ns-report-chromium-'));
  });
  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('Chromium draws every chart, paints its colours, and the page makes no network request', async () => {
    requireChromium();
    const file = path.join(dir, 'report.html');
    const html = renderRunReport(RUN);
    await writeReport(file, html);
    const { dom, png, pageRequests } = await render(file, dir);

    // The DOM Chromium built holds every chart, with the same drawing elements the HTML had.
    expect(dom).toContain('<h1>rendered &lt;run&gt;</h1>');
    expect(dom).not.toMatch(/<script/i);
    for (const name of ['loss', 'accuracy', 'lr', 'confusion', 'similarity-matrix', 'similarity-kernel']) {
      const [rendered, ...more] = svgs(dom, name);
      expect(more).toHaveLength(0);
      expect(rendered).toMatch(/^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" class="ns-chart /);
      const [source] = svgs(html, name);
      for (const tag of ['polyline', 'rect', 'circle', 'text']) {
        expect(`${name} ${tag} ${(rendered.match(new RegExp(`<${tag}\\b`, 'g')) ?? []).length}`)
          .toBe(`${name} ${tag} ${(source.match(new RegExp(`<${tag}\\b`, 'g')) ?? []).length}`);
      }
    }
    const loss = svgs(dom, 'loss')[0];
    expect(loss.match(/<polyline\b[^>]*points="[\d.]+,[\d.]+( [\d.]+,[\d.]+){3}"/g)).toHaveLength(2);
    expect((svgs(dom, 'similarity-matrix')[0].match(/class="ns-cell"/g) ?? []).length).toBe(81);
    expect((svgs(dom, 'confusion')[0].match(/class="ns-cell"/g) ?? []).length).toBe(9);

    // The screenshot is the window's size, not blank, and shows the curves' and heat map's colours.
    expect(png.subarray(1, 4).toString('ascii')).toBe('PNG');
    expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual([WINDOW.width, WINDOW.height]);
    const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const pixels = info.width * info.height;
    const white = countColour(data, info.channels, '#ffffff', 0);
    expect(pixels - white).toBeGreaterThan(pixels * 0.02);
    expect(countColour(data, info.channels, seriesColour(0))).toBeGreaterThan(300); // train curves
    expect(countColour(data, info.channels, seriesColour(1))).toBeGreaterThan(150); // validation curves (dashed)
    expect(countColour(data, info.channels, DIVERGING.positive)).toBeGreaterThan(30 * 30); // M[0, 0] = +2
    expect(countColour(data, info.channels, DIVERGING.negative)).toBeGreaterThan(30 * 30); // M[8, 8] = −2

    // Nothing was requested for the page: Chromium's net log has no request of its own.
    expect(pageRequests).toEqual([]);
  }, 60_000);

  test('control: a page with external resources shows up in the net log', async () => {
    requireChromium();
    const file = path.join(dir, 'external.html');
    fs.writeFileSync(file, '<!DOCTYPE html><html><head><link rel="stylesheet" href="https://fonts.example.invalid/a.css"></head>' +
      '<body><img src="http://cdn.example.invalid/x.png"></body></html>');
    const { pageRequests } = await render(file, dir);
    expect(pageRequests.sort()).toEqual(['http://cdn.example.invalid/x.png', 'https://fonts.example.invalid/a.css']);
  }, 60_000);
});

/**
 * The experiments (lib/experiments/index.ts) end to end on the tiny budget: every run trains and is evaluated,
 * summary.json holds the runs and the table, report.html draws every run's curves on one chart and the
 * learned-similarity pictures. Real data: CIFAR-10 and Omniglot from ../shared, Fashion-MNIST from Debian.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ns from '../lib';

const { runExperiment, SCHEDULES } = ns.experiments;
const DATASETS = path.resolve(__dirname, '../../shared/datasets');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ns-experiments-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const fashion = fs.existsSync('/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz');
if (!fashion) console.warn('test/experiments.test.ts: fashion-mnist skipped: Debian\'s dataset-fashion-mnist is not installed');

/** The experiment's files, parsed, with checks common to every experiment. */
function readOutputs(out: string, runs: number): { summary: ns.experiments.ExperimentResult; html: string } {
  const summary = JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8')) as ns.experiments.ExperimentResult;
  const html = fs.readFileSync(path.join(out, 'report.html'), 'utf8');
  expect(summary.runs).toHaveLength(runs);
  for (const r of summary.runs) {
    expect(r.accuracy).toBeGreaterThanOrEqual(0);
    expect(r.accuracy).toBeLessThanOrEqual(1);
    expect(r.imagesPerSecond).toBeGreaterThan(0);
  }
  expect(html).toContain('id="loss"');
  for (let r = 0; r < runs; r++) expect(html).toContain(`id="run-${r}"`);
  expect(html).not.toMatch(/<script[^>]+src=/);
  return { summary, html };
}

test('cifar10: every variant asked for, two seeds each, on the CIFAR-10 archive', async () => {
  const out = path.join(tmp, 'cifar10');
  const result = await runExperiment('cifar10', { budget: 'tiny', out, variants: ['plain', 'static-spatial'], verbose: 0 });
  expect(result.schedule).toEqual(SCHEDULES.cifar10.tiny);
  const { summary, html } = readOutputs(out, 4);
  expect(summary.runs.map((r) => `${r.variant}/${r.seed}`)).toEqual(['plain/0', 'plain/1', 'static-spatial/0', 'static-spatial/1']);
  expect(summary.table.rows.map((row) => row[0])).toEqual(['plain', 'static-spatial']);
  expect(summary.runs[0].macs).toBe(summary.runs[1].macs);
  // The static-spatial runs show their learned 3×3 mixing M, one picture per similarity layer (nine).
  expect((html.match(/id="run-2-similarity-\d+"/g) ?? []).length).toBe(9);
  expect(fs.existsSync(path.join(out, 'plain-seed0', 'checkpoint.safetensors'))).toBe(true);
}, 600000);

test('omniglot: a prototypical Conv-4 per backbone, four settings with confidence intervals', async () => {
  const out = path.join(tmp, 'omniglot');
  await runExperiment('omniglot', { budget: 'tiny', out, variants: ['plain', 'dynamic-diagonal'], verbose: 0,
    data: path.join(DATASETS, 'omniglot-background-small.tar.gz') });
  const { summary, html } = readOutputs(out, 2);
  expect(summary.table.columns.slice(1, 5)).toEqual(['5-way 1-shot % (± 95% CI)', '5-way 5-shot % (± 95% CI)', '20-way 1-shot % (± 95% CI)', '20-way 5-shot % (± 95% CI)']);
  const results = summary.runs[0].results as { ways: number; episodes: number; ci95: number }[];
  expect(results.map((r) => r.episodes)).toEqual([20, 20, 20, 20]);
  expect(results.every((r) => r.ci95 > 0)).toBe(true);
  // The dynamic backbone's mean m over the test episodes, one picture per dynamic layer (three).
  expect((html.match(/id="run-1-similarity-\d+"/g) ?? []).length).toBe(3);
}, 600000);

(fashion ? test : test.skip)('fashion-mnist: the 9-layer network on 28×28 inputs', async () => {
  const out = path.join(tmp, 'fashion');
  await runExperiment('fashion-mnist', { budget: 'tiny', out, variants: ['plain', 'dynamic-diagonal'], verbose: 0 });
  const { summary } = readOutputs(out, 4);
  expect(summary.experiment).toBe('fashion-mnist');
  expect(summary.runs[2].macs as number).toBeGreaterThan(summary.runs[0].macs as number);
}, 600000);

test('bad options', async () => {
  await expect(runExperiment('imagenet' as never)).rejects.toThrow('runExperiment: expected name to be one of cifar10, fashion-mnist, omniglot but got imagenet');
  await expect(runExperiment('cifar10', { budget: 'huge' as never })).rejects.toThrow('runExperiment: expected budget to be one of tiny, default, full but got huge');
  await expect(runExperiment('cifar10', { variants: ['fancy' as never] })).rejects.toThrow(/runExperiment: expected each variant to be one of plain, .* but got fancy/);
  await expect(runExperiment('cifar10', { epochs: 3 } as never)).rejects.toThrow("runExperiment: unknown option 'epochs'");
  await expect(runExperiment('cifar10', { data: '/nonexistent.tar.gz' })).rejects.toThrow('runExperiment: cifar10 needs its data at /nonexistent.tar.gz (pass data) but there is no such file');
});

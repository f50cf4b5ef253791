/**
 * The main job (`npm start`): trains a plain CNN and a dynamic neural-similarity CNN side by side on MNIST with the
 * official split (60,000 training, 10,000 test images) for a time budget each, with progress, then prints both test
 * accuracies, the time each took, and where the checkpoints and the reports were written.
 */
import * as path from 'path';
import { manualSeed } from '../ops/creation';
import { renderExperimentReport, writeReport } from '../report';
import type { RunRecord } from '../report';
import { loadCheckpoint } from './checkpoint';
import { trainRun } from './run';

/** Options of the main job. */
export interface MainJobOptions {
  /** Training budget per network in seconds (each stops at the end of the batch that passes it). */
  seconds: number;
  /** Output folder: <out>/plain, <out>/dynamic and <out>/report.html. */
  out: string;
}

/** Runs the main job; returns both runs' results. */
export async function mainJob(options: MainJobOptions): Promise<{ name: string; accuracy: number; seconds: number }[]> {
  const results = [];
  const records: RunRecord[] = [];
  for (const [name, kind] of [['plain', 'plain'], ['dynamic', 'dynamic-diagonal']] as const) {
    manualSeed(1);
    const out = path.join(options.out, name);
    console.log(`\n${name === 'plain' ? 'Plain CNN' : 'Dynamic neural-similarity CNN (diagonal M_p = 1 + g(x), fused kernels)'} on MNIST (60,000 train, 10,000 test), ${options.seconds} s of training`);
    const r = await trainRun({ model: 'smallCnn', kind, data: 'mnist', epochs: 100, batchSize: 64, lr: 0.05, seed: 1, out,
      maxSeconds: options.seconds, name });
    results.push(r);
    const { meta } = await loadCheckpoint(path.join(out, 'checkpoint.safetensors'));
    records.push({ name, config: meta.config ?? {}, epochs: (meta.history ?? []) as RunRecord['epochs'] });
  }
  const report = path.join(options.out, 'report.html');
  await writeReport(report, renderExperimentReport('Main job: plain vs dynamic neural-similarity CNN on MNIST', records, {
    columns: ['network', 'test accuracy', 'test loss', 'seconds'],
    rows: results.map((r) => [r.name, `${(100 * r.accuracy).toFixed(2)}%`, r.loss.toFixed(4), r.seconds.toFixed(1)]),
  }));
  console.log('\nResults on the 10,000 MNIST test images:');
  for (const r of results) {
    console.log(`  ${r.name.padEnd(8)} test accuracy ${(100 * r.accuracy).toFixed(2)}%  (${r.seconds.toFixed(1)} s)  checkpoint, log and report in ${r.out}`);
  }
  console.log(`  comparison report: ${path.resolve(report)}`);
  return results;
}

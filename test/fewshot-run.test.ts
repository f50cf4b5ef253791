/**
 * fewshot-train and fewshot-predict (lib/fewshot/run.ts through lib/cli.ts): a short training run on the
 * Omniglot subset writes a checkpoint holding the backbone, preprocessing and class split; fewshot-predict on a
 * support folder of held-out characters and a query folder (original 105×105 PNGs and a resized JPEG) prints
 * valid JSON covering every query, better than chance; bad arguments exit with their message.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawnSync } from 'child_process';
import sharp from 'sharp';
import * as ns from '../lib';
import { extract } from './archive';

const OMNIGLOT = path.resolve(__dirname, '../../shared/datasets/omniglot-background-small.tar.gz');
const CLI = path.resolve(__dirname, '../dist/lib/cli.js');
const built = fs.existsSync(CLI);
if (!built) console.warn('test/fewshot-run.test.ts: CLI tests skipped: dist/lib/cli.js is not built (npm run prepare)');
const cliTest = built ? test : test.skip;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ns-fewshot-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function cli(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, NEURAL_SIMILARITY_DEVICE: 'cpu' } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

cliTest('fewshot-train writes a checkpoint; fewshot-predict classifies held-out characters from a support folder', async () => {
  const out = path.join(tmp, 'run');
  const train = cli('fewshot-train', '--data', OMNIGLOT, '--out', out, '--episodes', '80', '--test-episodes', '20', '--seed', '3');
  expect(train.stderr).toBe('');
  expect(train.status).toBe(0);
  const summary = JSON.parse(train.stdout.trim().split('\n').pop()!) as { checkpoint: string; results: { ways: number; shots: number; accuracy: number }[] };
  expect(summary.results.map((r) => `${r.ways}-${r.shots}`)).toEqual(['5-1', '5-5', '20-1', '20-5']);
  const checkpoint = path.join(out, 'checkpoint.safetensors');
  expect(summary.checkpoint).toBe(checkpoint);
  const { meta } = await ns.train.loadCheckpoint(checkpoint);
  const config = meta.config as { name: string; kind: string; fewshot: { metaTrain: string[]; metaTest: string[] } };
  expect(config.name).toBe('conv4');
  expect(config.kind).toBe('plain');
  expect(meta.preprocessing).toMatchObject({ height: 28, width: 28, channels: 1 });
  const { metaTrain, metaTest } = config.fewshot;
  expect(metaTrain.length + metaTest.length).toBe(292);
  expect(metaTrain.filter((c) => metaTest.includes(c))).toEqual([]);

  // Five held-out characters of five different alphabets (as random test episodes mostly are): two drawings each
  // as support, three as queries.
  const alphabetOf = (c: string): string => c.split('/').slice(0, -1).join('/');
  const chosen = metaTest.filter((c, i) => metaTest.findIndex((d) => alphabetOf(d) === alphabetOf(c)) === i).slice(0, 5);
  expect(chosen).toHaveLength(5);
  const files = await extract(OMNIGLOT, path.join(tmp, 'raw'), (name) => chosen.some((c) => name.startsWith(`${c}/`)) && name.endsWith('.png'), 1000);
  const support = path.join(tmp, 'support'), query = path.join(tmp, 'query');
  fs.mkdirSync(query, { recursive: true });
  const truth: Record<string, string> = {};
  chosen.forEach((c, k) => {
    const mine = files.filter((f) => f.startsWith(`${c}/`)).sort().slice(0, 5);
    expect(mine.length).toBe(5);
    const folder = path.join(support, `class${k}`);
    fs.mkdirSync(folder, { recursive: true });
    mine.slice(0, 2).forEach((f) => fs.copyFileSync(path.join(tmp, 'raw', f), path.join(folder, path.basename(f))));
    mine.slice(2).forEach((f) => {
      fs.copyFileSync(path.join(tmp, 'raw', f), path.join(query, path.basename(f)));
      truth[path.basename(f)] = `class${k}`;
    });
  });
  // A query of another size and format: the stored preprocessing resizes it like any other.
  const first = Object.keys(truth)[0];
  await sharp(path.join(query, first)).resize(160, 160).jpeg().toFile(path.join(query, 'resized.jpg'));
  truth['resized.jpg'] = truth[first];

  const predicted = cli('fewshot-predict', '--checkpoint', checkpoint, '--support', support, '--query', query);
  expect(predicted.stderr).toBe('');
  expect(predicted.status).toBe(0);
  const answer = JSON.parse(predicted.stdout) as Record<string, string>;
  expect(Object.keys(answer).sort()).toEqual(Object.keys(truth).sort());
  for (const v of Object.values(answer)) expect(chosen.map((_, k) => `class${k}`)).toContain(v);
  // The same decision computed in this process through the training data path (the archive's decoded samples,
  // the dataset's transform, prototypicalLogits) for the original PNGs: fewshot-predict must agree with it.
  const { dataset } = await ns.fewshot.loadFewShotData(OMNIGLOT, { size: 28, channels: 1 });
  const backbone = ns.models.buildModel(meta.config as unknown as ns.models.ModelConfig);
  backbone.loadStateDict((await ns.train.loadCheckpoint(checkpoint)).model);
  backbone.eval();
  const indexOf = (file: string): number => dataset.files.findIndex((f) => f.endsWith(`/${file}`));
  const supportIdx = chosen.flatMap((_, k) => fs.readdirSync(path.join(support, `class${k}`)).sort().map(indexOf));
  const queryFiles = Object.keys(truth).filter((f) => f !== 'resized.jpg').sort();
  const queryIdx = queryFiles.map(indexOf);
  expect([...supportIdx, ...queryIdx].every((i) => i >= 0)).toBe(true);
  const expected = ns.tidy(() => ns.noGrad(() => {
    const idx = Int32Array.from([...supportIdx, ...queryIdx]);
    const [x] = dataset.toBatch('test', dataset.render(idx, [0]), idx);
    const e = backbone.forward(x);
    const logits = ns.fewshot.prototypicalLogits(ns.slice(e, [0, 0], [supportIdx.length, -1]), ns.slice(e, [supportIdx.length, 0]), 5);
    return Array.from(ns.argmax(logits, 1).dataSync());
  }));
  expect(queryFiles.map((f) => answer[f])).toEqual(expected.map((k) => `class${k}`));
  const correct = Object.keys(truth).filter((f) => answer[f] === truth[f]).length;
  console.log(`test/fewshot-run.test.ts: fewshot-predict after 80 episodes: ${correct}/${Object.keys(truth).length} queries right (chance 1/5)`);
  // 16 queries of 5 classes: chance gives about 3; 80 episodes of training give well above half.
  expect(correct).toBeGreaterThanOrEqual(9);
});

cliTest('bad arguments exit non-zero with a one-line message naming them', () => {
  const cases: [string[], RegExp][] = [
    [['fewshot-predict', '--checkpoint', '/nonexistent.safetensors', '--support', tmp, '--query', tmp], /--checkpoint: no such file or folder '\/nonexistent.safetensors'/],
    [['fewshot-train', '--data', OMNIGLOT, '--out', tmp, '--episodes', '0'], /--episodes expects an integer ≥ 1 but got '0'/],
    [['fewshot-train', '--data', OMNIGLOT, '--out', tmp, '--backbone', 'fancy'], /option '--backbone <kind>' argument 'fancy' is invalid/],
    [['fewshot-train', '--out', tmp], /required option '--data <path>' not specified/],
    [['experiment', 'imagenet'], /argument 'name'.*imagenet|'imagenet' is invalid/],
    [['experiment', 'cifar10', '--variants', 'plain,fancy'], /--variants expects layer kinds among .* but got 'fancy'/],
  ];
  for (const [args, message] of cases) {
    const r = cli(...args);
    expect(r.status).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(message);
  }
});

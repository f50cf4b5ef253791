/**
 * The package as users get it: `npm pack` carries the prebuilt linux-x64 binary (CPU and CUDA kernels, written by
 * `npm run prebuild`) and stays under 60 MB; installing that tarball into an empty project with no compiler, make
 * or python on PATH compiles nothing and works (the binary loads, runs ops on the CPU, says why CUDA is or is not
 * used). Skipped, saying why, where prebuilds/ holds no binary (run `npm run prebuild` first; .ci/run does).
 */
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const root = path.resolve(__dirname, '..');
const prebuildDir = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
const prebuilt = fs.existsSync(prebuildDir) && fs.readdirSync(prebuildDir).some((f) => f.endsWith('.node'));
if (!prebuilt) console.warn(`test/package.test.ts: skipped: no prebuilt binary in ${prebuildDir} (run npm run prebuild)`);
const suite = prebuilt ? describe : describe.skip;

suite('the packed tarball', () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'ns-package-'));
  let tarball = '';

  beforeAll(() => {
    const out = execFileSync('npm', ['pack', '--pack-destination', work, '--ignore-scripts', '--json'], { cwd: root, encoding: 'utf8' });
    tarball = path.join(work, JSON.parse(out)[0].filename as string);
  }, 300000);

  afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

  test('carries the prebuilt binary and the compiled library, and stays under 60 MB', () => {
    const listing = execFileSync('tar', ['tzf', tarball], { encoding: 'utf8' }).split('\n');
    expect(listing.some((f) => f.startsWith(`package/prebuilds/${process.platform}-${process.arch}/`) && f.endsWith('.node'))).toBe(true);
    expect(listing).toContain('package/dist/lib/index.js');
    expect(fs.statSync(tarball).size).toBeLessThan(60 * 1024 * 1024);
  });

  test('installs into an empty project with no compiler, make or python on PATH, and works', () => {
    // A PATH holding node, npm and the shell npm runs scripts with: any attempt to compile would fail for want of a
    // compiler.
    const bin = path.join(work, 'bin');
    fs.mkdirSync(bin);
    fs.symlinkSync(process.execPath, path.join(bin, 'node'));
    fs.symlinkSync('/bin/sh', path.join(bin, 'sh'));
    const npmCli = [path.join(path.dirname(path.dirname(process.execPath)), 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js'),
      path.join(execFileSync('npm', ['root', '-g'], { encoding: 'utf8' }).trim(), 'npm', 'bin', 'npm-cli.js')].find((f) => fs.existsSync(f));
    expect(npmCli).toBeDefined();
    fs.writeFileSync(path.join(bin, 'npm'), `#!/bin/sh\nexec "${process.execPath}" "${npmCli}" "$@"\n`, { mode: 0o755 });
    const env = { ...process.env, PATH: bin, npm_config_nodedir: '' };
    for (const tool of ['g++', 'cc', 'make', 'python3']) {
      expect(spawnSync('/bin/sh', ['-c', `command -v ${tool}`], { env }).status).not.toBe(0);
    }
    const project = path.join(work, 'project');
    fs.mkdirSync(project);
    fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'user-project', version: '1.0.0', private: true }));
    const install = spawnSync(path.join(bin, 'npm'), ['install', '--no-audit', '--no-fund', '--foreground-scripts', tarball],
      { cwd: project, env, encoding: 'utf8' });
    expect({ status: install.status, stderr: install.status === 0 ? '' : install.stderr.slice(-2000) }).toEqual({ status: 0, stderr: '' });
    expect(install.stdout + install.stderr).not.toMatch(/gyp info spawn|cmake-js|g\+\+/);
    const script = `
      const ns = require('neural-similarity');
      const x = ns.tensor([1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 1, 3, 3], { device: 'cpu' });
      const w = ns.ones([1, 1, 2, 2], { device: 'cpu' });
      const y = ns.similarityConv2d(x, w, ns.ones([4], { device: 'cpu' }));
      console.log(JSON.stringify({ y: Array.from(y.dataSync()), info: ns.backendInfo() }));`;
    const run = spawnSync(process.execPath, ['-e', script], { cwd: project, env, encoding: 'utf8' });
    expect(run.stderr).toBe('');
    const result = JSON.parse(run.stdout);
    expect(result.y).toEqual([12, 16, 24, 28]);
    expect(result.info.cudaCompiled).toBe(true);
    expect(typeof result.info.reason).toBe('string');
  }, 300000);
});

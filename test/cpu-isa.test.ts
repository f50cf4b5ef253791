/**
 * Every CPU kernel path on one machine. The float32 kernels choose AVX-512, AVX2 or portable code at load time
 * (NEURAL_SIMILARITY_ISA caps the choice); the other suites test this machine's own choice. This one reruns the
 * suites that reach ISA-specific code, in child processes capped to each ISA below it, against the same float64
 * references: matmul-conv (GEMM micro-kernels, patch packers, col2im, transposes, depthwise loops) and similarity
 * (the fused packers and folds). An ISA above this machine's cannot run here; the test says so.
 */
import { spawnSync } from 'child_process';
import * as path from 'path';
import * as ns from '../lib';

const ROOT = path.join(__dirname, '..');
const ORDER = ['avx512', 'avx2', 'portable'];
const own = ns.backendInfo().cpuKernel;
const below = ORDER.slice(ORDER.indexOf(own) + 1);
if (ORDER.indexOf(own) > 0) {
  console.log(`cpu-isa: this CPU runs '${own}'; the ${ORDER.slice(0, ORDER.indexOf(own)).join(', ')} kernels cannot be tested here`);
}

function childIsa(isa: string): string {
  const r = spawnSync(process.execPath, ['-e', "console.log(require('node-gyp-build')(process.argv[1]).runtimeInfo().isa)", ROOT],
    { env: { ...process.env, NEURAL_SIMILARITY_ISA: isa }, encoding: 'utf8' });
  return r.stdout.trim();
}

describe('the CPU kernels under a capped ISA', () => {
  if (below.length === 0) {
    console.log('cpu-isa: skipped: this CPU runs the portable kernels, there is no ISA below them');
    test.skip('no ISA below portable', () => undefined);
    return;
  }
  test.each(below)('%s: matmul-conv and similarity suites pass', (isa) => {
    expect(childIsa(isa)).toBe(isa);
    const jest = require.resolve('jest/bin/jest');
    const r = spawnSync(process.execPath, [jest, '--runInBand', '--ci', 'test/matmul-conv.test.ts', 'test/similarity.test.ts'],
      { cwd: ROOT, env: { ...process.env, NEURAL_SIMILARITY_ISA: isa }, encoding: 'utf8', timeout: 600_000 });
    const summary = r.stderr.split('\n').filter((l) => /^(Tests|Test Suites):/.test(l)).join('; ');
    console.log(`cpu-isa ${isa}: ${summary}`);
    expect({ status: r.status, failures: r.status === 0 ? '' : r.stderr.slice(-4000) }).toEqual({ status: 0, failures: '' });
    expect(summary).toMatch(/Test Suites: 2 passed, 2 total/);
  }, 900_000);
});

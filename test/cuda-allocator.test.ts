/**
 * The CUDA backend's host-testable parts, checked without a GPU: cuda/allocator.h (the caching device
 * allocator, over a fake system allocator) and cuda/philox.cuh (the random kernel's Philox-4x32-10, against
 * Random123's known answers and the CPU backend's streams). Each is a C++ program under test/cuda-host/,
 * compiled here with g++ (warnings are errors) and run; every check it prints ("PASS name" or
 * "FAIL name: why") is asserted by name. g++ is required: without it these tests fail rather than skip.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const root = path.join(__dirname, '..');

interface HostRun {
  /** Why the program did not build or run to its end; null when it did. */
  problem: string | null;
  /** Each check's line after its name: "PASS" or "FAIL: why". */
  checks: Map<string, string>;
  output: string;
}

function buildAndRun(source: string): HostRun {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ns-cuda-host-'));
  const exe = path.join(dir, path.basename(source, '.cc'));
  const checks = new Map<string, string>();
  try {
    const args = ['-std=c++17', '-O1', '-Wall', '-Wextra', '-Werror', '-I', 'native', '-I', 'cuda', source, '-o', exe];
    const cc = spawnSync('g++', [...args, '-pthread'], { cwd: root, encoding: 'utf8', timeout: 90000 });
    if (cc.error) return { problem: `g++ could not be run (it is required): ${cc.error.message}`, checks, output: '' };
    if (cc.status !== 0) return { problem: `g++ ${args.join(' ')} failed:\n${cc.stderr}`, checks, output: '' };
    const run = spawnSync(exe, [], { encoding: 'utf8', timeout: 60000 });
    const output = `${run.stdout ?? ''}${run.stderr ?? ''}`;
    for (const line of (run.stdout ?? '').split('\n')) {
      const m = /^(PASS|FAIL) (\S+)(?:: (.*))?$/.exec(line);
      if (m) checks.set(m[2], m[1] === 'PASS' ? 'PASS' : `FAIL: ${m[3] ?? ''}`);
    }
    const finished = /^DONE \d+$/m.test(run.stdout ?? '');
    const problem = run.error
      ? `${exe} could not be run: ${run.error.message}`
      : !finished
        ? `${exe} stopped early (status ${run.status}, signal ${run.signal}):\n${output}`
        : null;
    return { problem, checks, output };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function describeHostProgram(title: string, source: string, names: string[]): void {
  describe(title, () => {
    let run: HostRun;
    beforeAll(() => {
      run = buildAndRun(source);
    });

    test('builds with -Wall -Wextra -Werror and runs to its end', () => {
      expect(run.problem).toBeNull();
    });

    test('prints exactly the expected checks', () => {
      expect([...run.checks.keys()].sort()).toEqual([...names].sort());
    });

    test.each(names)('%s', (name) => {
      // Compared as an object so that a failure shows the check's name and the program's reason.
      expect({ check: name, result: run.checks.get(name) ?? `missing; output:\n${run.output}` }).toEqual({
        check: name,
        result: 'PASS',
      });
    });
  });
}

describeHostProgram('cuda/allocator.h: caching device allocator (host test)', 'test/cuda-host/allocator_test.cc', [
  'zero_bytes_and_free_null',
  'rounding_and_small_segments',
  'best_fit',
  'merge_on_free',
  'large_pool',
  'steady_state_reuse',
  'stats_and_empty_cache',
  'unknown_pointer_free',
  'oom_frees_cache_and_retries',
  'oom_error_message',
  'system_error',
  'random_sequences_keep_invariants',
  'thread_safety',
]);

describeHostProgram('cuda/philox.cuh: Philox-4x32-10 (host test)', 'test/cuda-host/philox_test.cc', [
  'philox4x32_10_known_answers',
  'philox_block_matches_cpu',
  'streams_match_cpu_float32',
  'streams_match_cpu_float64',
]);

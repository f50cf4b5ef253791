/**
 * Shared benchmark machinery: best-of timing, a PyTorch peer run in a subprocess on the same shapes,
 * page faults per thread group, table printing and JSON results (bench-results/ where the benchmark runs).
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

/** Timing of one workload: best and median seconds over the repetitions. */
export interface Timing {
  best: number;
  median: number;
  reps: number;
  /** The PyTorch peer's minor page faults per repetition (process-wide, getrusage). */
  minorFaultsPerRep?: number;
}

/** Minor page faults of this process's threads so far, by group. */
export interface ThreadFaults {
  /** The JS thread: JS code, the engine's allocations on it, and the kernels' share of the work. */
  main: number;
  /** The CPU backend's worker threads (named ns-cpu-N). */
  kernels: number;
  /** Every other thread: the JS engine's garbage collector and compiler, libuv. */
  engine: number;
}

/** Minor page faults per thread group read from /proc/self/task (Linux), or null elsewhere. */
export function threadFaults(): ThreadFaults | null {
  let tasks: string[];
  try {
    tasks = fs.readdirSync('/proc/self/task');
  } catch {
    return null;
  }
  const out: ThreadFaults = { main: 0, kernels: 0, engine: 0 };
  for (const tid of tasks) {
    let stat: string, comm: string;
    try {
      stat = fs.readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      comm = fs.readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim();
    } catch {
      continue;  // the thread ended meanwhile
    }
    // Fields after the parenthesised name start at field 3 (state); minflt is field 10.
    const minflt = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[7]);
    const group = Number(tid) === process.pid ? 'main' : comm.startsWith('ns-cpu-') ? 'kernels' : 'engine';
    out[group] += minflt;
  }
  return out;
}

/** Runs `fn` `warmup` times, then until `minReps` runs and `minSeconds` have passed; returns best/median. */
export function time(fn: () => void, options: { warmup?: number; minReps?: number; minSeconds?: number } = {}): Timing {
  return timeSideBySide({ fn }, options).fn;
}

/**
 * Times several workloads side by side: after `warmup` runs of each, rounds that run every workload once,
 * until `minReps` rounds and `minSeconds` per workload have passed, so that a slower or faster spell of a
 * shared machine reaches them all alike. Returns each one's best/median.
 */
export function timeSideBySide(fns: Record<string, () => void>, { warmup = 2, minReps = 5, minSeconds = 1 } = {}): Record<string, Timing> {
  const names = Object.keys(fns);
  for (const name of names) for (let i = 0; i < warmup; i++) fns[name]();
  const samples: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  const start = process.hrtime.bigint();
  for (let round = 0; round < 200; round++) {
    if (round >= minReps && Number(process.hrtime.bigint() - start) / 1e9 >= minSeconds * names.length) break;
    for (const name of names) {
      const t0 = process.hrtime.bigint();
      fns[name]();
      samples[name].push(Number(process.hrtime.bigint() - t0) / 1e9);
    }
  }
  return Object.fromEntries(names.map((name) => {
    const s = samples[name].sort((a, b) => a - b);
    return [name, { best: s[0], median: s[s.length >> 1], reps: s.length }];
  }));
}

let torchPython: string | null | undefined;

/** A python3 that imports torch, or null (then the peer column is left out). */
export function findTorch(): string | null {
  if (torchPython !== undefined) return torchPython;
  torchPython = null;
  for (const py of ['python3', '/usr/bin/python3']) {
    const r = spawnSync(py, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
    if (r.status === 0) {
      torchPython = py;
      break;
    }
  }
  return torchPython;
}

/**
 * Runs a Python snippet that defines `run(args)` returning a JSON-able result, with torch imported and
 * set to `threads` threads. Returns the result or null when torch is unavailable.
 */
export function runTorch<T>(snippet: string, args: unknown, threads: number): T | null {
  const py = findTorch();
  if (!py) return null;
  const program = [
    'import json, resource, sys, time, torch',
    `torch.set_num_threads(${threads})`,
    'def best_of(fn, warmup=2, min_reps=5, min_seconds=1.0):',
    '    for _ in range(warmup): fn()',
    '    samples = []',
    '    faults0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt',
    '    start = time.perf_counter()',
    '    while len(samples) < min_reps or time.perf_counter() - start < min_seconds:',
    '        t0 = time.perf_counter(); fn(); samples.append(time.perf_counter() - t0)',
    '        if len(samples) >= 200: break',
    '    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults0',
    '    samples.sort()',
    '    return {"best": samples[0], "median": samples[len(samples) // 2], "reps": len(samples), "minorFaultsPerRep": faults / len(samples)}',
    snippet,
    'print(json.dumps(run(json.loads(sys.argv[1]))))',
  ].join('\n');
  // glibc settings that keep freed memory in the process, so that torch, like this library, reuses its
  // buffers instead of faulting in fresh pages every call (PyTorch's figures "with memory retained").
  const env = { ...process.env, MALLOC_MMAP_THRESHOLD_: '4000000000', MALLOC_TRIM_THRESHOLD_: '4000000000', MALLOC_TOP_PAD_: '1000000000' };
  const r = spawnSync(py, ['-c', program, JSON.stringify(args)], { encoding: 'utf8', maxBuffer: 1 << 24, env });
  if (r.status !== 0) throw new Error(`torch peer failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as T;
}

/** Prints rows as an aligned table. */
export function printTable(title: string, header: string[], rows: (string | number)[][]): void {
  const cells = [header, ...rows.map((r) => r.map((c) => (typeof c === 'number' ? formatNumber(c) : c)))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => String(r[i] ?? '').length)));
  console.log(`\n${title}`);
  cells.forEach((r, k) => {
    console.log(r.map((c, i) => String(c ?? '').padStart(widths[i])).join('  '));
    if (k === 0) console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  });
}

function formatNumber(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  return Math.abs(x) >= 100 ? x.toFixed(0) : Math.abs(x) >= 10 ? x.toFixed(1) : x.toFixed(2);
}

/** Writes bench/results/<name>.json and returns its path. */
export function writeResults(name: string, results: unknown): string {
  // Where the user runs the benchmark (the CLI's --out), never inside the installed package.
  const dir = process.env.NEURAL_SIMILARITY_BENCH_DIR ?? path.join(process.cwd(), 'bench-results');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${name}.json`);
  fs.writeFileSync(file, JSON.stringify(results, null, 2) + '\n');
  return file;
}

/**
 * The DataLoader's render workers: worker_threads that run worker.ts on the shared decoded images.
 *
 * Lifetime: a pool lives for one pass over the loader and is terminated when the pass ends, breaks or
 * throws. A worker holds the process open only while a request to it is outstanding (it is unref'd when
 * idle), so an iterator dropped half-way never keeps Node alive.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Worker } from 'worker_threads';
import { RenderReply, RenderRequest, RenderedBatch, WorkerInit } from './pixels';

/** The modules a worker loads (worker.ts and what it imports), for running from TypeScript sources. */
const WORKER_MODULES = ['worker', 'pixels', 'augment', 'random', 'check'];

let compiledScript: string | null = null;

/**
 * Compiles the worker's TypeScript modules with the typescript package (a development dependency) into a
 * folder of this user's under os.tmpdir(), named by a hash of their sources; returns its worker.js.
 */
function compileFromSources(): string {
  const sources = WORKER_MODULES.map((m) => fs.readFileSync(path.join(__dirname, `${m}.ts`), 'utf8'));
  const hash = crypto.createHash('sha256').update(sources.join('\0')).digest('hex').slice(0, 16);
  const uid = os.userInfo().uid;
  const dir = path.join(os.tmpdir(), `neural-similarity-worker-${uid}-${hash}`);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const owner = fs.statSync(dir).uid;
  if (uid >= 0 && owner !== uid) throw new Error(`DataLoader: ${dir} belongs to another user (uid ${owner}); refusing to load worker code from it`);
  WORKER_MODULES.forEach((m, i) => {
    const file = path.join(dir, `${m}.js`);
    if (fs.existsSync(file)) return;
    const ts = require('typescript') as typeof import('typescript');
    const js = ts.transpileModule(sources[i], {
      compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
    }).outputText;
    // Written under a temporary name and renamed, so a concurrent process never loads half a file.
    const tmp = `${file}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`;
    fs.writeFileSync(tmp, js);
    fs.renameSync(tmp, file);
  });
  return path.join(dir, 'worker.js');
}

/**
 * The worker's JavaScript entry point: worker.js beside this file in the built package, or, when the
 * library runs from its TypeScript sources (ts-jest, ts-node), the worker compiled once per process.
 */
function workerScript(): string {
  const built = path.join(__dirname, 'worker.js');
  if (fs.existsSync(built)) return built;
  compiledScript ??= compileFromSources();
  return compiledScript;
}

interface Pending {
  slot: number;
  resolve: (batch: RenderedBatch) => void;
  reject: (error: Error) => void;
}

/** `count` render workers over one store and transform. @internal */
export class RenderPool {
  private readonly pending = new Map<number, Pending>();
  private readonly outstanding: number[];
  private readonly exited: boolean[];
  private nextId = 0;
  private closed = false;

  private constructor(private readonly workers: Worker[]) {
    this.outstanding = workers.map(() => 0);
    this.exited = workers.map(() => false);
    workers.forEach((w, slot) => {
      w.unref();
      w.on('message', (reply: RenderReply) => this.settle(reply));
      w.on('error', (err: Error) => this.failSlot(slot, new Error(`DataLoader: render worker ${slot} failed: ${err.message}`, { cause: err })));
      w.on('exit', (code: number) => {
        this.exited[slot] = true;
        this.failSlot(slot, new Error(`DataLoader: render worker ${slot} exited (code ${code}) with batches outstanding`));
      });
    });
  }

  /** Starts `count` workers, each given `init` (the store's pixels are shared, not copied). */
  static start(count: number, init: WorkerInit): RenderPool {
    const script = workerScript();
    return new RenderPool(Array.from({ length: count }, () => new Worker(script, { workerData: init })));
  }

  /** Renders `indices` on worker `slot`; the worker holds the process open until it answers. */
  render(slot: number, indices: Int32Array, key: number[]): Promise<RenderedBatch> {
    if (this.closed || this.exited[slot]) return Promise.reject(new Error(`DataLoader: render worker ${slot} is no longer running`));
    const id = this.nextId++;
    return new Promise<RenderedBatch>((resolve, reject) => {
      this.pending.set(id, { slot, resolve, reject });
      if (this.outstanding[slot]++ === 0) this.workers[slot].ref();
      this.workers[slot].postMessage({ id, indices, key } satisfies RenderRequest);
    });
  }

  /**
   * Terminates every worker; outstanding requests are rejected. Each worker stays referenced until it has
   * exited (release() does not unreference a closing pool's workers): an unreferenced worker's pending terminate()
   * does not keep the event loop alive, so a caller awaiting close() (a `for await` left with break while a batch
   * was still being rendered) would otherwise see the process end silently before its next statement.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.workers.map((w) => {
      w.ref();
      return w.terminate();
    }));
  }

  /** One request of `slot` answered; an idle worker stops holding the process open (a closing one keeps it until it exits). */
  private release(slot: number): void {
    if (--this.outstanding[slot] === 0 && !this.closed) this.workers[slot].unref();
  }

  private settle(reply: RenderReply): void {
    const p = this.pending.get(reply.id);
    if (!p) return;
    this.pending.delete(reply.id);
    this.release(p.slot);
    if ('batch' in reply) {
      // Views of the transferred buffers made with this module's own constructors: the arrays that
      // postMessage creates belong to Node's main realm, which differs from the caller's in a vm sandbox (jest).
      const { data, shapes } = reply.batch;
      p.resolve({ data: new Float32Array(data.buffer, data.byteOffset, data.length), shapes: new Int32Array(shapes.buffer, shapes.byteOffset, shapes.length) });
    } else {
      const err = reply.error.name === 'RangeError' ? new RangeError(reply.error.message)
        : reply.error.name === 'TypeError' ? new TypeError(reply.error.message) : new Error(reply.error.message);
      p.reject(err);
    }
  }

  private failSlot(slot: number, error: Error): void {
    for (const [id, p] of this.pending) {
      if (p.slot !== slot) continue;
      this.pending.delete(id);
      this.release(slot);
      p.reject(error);
    }
  }
}

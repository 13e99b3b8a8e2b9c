// The image loader's worker thread, seen from the main thread. A training step on the wasm and
// native backends holds the main thread for its whole duration, and every image costs several
// asynchronous hops (the cache lookup, the read, the decode on libuv's pool), each of which needs the
// main thread's event loop to start the next: decoded on the main thread, the next batch only moves
// between steps, and the step waits for it. In a worker thread the same code (batch-decode.ts) runs on
// an event loop of its own, so the batches ahead are ready when the step ends. One worker per
// process serves every loader; it does not keep the process alive while it has nothing to do.
import type { Worker } from 'node:worker_threads';
import { RunError } from '../errors.ts';
import { deserializeError, startWorker, type SerializedError } from '../util/worker.ts';
import type { DecodedBatch, DecodeJob, DecodeSpec } from './batch-decode.ts';

/** Main -> worker. */
export type ToLoader =
  | { type: 'decode'; id: number; loader: number; spec: DecodeSpec; job: DecodeJob }
  | { type: 'done'; loader: number };
/** Worker -> main: the answer to one 'decode'. */
export type FromLoader =
  | { type: 'batch'; id: number; batch: DecodedBatch }
  | { type: 'error'; id: number; error: SerializedError };

class LoaderThread {
  private readonly worker: Worker;
  private readonly pending = new Map<number, { resolve(b: DecodedBatch): void; reject(e: Error): void }>();
  private nextId = 1;
  private failed: Error | null = null;
  private closing = false;

  constructor() {
    this.worker = startWorker('data/loader-worker');
    this.worker.unref();
    this.worker.on('message', (m: FromLoader) => {
      const p = this.pending.get(m.id);
      this.pending.delete(m.id);
      if (this.pending.size === 0) this.worker.unref();
      if (!p) return;
      if (m.type === 'error') p.reject(deserializeError(m.error, 'the image loader (worker thread) failed'));
      else p.resolve(m.batch);
    });
    this.worker.on('error', (e) => this.fail(new RunError(`the image loader (worker thread) failed: ${e.message}`)));
    this.worker.on('exit', (code) => {
      if (shared === this) shared = null;
      if (!this.closing) {
        this.fail(new RunError(`the image loader's worker thread exited unexpectedly (code ${code}); ` +
          'set data.loader.worker: false to load images on the main thread'));
      }
    });
  }

  private fail(e: Error): void {
    this.failed ??= e;
    if (shared === this) shared = null;
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }

  decode(loader: number, spec: DecodeSpec, job: DecodeJob): Promise<DecodedBatch> {
    if (this.failed) return Promise.reject(this.failed);
    const id = this.nextId++;
    const p = new Promise<DecodedBatch>((resolve, reject) => this.pending.set(id, { resolve, reject }));
    this.worker.ref(); // a batch in flight keeps the process alive
    this.worker.postMessage({ type: 'decode', id, loader, spec, job } satisfies ToLoader);
    return p;
  }

  /** The loader has finished: the worker drops its decoder slots. */
  done(loader: number): void {
    if (!this.failed) this.worker.postMessage({ type: 'done', loader } satisfies ToLoader);
  }

  async terminate(): Promise<void> {
    this.closing = true;
    this.fail(new RunError('the image loader (worker thread) was stopped'));
    await this.worker.terminate();
  }
}

let shared: LoaderThread | null = null;
let loaders = 0;

/** A loader's handle on the process's loader thread (started on first use). */
export function loaderThread(): { id: number; thread: LoaderThread } {
  shared ??= new LoaderThread();
  return { id: ++loaders, thread: shared };
}

/** Whether the loader thread is running (tests check that it starts, and ends when stopped). */
export const loaderThreadRunning = (): boolean => shared !== null;

/** Stop the loader thread; the next loader that wants one starts another. */
export async function stopLoaderThread(): Promise<void> {
  const t = shared;
  shared = null;
  await t?.terminate();
}

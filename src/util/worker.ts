// Starting one of exp's worker threads from its module under src/ (e.g. 'data/loader-worker'),
// through the bootstrap that runs it from dist/ or from the sources (worker.mjs).
import { Worker, type WorkerOptions } from 'node:worker_threads';

const BOOTSTRAP = new URL('./worker.mjs', import.meta.url);

export function startWorker(module: string, options: WorkerOptions = {}): Worker {
  return new Worker(BOOTSTRAP, { ...options, argv: [module] });
}

// Starting one of exp's worker threads from its module under src/ (e.g. 'data/loader-worker'),
// through the bootstrap that runs it from dist/ or from the sources (worker.mjs), and carrying an
// error from a worker thread to the main thread (a message holds plain data, not an Error).
import { Worker, type WorkerOptions } from 'node:worker_threads';
import { RunError, UserError } from '../errors.ts';

const BOOTSTRAP = new URL('./worker.mjs', import.meta.url);

export function startWorker(module: string, options: WorkerOptions = {}): Worker {
  return new Worker(BOOTSTRAP, { ...options, argv: [module] });
}

/** An error as a message between threads carries it. */
export interface SerializedError {
  message: string;
  stack?: string;
  /** A UserError (a mistake the user can fix) rather than a fault. */
  user: boolean;
}

export function serializeError(e: unknown): SerializedError {
  if (e instanceof Error) return { message: e.message, stack: e.stack, user: e instanceof UserError };
  return { message: String(e), user: false };
}

/** The error again on this side: a UserError as it was, anything else a RunError saying `what` failed. */
export function deserializeError(s: SerializedError, what: string): Error {
  const e = s.user ? new UserError(s.message) : new RunError(`${what}: ${s.message}`);
  if (s.stack) e.stack = s.stack;
  return e;
}

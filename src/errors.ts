// Error classes, caught in exactly one place: src/cli/main.ts.
// A UserError is a mistake the user can fix (bad YAML, argument, dataset, image): it prints as a
// short paragraph without a stack trace (unless EXP_DEBUG=1) and exits 2. A RunError is a run
// that failed for a reason that is not a user input problem (NaN loss, a crashed stage): exit 1.

/** One located problem, printed as `file:line:col  path  message`. */
export interface Problem {
  file?: string;
  line?: number; // 1-based
  col?: number; // 1-based
  path?: string; // dotted config path, e.g. "loss.weights.genus"
  message: string;
  severity?: 'error' | 'warning';
}

export function formatProblem(p: Problem): string {
  const where = p.file ? `${p.file}${p.line ? `:${p.line}:${p.col ?? 1}` : ''}` : '';
  const sev = p.severity === 'warning' ? 'warning: ' : '';
  return [where, p.path, `${sev}${p.message}`].filter(Boolean).join('  ');
}

export class ExpError extends Error {
  constructor(message: string, readonly exitCode: number) {
    super(message);
    this.name = new.target.name;
  }
}

/** Invalid input: config, arguments, data. Exit code 2. */
export class UserError extends ExpError {
  constructor(message: string, readonly problems: Problem[] = []) {
    super(message, 2);
  }
}

/** A run that failed (training diverged, a stage crashed). Exit code 1. */
export class RunError extends ExpError {
  constructor(message: string) {
    super(message, 1);
  }
}

/** Exit status of a process stopped by a signal, as a shell reports it: 128 + the signal number. */
export const SIGNAL_EXIT_CODES: Readonly<Record<string, number>> = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129, SIGUSR2: 140 };

/**
 * Signals after which a training run saves model/last at its next step boundary before it stops
 * (a mid-epoch checkpoint that `exp run --resume` continues from). SIGUSR2 is "preempted: save and
 * stop" (what a cluster's batch script forwards before a time limit); SIGTERM is what Slurm sends
 * before SIGKILL on scancel or a time limit, so it saves too. SIGINT (Ctrl-C) and SIGHUP stop
 * without writing a checkpoint: the one from the last finished epoch stays.
 */
export const CHECKPOINT_SIGNALS: readonly string[] = ['SIGUSR2', 'SIGTERM'];

/**
 * Thrown when SIGINT, SIGTERM, SIGHUP or SIGUSR2 stops a run; the record says `interrupted`. Its
 * exit code follows the signal (130, 143, 129, 140), so `exp` ends the way a killed job would.
 */
export class InterruptedError extends ExpError {
  /** `next`: what the user can do now (e.g. the command that continues the run), after the signal. */
  constructor(readonly signal: string, next?: string) {
    super(`interrupted by ${signal}${next ? `: ${next}` : ''}`, SIGNAL_EXIT_CODES[signal] ?? 130);
  }

  /** The error for an aborted run signal, whose reason is the signal's name. */
  static of(signal: AbortSignal): InterruptedError {
    const r: unknown = signal.reason;
    if (r instanceof InterruptedError) return r;
    return new InterruptedError(typeof r === 'string' ? r : 'abort');
  }
}

/** Whether an aborted run signal asks for a checkpoint before stopping (CHECKPOINT_SIGNALS). */
export function checkpointRequested(signal: AbortSignal | undefined): boolean {
  return !!signal?.aborted && CHECKPOINT_SIGNALS.includes(InterruptedError.of(signal).signal);
}

/** Throws InterruptedError once `signal` has aborted: where long work yields to Ctrl-C. */
export function throwIfInterrupted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw InterruptedError.of(signal);
}

/**
 * A write that failed because the disk is full or the place is not writable (src/util/fs.ts makes
 * them, naming the directory, what the write needed and what is free). A run that hits one ends
 * `failed`: exit code 1, no stack trace, since nothing is wrong with exp or the input.
 */
export class StorageError extends RunError {
  private noted = false;

  constructor(message: string, readonly info: { dir: string; file: string; code: string; bytes: number; free: number | null }) {
    super(message);
  }

  /** Adds what became of the run (once): the record's failed status and how to continue. */
  noteRun(text: string): void {
    if (this.noted) return;
    this.noted = true;
    this.message = `${this.message} ${text}`;
  }
}

// The seam between a sweep and where its points run. A launcher gets the points of a sweep and
// runs or queues the ones that still need running; whether a point needs running is decided from
// its run records (completed, running, failed, interrupted or missing), never from a scheduler's
// accounting, so resubmitting a sweep through any launcher skips what is done and retries what
// failed. Launchers are registered by name in launchers.ts; `local` (local.ts) runs the points
// here, one after another. A cluster launcher submits them (e.g. one array job whose tasks run
// `exp run --point <sweep>/<n>`, which decides again, from the records, on the node).
import type { ExperimentConfig } from '../../config/types.gen.ts';
import type { LoadResult } from '../../config/load.ts';
import type { SweepPoint, SweepRecord } from './define.ts';

/** A point with its validated config, ready to run. */
export interface LoadedPoint {
  point: SweepPoint;
  loaded: LoadResult;
  config: ExperimentConfig;
}

/** A point's state, from the runs of this sweep with its identity. */
export type PointState =
  | { state: 'completed'; dir: string }
  /** Being run, perhaps by another process or machine (or it died: `exp run --resume` continues it). */
  | { state: 'running'; dir: string }
  /** No run with its identity completed or running: missing, failed or interrupted. */
  | { state: 'pending' };

/** Where a sweep's progress lines go (the CLI prints them). */
export interface SweepReporter {
  info(line: string): void;
  warn(line: string): void;
}

/** What a launcher is asked to do: run or queue the points of `sweep` that are pending. */
export interface SweepSubmission {
  sweep: SweepRecord;
  runsDir: string;
  points: LoadedPoint[];
  /** The experiment's `launcher:` block (a scheduler's resources; `local` reads none of it). */
  settings: ExperimentConfig['launcher'];
  /** A scheduler's launcher waits until every submitted point has ended (`--wait`); local always does. */
  wait: boolean;
  /** Options a scheduler's task adds to `exp run --point` (the --backend, --name, --no-cache given here). */
  pointArgs: string[];
  /** The point's state now (another process may have run it since the sweep started). */
  stateOf(p: LoadedPoint): Promise<PointState>;
  /** Runs one point in this process, through the run lifecycle. */
  run(p: LoadedPoint): Promise<void>;
  report: SweepReporter;
}

export interface SubmitResult {
  /** Points run (local) or queued (a scheduler). */
  submitted: number;
  /** Points skipped because a run with their identity is completed or running. */
  skipped: number;
  /** Points whose run failed (local only; a scheduler's outcomes are in the run records later). */
  failed: number;
  /** The scheduler's job id, when there is one. */
  job?: string;
}

/**
 * What a scheduler knows about a point now, beyond its run records: queued (`pending`), running,
 * queued again after a requeue (`requeued`), or `ended` (the scheduler, or its log, remembers a
 * task that is neither queued nor running; its outcome is the run record's business).
 */
export interface LiveState {
  state: 'pending' | 'running' | 'requeued' | 'ended';
  /** The scheduler's id of the task (Slurm: <array job>_<index>). */
  job?: string;
  /** The task's log file. */
  log?: string;
  /** The scheduler's own word for the state, e.g. PENDING (Priority), CANCELLED. */
  detail?: string;
}

/** A task that is queued or running (so submitting the point again would run it twice). */
export const isActive = (l: LiveState | undefined): boolean => !!l && l.state !== 'ended';

export interface Launcher {
  submit(s: SweepSubmission): Promise<SubmitResult>;
  /** Live scheduler state by point index; empty where there is no scheduler (local). */
  query(sweep: SweepRecord, runsDir: string): Promise<Map<number, LiveState>>;
  /** Cancels the sweep's queued and running points; returns how many it cancelled. */
  cancel(sweep: SweepRecord, runsDir: string): Promise<number>;
  /** Whether this launcher ever submitted the sweep from this runs directory (what `exp sweep submit` reuses). */
  used?(sweep: SweepRecord, runsDir: string): boolean;
}

/** `key=value ...` of a point, as the progress lines show it. */
export const fmtPoint = (point: Record<string, unknown>): string =>
  Object.entries(point).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(' ') || '(the experiment as it is: nothing swept)';

/** The line that says why a point is not run, or null when it is pending. */
export function skipLine(st: PointState): string | null {
  if (st.state === 'completed') return `  already completed with the same identity: ${st.dir} (skipped)`;
  if (st.state === 'running') return `  running in ${st.dir} (another process?); skipped. If that process died, continue it with: exp run --resume ${st.dir}`;
  return null;
}

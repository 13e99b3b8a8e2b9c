// `exp sweep status|submit|cancel`: a recorded sweep, from its run records and, where its points
// went to a scheduler, that scheduler's live state. A point's state is its run records' (the
// scheduler's accounting is never asked): completed or running (a run with the point's identity),
// else failed or interrupted (its newest run of this sweep), else missing. The live state
// (pending, running, requeued, ended) comes from every registered launcher's query, so a sweep
// submitted to Slurm is followed without saying so.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { listRuns, type RunListing } from '../read.ts';
import { resolveSweepId, sweepIds } from '../sweep-id.ts';
import { IdentityCache } from '../identity.ts';
import { UserError } from '../../errors.ts';
import { readSweepRecord, type SweepRecord } from './define.ts';
import { isActive, type LiveState, type PointState, type SubmitResult, type SweepReporter } from './launcher.ts';
import { launchers } from './launchers.ts';
import { loadRecordedSweep, pointState, runSweep, type PointRunner } from './run.ts';

export interface PointStatus {
  index: number;
  point: Record<string, unknown>;
  /** From the run records. */
  state: 'completed' | 'running' | 'failed' | 'interrupted' | 'missing';
  /** The run that says so (the newest of this point), when there is one. */
  run?: string;
  /** The scheduler's view, when a launcher knows the point. */
  live?: LiveState;
  /** The last line of the task's log. */
  progress?: string;
  /** A running record whose task is gone: it died without ending its record. */
  stale: boolean;
}

/** The last non-empty line of a log (read from its end), or undefined. */
export function lastLine(file: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return undefined;
  }
  try {
    const size = fstatSync(fd).size;
    const n = Math.min(size, 16384);
    const buf = Buffer.alloc(n);
    readSync(fd, buf, 0, n, size - n);
    // progress redraws end with \r: the last frame is what is on screen
    const lines = buf.toString('utf8').split(/\r?\n|\r/).map((l) => l.trim()).filter(Boolean);
    return lines.at(-1);
  } finally {
    closeSync(fd);
  }
}

export interface SweepStatus {
  sweep: SweepRecord;
  points: PointStatus[];
  /** Launchers that could not be asked (e.g. squeue not answering), with why. */
  notes: string[];
}

/** The sweep id that `arg` names in the runs directory (full id or a unique prefix). */
export function sweepIdOf(arg: string, runsDir: string, runs: readonly RunListing[] = listRuns(runsDir)): string {
  return resolveSweepId(arg, sweepIds(runsDir, runs), runsDir, `sweep ${arg}`);
}

/** Live states of the sweep's points from every launcher that knows them (later launchers fill gaps). */
export async function liveStates(sweep: SweepRecord, runsDir: string): Promise<{ live: Map<number, LiveState>; notes: string[] }> {
  const live = new Map<number, LiveState>();
  const notes: string[] = [];
  for (const l of launchers.list()) {
    try {
      for (const [i, s] of await l.value.query(sweep, runsDir)) if (!live.has(i) || (isActive(s) && !isActive(live.get(i)))) live.set(i, s);
    } catch (e) {
      if (!(e instanceof UserError)) throw e;
      notes.push(`no live state from the ${l.name} launcher: ${e.message}`);
    }
  }
  return { live, notes };
}

export async function sweepStatus(arg: string, runsDir: string): Promise<SweepStatus> {
  const runs = listRuns(runsDir);
  const id = sweepIdOf(arg, runsDir, runs);
  // the points' identities need the experiment as it was defined; without it, the newest run of each point says
  let loaded: ReturnType<typeof loadRecordedSweep> | undefined;
  const unloaded: string[] = [];
  try {
    loaded = loadRecordedSweep(runsDir, id);
  } catch (e) {
    if (!(e instanceof UserError)) throw e;
    unloaded.push(`each point's state is its newest run's, without checking its identity: ${e.message}`);
  }
  const record = loaded?.record ?? readSweepRecord(runsDir, id);
  const { live, notes } = await liveStates(record, runsDir);
  notes.push(...unloaded);
  const ids = new IdentityCache();
  const mine = runs.filter((r) => r.run?.sweep?.id === record.id).sort((a, b) => (a.run!.started < b.run!.started ? -1 : 1));
  const out: PointStatus[] = [];
  for (const sp of record.points) {
    const i = sp.index;
    const p = loaded?.points[i];
    const newestRun = mine.filter((r) => r.run!.sweep!.point_index === i).at(-1);
    const st: PointState = p ? await pointState(runsDir, record, p, ids)
      : newestRun && (newestRun.status === 'completed' || newestRun.status === 'running') ? { state: newestRun.status, dir: newestRun.dir } : { state: 'pending' };
    const newest = newestRun;
    const state: PointStatus['state'] = st.state !== 'pending' ? st.state
      : newest && (newest.status === 'failed' || newest.status === 'interrupted') ? newest.status : 'missing';
    const l = live.get(i);
    out.push({
      index: i, point: sp.point, state, run: st.state !== 'pending' ? st.dir : newest?.dir, live: l,
      progress: l?.log ? lastLine(l.log) : undefined,
      stale: state === 'running' && !!l && !isActive(l),
    });
  }
  return { sweep: record, points: out, notes };
}

/** `exp sweep submit`: the recorded sweep's points that are not done, to a launcher. */
export async function submitRecordedSweep(arg: string, o: {
  runsDir: string; launcher?: string; wait: boolean; pointArgs: string[]; runPoint: PointRunner; report: SweepReporter;
}): Promise<SubmitResult> {
  const id = sweepIdOf(arg, o.runsDir);
  const { record, config, points } = loadRecordedSweep(o.runsDir, id);
  const name = o.launcher ?? launchers.list().find((l) => l.value.used?.(record, o.runsDir))?.name ?? config.launcher.name;
  return runSweep({ record, points }, { runsDir: o.runsDir, launcher: name, settings: config.launcher, wait: o.wait, pointArgs: o.pointArgs, runPoint: o.runPoint, report: o.report });
}

/** `exp sweep cancel`: every launcher cancels what it has queued or running of the sweep. */
export async function cancelSweep(arg: string, runsDir: string): Promise<number> {
  const id = sweepIdOf(arg, runsDir);
  const record = readSweepRecord(runsDir, id);
  let n = 0;
  for (const l of launchers.list()) n += await l.value.cancel(record, runsDir);
  return n;
}

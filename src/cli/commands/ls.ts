// exp ls: one line per run, newest last: the run's val macro-F1 (the column names the level and
// TTA count it is at) and, for sweep runs, the swept values.
import { resolve } from 'node:path';
import { listRuns, readMetricsFile } from '../../runs/read.ts';
import { resolveSweepId, sweepIds } from '../../runs/sweep-id.ts';
import { headlineMetric, type HeadlineMetric } from '../../runs/compare/metrics.ts';
import { pointLabel } from '../../runs/compare/groups.ts';
import type { RunJson } from '../../runs/schemas.ts';
import { table } from '../table.ts';
import type { LiveState } from '../../runs/sweep/launcher.ts';
import { readSweepFile } from '../../runs/read.ts';
import { sweepRecordPath, type SweepRecord } from '../../runs/sweep/define.ts';
import { liveStates } from '../../runs/sweep/status.ts';

function duration(a: string | null | undefined, b: string | null | undefined): string {
  if (!a || !b) return '';
  const s = (Date.parse(b) - Date.parse(a)) / 1000;
  return s >= 3600 ? `${(s / 3600).toFixed(1)}h` : s >= 60 ? `${(s / 60).toFixed(1)}m` : `${s.toFixed(0)}s`;
}

/**
 * The target level's macro-F1 at the run's default TTA on val, with the level and TTA it is at.
 * metrics.json is validated: a damaged one throws (a RecordFileError naming it).
 */
export function headlineOf(dir: string, run: Pick<RunJson, 'predictions' | 'kind'> | null): HeadlineMetric | null {
  const def = run?.predictions?.find((p) => p.split === 'val' && p.default)?.tta;
  return headlineMetric(readMetricsFile(dir, run?.kind), def);
}

/** The metric column's header: split, level and TTA when all runs share them, else what they share. */
function metricHeader(ms: (HeadlineMetric | null)[]): { header: string; cell: (m: HeadlineMetric | null) => string } {
  const got = ms.filter((m): m is HeadlineMetric => m !== null);
  const one = <K extends keyof HeadlineMetric>(k: K) => (got.length && got.every((m) => m[k] === got[0][k]) ? got[0][k] : null);
  const [level, tta] = [one('level'), one('tta')];
  const header = `val ${level ?? '<level>'} macro-F1${tta !== null ? ` (TTA ${tta})` : ' (TTA)'}`;
  return {
    header,
    cell: (m) => (m === null ? '' : `${m.macro_f1.toFixed(4)}${level === null ? ` ${m.level}` : ''}${tta === null ? ` tta${m.tta}` : ''}`),
  };
}

export async function run(_args: string[], opts: { 'runs-dir'?: string; sweep?: string; json?: boolean }): Promise<number> {
  const runsDir = resolve(opts['runs-dir'] ?? 'runs');
  let runs = listRuns(runsDir);
  // with --sweep, what a scheduler says of each point (exp sweep status has the whole picture)
  let live = new Map<number, LiveState>();
  const notes: string[] = [];
  if (opts.sweep) {
    const id = resolveSweepId(opts.sweep, sweepIds(runsDir, runs), runsDir);
    runs = runs.filter((r) => r.run?.sweep?.id === id);
    let rec: SweepRecord | undefined;
    try {
      rec = readSweepFile<SweepRecord>(sweepRecordPath(runsDir, id));
    } catch (e) {
      notes.push((e as Error).message);
    }
    if (rec) ({ live } = await liveStates(rec, runsDir).then((r) => (notes.push(...r.notes), r)));
  }
  // the live state belongs to the newest run of its point
  const newest = new Map<number, string>();
  for (const r of runs) if (r.run?.sweep?.point_index !== undefined) newest.set(r.run.sweep.point_index, r.id);
  const liveOf = (r: (typeof runs)[number]): LiveState | undefined => {
    const i = r.run?.sweep?.point_index;
    return i !== undefined && newest.get(i) === r.id ? live.get(i) : undefined;
  };
  // Damaged records are listed as far as they can be read and reported after the table, and the
  // exit code is 2 (as ls(1) does for a file it cannot read).
  const problems = runs.filter((r) => r.error).map((r) => r.error!);
  const metrics = runs.map((r) => {
    try {
      return r.run ? headlineOf(r.dir, r.run) : null;
    } catch (e) {
      problems.push((e as Error).message);
      return null;
    }
  });
  const rows = runs.map((r, i) => ({
    id: r.id,
    name: r.run?.name ?? '',
    status: r.status,
    macro_f1: metrics[i]?.macro_f1 ?? null,
    metric: metrics[i] ? { split: metrics[i]!.split, level: metrics[i]!.level, tta: metrics[i]!.tta } : null,
    backend: r.run?.backend?.name ?? '',
    git: r.run?.git && 'sha' in r.run.git && r.run.git.sha ? `${r.run.git.sha.slice(0, 8)}${r.run.git.dirty ? '+' : ''}` : '',
    duration: duration(r.run?.started, r.run?.finished),
    point: r.run?.sweep ? pointLabel(r.run.sweep.point, r.run.sweep.keys) : '',
    sweep: r.run?.sweep ? `${r.run.sweep.id}${r.run.sweep.point_index === undefined ? '' : `/${r.run.sweep.point_index}`}` : '',
    ...(live.size ? { live: liveOf(r) ?? null } : {}),
  }));
  for (const n of notes) process.stderr.write(`note: ${n}\n`);
  const report = (): number => {
    for (const p of problems) process.stderr.write(`error: ${p}\n`);
    return problems.length ? 2 : 0;
  };
  if (opts.json) {
    process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
    return report();
  }
  if (!rows.length) {
    process.stdout.write(opts.sweep ? `no runs of sweep ${opts.sweep} in ${runsDir}.\n` : `no runs in ${runsDir}. Start one with: exp run experiments/quickstart.yaml\n`);
    return 0;
  }
  const col = metricHeader(metrics);
  const withPoint = rows.some((r) => r.point);
  const withLive = live.size > 0;
  const liveCell = (l: LiveState | undefined) => (l ? `${l.state}${l.job ? ` ${l.job}` : ''}` : '');
  process.stdout.write(table(
    ['id', 'name', 'status', col.header, 'backend', 'git', 'time', ...(withPoint ? ['swept values'] : []), 'sweep', ...(withLive ? ['scheduler'] : [])],
    rows.map((r, i) => [r.id, r.name, r.status, col.cell(metrics[i]), r.backend, r.git, r.duration, ...(withPoint ? [r.point] : []), r.sweep, ...(withLive ? [liveCell(liveOf(runs[i]))] : [])]),
  ));
  return report();
}

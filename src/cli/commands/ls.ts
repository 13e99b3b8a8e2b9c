// exp ls: one line per run, newest last.
import { resolve } from 'node:path';
import { listRuns, readMetricsFile } from '../../runs/read.ts';
import { table } from '../table.ts';

function duration(a: string | null | undefined, b: string | null | undefined): string {
  if (!a || !b) return '';
  const s = (Date.parse(b) - Date.parse(a)) / 1000;
  return s >= 3600 ? `${(s / 3600).toFixed(1)}h` : s >= 60 ? `${(s / 60).toFixed(1)}m` : `${s.toFixed(0)}s`;
}

/** The target level's macro-F1 at the run's default TTA on val. */
export function headlineF1(dir: string, run: { kind?: string; predictions?: { split: string; tta: number; default: boolean }[] } | null): number | null {
  const m = readMetricsFile(dir, run?.kind);
  const val = m.val;
  if (!val) return null;
  const def = run?.predictions?.find((p) => p.split === 'val' && p.default)?.tta;
  const key = def ? `tta${def}` : Object.keys(val).sort().at(-1)!;
  const level = Object.values(val[key] ?? {}).find((x) => typeof x === 'object') as { macro_f1?: number } | undefined;
  return level?.macro_f1 ?? null;
}

export async function run(_args: string[], opts: { 'runs-dir'?: string; sweep?: string; json?: boolean }): Promise<number> {
  const runsDir = resolve(opts['runs-dir'] ?? 'runs');
  let runs = listRuns(runsDir);
  if (opts.sweep) runs = runs.filter((r) => r.run?.sweep?.id === opts.sweep);
  // Damaged records are listed as far as they can be read and reported after the table, and the
  // exit code is 2 (as ls(1) does for a file it cannot read).
  const problems = runs.filter((r) => r.error).map((r) => r.error!);
  const f1 = (r: (typeof runs)[number]): number | null => {
    try {
      return r.run ? headlineF1(r.dir, r.run) : null;
    } catch (e) {
      problems.push((e as Error).message);
      return null;
    }
  };
  const rows = runs.map((r) => ({
    id: r.id,
    name: r.run?.name ?? '',
    status: r.status,
    macro_f1: f1(r),
    backend: r.run?.backend?.name ?? '',
    git: r.run?.git && 'sha' in r.run.git && r.run.git.sha ? `${r.run.git.sha.slice(0, 8)}${r.run.git.dirty ? '+' : ''}` : '',
    duration: duration(r.run?.started, r.run?.finished),
    sweep: r.run?.sweep ? `${r.run.sweep.id}${r.run.sweep.point_index === undefined ? '' : `/${r.run.sweep.point_index}`}` : '',
  }));
  const report = (): number => {
    for (const p of problems) process.stderr.write(`error: ${p}\n`);
    return problems.length ? 2 : 0;
  };
  if (opts.json) {
    process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
    return report();
  }
  if (!rows.length) {
    process.stdout.write(`no runs in ${runsDir}. Start one with: exp run experiments/quickstart.yaml\n`);
    return 0;
  }
  process.stdout.write(table(
    ['id', 'name', 'status', 'macro-F1', 'backend', 'git', 'time', 'sweep'],
    rows.map((r) => [r.id, r.name, r.status, r.macro_f1 === null ? '' : r.macro_f1.toFixed(4), r.backend, r.git, r.duration, r.sweep]),
  ));
  return report();
}

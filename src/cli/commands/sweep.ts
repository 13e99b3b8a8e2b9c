// exp sweep status|submit|cancel <sweep>: a recorded sweep's points (src/runs/sweep/status.ts).
// This file maps options and prints.
import { relative, resolve } from 'node:path';
import { pointLabel } from '../../runs/compare/groups.ts';
import { cancelSweep, submitRecordedSweep, sweepStatus, type PointStatus } from '../../runs/sweep/status.ts';
import type { Opts } from '../commands.ts';
import type { BackendName } from '../../model/backend.ts';
import { table } from '../table.ts';
import { commonOf, pointArgsOf, pointRunner, report } from './run.ts';

const here = (p: string | undefined): string => (p ? relative(process.cwd(), p) || p : '');

function stateText(p: PointStatus): string {
  if (p.stale) return 'running? (its task is gone: died without ending its record; exp sweep submit runs it again)';
  return p.state;
}

/** `pending (Priority)`, `running`, `requeued PENDING (BeginTime)`, `ended (CANCELLED)`. */
function liveText(l: PointStatus['live']): string {
  if (!l) return '';
  if (l.state === 'ended') return `ended${l.detail ? ` (${l.detail})` : ''}`;
  const extra = (l.detail ?? '').replace(new RegExp(`^${l.state.toUpperCase()}\\b\\s*`), '');
  return `${l.state}${extra ? ` ${extra}` : ''}`;
}

export async function status([arg]: string[], opts: Opts<'sweep status'>): Promise<number> {
  const runsDir = resolve(opts['runs-dir']);
  const s = await sweepStatus(arg, runsDir);
  if (opts.json) {
    process.stdout.write(`${JSON.stringify({ sweep: s.sweep.id, points: s.points, notes: s.notes }, null, 2)}\n`);
    return 0;
  }
  const counts = new Map<string, number>();
  for (const p of s.points) counts.set(p.state, (counts.get(p.state) ?? 0) + 1);
  process.stdout.write(`sweep ${s.sweep.id}: ${s.points.length} point${s.points.length === 1 ? '' : 's'} over ${s.sweep.keys.join(', ') || '(no keys: one run)'}; ` +
    `${[...counts].map(([k, n]) => `${n} ${k}`).join(', ')}\n`);
  const anyLive = s.points.some((p) => p.live);
  process.stdout.write(table(
    ['point', 'swept values', 'state', ...(anyLive ? ['scheduler', 'job', 'log', 'last line'] : []), 'run'],
    s.points.map((p) => [
      `${s.sweep.id}/${p.index}`, pointLabel(p.point, s.sweep.keys), stateText(p),
      ...(anyLive ? [liveText(p.live), p.live?.job ?? '', here(p.live?.log), (p.progress ?? '').slice(0, 100)] : []),
      here(p.run),
    ]),
  ));
  for (const n of s.notes) process.stderr.write(`note: ${n}\n`);
  const todo = s.points.filter((p) => p.state !== 'completed' && !(p.live && p.live.state !== 'ended')).length;
  if (todo) process.stdout.write(`${todo} point${todo === 1 ? ' is' : 's are'} not completed, queued or running: exp sweep submit ${s.sweep.id} runs ${todo === 1 ? 'it' : 'them'} again.\n`);
  return 0;
}

export async function submit([arg]: string[], opts: Opts<'sweep submit'>): Promise<number> {
  const common = commonOf(opts);
  const r = await submitRecordedSweep(arg, { runsDir: common.runsDir, launcher: opts.launcher, wait: opts.wait, pointArgs: pointArgsOf(opts), runPoint: pointRunner(common, opts.backend as BackendName | undefined), report });
  return r.failed ? 1 : 0;
}

export async function cancel([arg]: string[], opts: Opts<'sweep cancel'>): Promise<number> {
  const n = await cancelSweep(arg, resolve(opts['runs-dir']));
  process.stdout.write(n ? `cancelled ${n} task${n === 1 ? '' : 's'} of sweep ${arg}; a running point is left interrupted, and exp sweep submit ${arg} continues it.\n` : `sweep ${arg} has no queued or running tasks.\n`);
  return 0;
}

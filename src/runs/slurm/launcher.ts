// The `slurm` launcher: a sweep's pending points become ONE job array (`sbatch --array=0,3,7-9`),
// whose task n runs `exp run --point <sweep>/n` on a node; this process submits and exits
// (unless --wait). What is pending is decided from the run records (completed points are never
// submitted again) and from squeue (a point whose task is already queued or running is not
// submitted twice); never from sacct. The batch script and the tasks' logs live in the sweep's
// folder, <runs>/.sweeps/<id>/ (job.sh, <array job>_<index>.log), next to its record.
//
// The sweep's tasks are found again through their job name, exp-<sweep id>-<6 hex of the runs
// directory>, so `exp sweep status|cancel` need no record of job ids, and the same sweep
// submitted from two runs directories stays two sets of jobs.
import { existsSync, mkdirSync, readdirSync, realpathSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { userInfo } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { StorageError, UserError } from '../../errors.ts';
import { writeAtomic } from '../../util/fs.ts';
import { sha256 } from '../../util/hash.ts';
import { sweepPaths, sweepsDir, type SweepRecord } from '../sweep/define.ts';
import { fmtPoint, isActive, type Launcher, type LiveState, type SubmitResult, type SweepSubmission } from '../sweep/launcher.ts';
import { slurm, sbatchFix, slurmMessage } from './cli.ts';
import { localFilesystem } from './shared-fs.ts';
import { arrayIndices, renderScript, shellQuote } from './script.ts';

/** This checkout's exp (src/runs/slurm/ and dist/runs/slurm/ are both three levels down). */
const BIN = fileURLToPath(new URL('../../../bin/exp.js', import.meta.url));

/** <runs>/.sweeps/<id>/: the batch script and the tasks' logs. */
export const sweepFolder = (runsDir: string, id: string): string => join(sweepsDir(runsDir), id);
export const scriptPath = (runsDir: string, id: string): string => join(sweepFolder(runsDir, id), 'job.sh');
export const jobName = (runsDir: string, id: string): string => `exp-${id}-${sha256(canonical(runsDir)).slice(0, 6)}`;

/** The runs directory's real path (a symlinked spelling names the same jobs), or its absolute path before it exists. */
function canonical(dir: string): string {
  try {
    return realpathSync(dir);
  } catch {
    return resolve(dir);
  }
}
const logName = (job: string, index: number | string): string => `${job}_${index}.log`;

/** A relative path for the batch script ('.' for the directory itself). */
const rel = (from: string, to: string): string => relative(from, to) || '.';

/** Slurm states -> LiveState (squeue's long names). */
function liveOf(state: string, restarts: number): LiveState['state'] {
  if (state === 'PENDING') return restarts > 0 ? 'requeued' : 'pending';
  if (state.startsWith('REQUEUE')) return 'requeued';
  if (['RUNNING', 'CONFIGURING', 'COMPLETING', 'SUSPENDED', 'RESIZING', 'SIGNALING', 'STAGE_OUT', 'STOPPED'].includes(state)) return 'running';
  return 'ended';
}

/** The sweep's tasks as squeue sees them, by point index (a live task over an ended one, then the newest job). */
function squeueTasks(sweep: SweepRecord, runsDir: string): Map<number, LiveState> {
  const r = slurm('squeue', [
    '--noheader', '--array', '--states=all', `--user=${userInfo().username}`, `--name=${jobName(runsDir, sweep.id)}`,
    '--Format=ArrayJobID:|,ArrayTaskID:|,State:|,RestartCnt:|,Reason:|',
  ]);
  if (r.status !== 0) throw new UserError(`squeue did not answer: ${slurmMessage(r.stderr)}. Check that the cluster's controller is up (sinfo), then run again.`);
  const out = new Map<number, LiveState & { jobNo: number }>();
  for (const line of r.stdout.split('\n')) {
    const [job, task, state, restarts, reason] = line.split('|').map((f) => f.trim());
    if (!/^\d+$/.test(job ?? '') || !/^\d+$/.test(task ?? '')) continue;
    const index = Number(task);
    const live = {
      state: liveOf(state, Number(restarts) || 0),
      job: `${job}_${task}`,
      jobNo: Number(job),
      log: join(sweepFolder(runsDir, sweep.id), logName(job, task)),
      detail: reason && reason !== 'None' ? `${state} (${reason})` : state,
    };
    const prev = out.get(index);
    const better = !prev || (isActive(live) && !isActive(prev)) || (isActive(live) === isActive(prev) && live.jobNo > prev.jobNo);
    if (better) out.set(index, live);
  }
  return new Map([...out].map(([i, { jobNo: _j, ...l }]) => [i, l]));
}

/** Points with a log in the sweep's folder but unknown to squeue (Slurm forgot the finished job). */
function loggedTasks(sweep: SweepRecord, runsDir: string): Map<number, LiveState> {
  const out = new Map<number, LiveState & { jobNo: number }>();
  const dir = sweepFolder(runsDir, sweep.id);
  if (!existsSync(dir)) return new Map();
  for (const f of readdirSync(dir)) {
    const m = /^(\d+)_(\d+)\.log$/.exec(f);
    if (!m) continue;
    const index = Number(m[2]);
    if ((out.get(index)?.jobNo ?? -1) < Number(m[1])) out.set(index, { state: 'ended', job: `${m[1]}_${m[2]}`, jobNo: Number(m[1]), log: join(dir, f) });
  }
  return new Map([...out].map(([i, { jobNo: _j, ...l }]) => [i, l]));
}

async function query(sweep: SweepRecord, runsDir: string): Promise<Map<number, LiveState>> {
  if (!existsSync(scriptPath(runsDir, sweep.id))) return new Map(); // never submitted to Slurm from here
  const live = squeueTasks(sweep, runsDir);
  for (const [i, l] of loggedTasks(sweep, runsDir)) if (!live.has(i)) live.set(i, l);
  return live;
}

/** Writes the batch script; an unwritable sweep folder is a UserError naming the fix. */
function writeScript(runsDir: string, id: string, text: string): string {
  const file = scriptPath(runsDir, id);
  try {
    mkdirSync(sweepFolder(runsDir, id), { recursive: true });
    writeAtomic(file, text);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? (e instanceof StorageError ? e.info.code : '');
    if (e instanceof StorageError || ['EACCES', 'EPERM', 'EROFS', 'ENOTDIR', 'ENOSPC', 'EDQUOT'].includes(code)) {
      throw new UserError(`cannot write the batch script into ${sweepFolder(runsDir, id)}: ${(e as Error).message.split('\n')[0]} ` +
        'The runs directory holds the sweep record, the batch script, the tasks\' logs and every run, and each node writes into it: ' +
        'pass --runs-dir DIR with a directory on the shared filesystem that you can write (and the nodes can too), or fix its permissions.');
    }
    throw e;
  }
  return file;
}

/** Polls squeue (and the run records, at the end) until no task of `job` is queued or running. */
async function waitFor(s: SweepSubmission, job: string, indices: number[]): Promise<number> {
  const said = new Map<number, string>();
  let delay = 1000;
  for (;;) {
    const live = squeueTasks(s.sweep, s.runsDir);
    let active = 0;
    for (const i of indices) {
      const l = live.get(i);
      const mine = l?.job?.startsWith(`${job}_`) ? l : undefined;
      if (isActive(mine)) active++;
      const word = mine ? `${mine.state}${mine.detail ? ` [${mine.detail}]` : ''}` : 'ended';
      if (said.get(i) !== word) s.report.info(`  ${s.sweep.id}/${i}: ${word}`);
      said.set(i, word);
    }
    if (!active) break;
    await sleep(delay);
    delay = Math.min(delay * 1.2, 30_000);
  }
  let failed = 0;
  for (const p of s.points.filter((q) => indices.includes(q.point.index))) {
    const st = await s.stateOf(p);
    if (st.state !== 'completed') {
      failed++;
      s.report.warn(`point ${s.sweep.id}/${p.point.index} did not complete (its log: ${join(sweepFolder(s.runsDir, s.sweep.id), logName(job, p.point.index))}); exp sweep status ${s.sweep.id} shows why, exp sweep submit ${s.sweep.id} runs it again.`);
    }
  }
  return failed;
}

async function submit(s: SweepSubmission): Promise<SubmitResult> {
  const { sweep, runsDir, settings } = s;
  if (settings.nodes === 'cluster') {
    const fs = localFilesystem(runsDir);
    if (fs) {
      throw new UserError(`the runs directory ${runsDir} is on a local filesystem (${fs}), which the other nodes of the cluster cannot see, so their tasks could neither read the sweep nor write their runs. ` +
        'Put the runs directory (and the checkout with the experiment and data) on the cluster\'s shared filesystem and pass it with --runs-dir, ' +
        'or, when every task runs on this machine (a one-node cluster, a workstation running Slurm), set launcher.nodes: this (--set launcher.nodes=this).');
    }
  }
  const live = await query(sweep, runsDir);
  const todo: number[] = [];
  let skipped = 0;
  for (const p of s.points) {
    const i = p.point.index;
    const st = await s.stateOf(p);
    const l = live.get(i);
    const head = `point ${i + 1}/${sweep.points.length} (${sweep.id}/${i}): ${fmtPoint(p.point.point)}`;
    if (st.state === 'completed') {
      s.report.info(`${head}\n  already completed with the same identity: ${st.dir} (skipped)`);
      skipped++;
    } else if (isActive(l)) {
      s.report.info(`${head}\n  already ${l!.state} as Slurm task ${l!.job} (skipped)`);
      skipped++;
    } else if (st.state === 'running') {
      s.report.info(`${head}\n  its run ${st.dir} says running, but no task of this sweep is queued or running: the task died without ending its record (killed, out of memory, a node failure); submitting it again`);
      todo.push(i);
    } else {
      todo.push(i);
    }
  }
  if (!todo.length) {
    s.report.info(`nothing to submit: every point of ${sweep.id} is completed, queued or running.`);
    return { submitted: 0, skipped, failed: 0 };
  }
  const { cwd } = sweepPaths(sweep, runsDir);
  if (!existsSync(cwd)) {
    throw new UserError(`sweep ${sweep.id} was defined from ${cwd} (${sweep.cwd} from the runs directory), which does not exist here, and its tasks start there. ` +
      'Submit it where the checkout and the runs directory sit side by side as they did when the sweep was defined, or define it again here (exp run <experiment> ... --launcher slurm).');
  }
  const runsRel = rel(cwd, runsDir);
  const resubmit = `exp sweep submit ${sweep.id} --runs-dir ${shellQuote(runsRel)}`;
  const script = writeScript(runsDir, sweep.id, renderScript({
    sweep: sweep.id,
    points: sweep.points.length,
    settings,
    jobName: jobName(runsDir, sweep.id),
    runsDir: runsRel,
    log: join(rel(cwd, sweepFolder(runsDir, sweep.id)), logName('%A', '%a')),
    exp: settings.exp ?? `"\${EXP_NODE:-node}" ${shellQuote(rel(cwd, BIN))}`,
    resubmit,
    pointArgs: s.pointArgs,
  }));
  const array = `${arrayIndices(todo)}${settings.parallelism ? `%${settings.parallelism}` : ''}`;
  const r = slurm('sbatch', ['--parsable', `--array=${array}`, rel(cwd, script)], { cwd });
  const job = /^(\d+)/.exec(r.stdout.trim())?.[1];
  if (r.status !== 0 || !job) {
    const msg = slurmMessage(r.stderr);
    throw new UserError(`Slurm refused the job array for sweep ${sweep.id}: ${msg}. ${sbatchFix(msg)} The batch script it was given: ${script}.`);
  }
  const logs = join(rel(process.cwd(), sweepFolder(runsDir, sweep.id)), logName(job, 'N'));
  s.report.info(`submitted ${todo.length} point${todo.length === 1 ? '' : 's'} of ${sweep.id} as Slurm job ${job} (--array=${array}); task N's log: ${logs}`);
  s.report.info(`follow it with: exp sweep status ${sweep.id} --runs-dir ${shellQuote(rel(process.cwd(), runsDir))}   (cancel: exp sweep cancel ${sweep.id})`);
  const failed = s.wait ? await waitFor(s, job, todo) : 0;
  return { submitted: todo.length, skipped, failed, job };
}

async function cancel(sweep: SweepRecord, runsDir: string): Promise<number> {
  const live = await query(sweep, runsDir);
  const jobs = [...live.values()].filter(isActive).map((l) => l.job!);
  if (!jobs.length) return 0;
  const r = slurm('scancel', jobs);
  if (r.status !== 0) throw new UserError(`scancel ${jobs.join(' ')} failed: ${slurmMessage(r.stderr)}. Check the jobs with squeue --me, then run again.`);
  return jobs.length;
}

export const slurmLauncher: Launcher = {
  submit,
  query,
  cancel,
  used: (sweep, runsDir) => existsSync(scriptPath(runsDir, sweep.id)),
};

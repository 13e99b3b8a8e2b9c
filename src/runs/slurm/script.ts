// The batch script of a sweep on Slurm, written into the sweep's folder (<runs>/.sweeps/<id>/job.sh)
// so that a user can read it and resubmit it by hand. One array task runs one point:
// `exp run --point <sweep>/$SLURM_ARRAY_TASK_ID`, which decides from the run records whether the
// point still needs running. Every path in it is relative to the directory the job is submitted
// from (the sweep's recorded working directory), so it holds no absolute path of this machine.
//
// Time limits: Slurm sends USR2 to the batch shell `signal_seconds` before the limit
// (--signal=B:USR2@N); the script forwards it to exp, which checkpoints model/last at the next
// step, marks the run interrupted and exits 140 (128 + SIGUSR2). Then the script requeues its own
// task (scontrol requeue, at most max_requeues times, counted by SLURM_RESTART_COUNT), and the
// requeued task's `exp run --point` resumes the run from that checkpoint.
import type { ExperimentConfig } from '../../config/types.gen.ts';

export type SlurmSettings = ExperimentConfig['launcher'];

/** The exit status of `exp run --point` after the warning signal: checkpointed, requeue it. */
export const PREEMPTED_EXIT = 140;

/** `[0, 3, 7, 8, 9]` -> `0,3,7-9` (sbatch --array's syntax). */
export function arrayIndices(indices: readonly number[]): string {
  const sorted = [...new Set(indices)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j] + 1) j++;
    parts.push(j === i ? `${sorted[i]}` : j === i + 1 ? `${sorted[i]},${sorted[j]}` : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}

/** A word for the shell, quoted only when it needs to be. */
export const shellQuote = (s: string): string => (/^[A-Za-z0-9_./:=@%+,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

/** `gpus: 1` -> `gpu:1`, `gpus: a100:2` -> `gpu:a100:2`; null for none. */
export function gres(gpus: SlurmSettings['gpus']): string | null {
  if (gpus === null || gpus === undefined || gpus === 0) return null;
  return `gpu:${gpus}`;
}

/** The #SBATCH options that come from the launcher block (the array itself is given at submission). */
export function sbatchOptions(s: SlurmSettings, o: { jobName: string; log: string }): string[] {
  const opts = [`--job-name=${o.jobName}`, `--output=${o.log}`, '--open-mode=append', '--requeue'];
  if (s.signal_seconds > 0) opts.push(`--signal=B:USR2@${s.signal_seconds}`);
  if (s.partition) opts.push(`--partition=${s.partition}`);
  if (s.time) opts.push(`--time=${s.time}`);
  if (s.cpus_per_task) opts.push(`--cpus-per-task=${s.cpus_per_task}`);
  if (s.mem) opts.push(`--mem=${s.mem}`);
  const g = gres(s.gpus);
  if (g) opts.push(`--gres=${g}`);
  if (s.account) opts.push(`--account=${s.account}`);
  if (s.qos) opts.push(`--qos=${s.qos}`);
  return [...opts, ...s.sbatch];
}

export interface ScriptInput {
  sweep: string;
  points: number;
  settings: SlurmSettings;
  jobName: string;
  /** Relative to the submission directory. */
  runsDir: string;
  /** The log pattern (with %A and %a), relative to the submission directory. */
  log: string;
  /** The command that runs exp, as shell words. */
  exp: string;
  /** More options for exp run --point (--backend ...). */
  pointArgs?: string[];
  /** What to tell a reader about resubmitting (the exp command). */
  resubmit: string;
}

export function renderScript(i: ScriptInput): string {
  const max = i.settings.max_requeues;
  const lines = [
    '#!/bin/bash',
    `# Sweep ${i.sweep} (${i.points} point${i.points === 1 ? '' : 's'}) on Slurm: array task n runs exp run --point ${i.sweep}/n.`,
    `# Written by exp at each submission; resubmit what is not completed with: ${i.resubmit}`,
    '# (by hand: sbatch --array=<points> this file, from the directory exp submitted it from).',
    ...sbatchOptions(i.settings, { jobName: i.jobName, log: i.log }).map((o) => `#SBATCH ${o}`),
    'set -u',
    ...(i.settings.setup.length ? ['# launcher.setup', ...i.settings.setup] : []),
    `runs=${shellQuote(i.runsDir)}`,
    `point=${i.sweep}/\${SLURM_ARRAY_TASK_ID:?submit this script with sbatch --array}`,
    'echo "exp: task ${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID} on $(hostname) (restart ${SLURM_RESTART_COUNT:-0}): exp run --point $point"',
    'child=',
    // Slurm signals the batch shell only (B:): pass the warning on to exp.
    'forward() { echo "exp: warning signal from Slurm: checkpointing $point"; [ -n "$child" ] && kill -USR2 "$child" 2>/dev/null; }',
    'trap forward USR2',
    `${i.exp} run --point "$point" --runs-dir "$runs"${(i.pointArgs ?? []).map((a) => ` ${shellQuote(a)}`).join('')} &`,
    'child=$!',
    // wait returns early when the trap runs; wait again until exp itself has ended
    'while kill -0 "$child" 2>/dev/null; do wait "$child"; done',
    'wait "$child"; rc=$?',
    `if [ "$rc" -eq ${PREEMPTED_EXIT} ]; then`,
    `  if [ "\${SLURM_RESTART_COUNT:-0}" -lt ${max} ]; then`,
    `    echo "exp: $point checkpointed before the time limit; requeueing it (requeue $(( \${SLURM_RESTART_COUNT:-0} + 1 )) of ${max})"`,
    '    scontrol requeue "${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}"',
    '  else',
    `    echo "exp: $point checkpointed, but it was requeued ${max} times already (launcher.max_requeues); continue it with: ${i.resubmit}"`,
    '  fi',
    'fi',
    'exit "$rc"',
  ];
  return `${lines.join('\n')}\n`;
}

// Slurm's commands as exp uses them: sbatch to submit one array, squeue for the live state of
// its tasks, scancel. Never sacct: clusters without accounting storage have none, and it lags
// squeue. A point's outcome comes from its run record; squeue only says what is queued or running
// now (and, while Slurm still remembers a finished task, how it ended).
import { spawnSync } from 'node:child_process';
import { UserError } from '../../errors.ts';

export interface SlurmCall {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a Slurm command; a missing command is a UserError naming the fix. */
export function slurm(cmd: 'sbatch' | 'squeue' | 'scancel', args: string[], o: { cwd?: string } = {}): SlurmCall {
  // a controller that does not answer makes Slurm's commands retry for a while; give up after a minute
  const r = spawnSync(cmd, args, { cwd: o.cwd, encoding: 'utf8', timeout: 60_000 });
  if (r.error) {
    const code = (r.error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new UserError(`${cmd} was not found on PATH: the slurm launcher submits and follows jobs with Slurm's own commands (sbatch, squeue, scancel). ` +
        'Run exp on a machine of the cluster that has them (a login node), load them first (e.g. module load slurm), or run the sweep here with --launcher local.');
    }
    throw new UserError(`${cmd} ${args.join(' ')} did not run: ${r.error.message}. Check that Slurm answers (sinfo), then run again.`);
  }
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** Slurm's own message, without its "sbatch: error:" prefixes. */
export const slurmMessage = (stderr: string): string =>
  stderr.split('\n').map((l) => l.replace(/^\w+: error: /, '').trim()).filter(Boolean).join('; ') || 'no message';

/**
 * The fix for what sbatch refused, from its message: the setting it most likely names. Slurm's
 * wording is stable across versions for these ("Invalid partition name specified", "Requested
 * time limit is invalid (missing or exceeds some limit)", "Invalid account or account/partition
 * combination specified", "Invalid qos specification", "Requested node configuration is not
 * available", "Invalid generic resource (gres) specification").
 */
export function sbatchFix(message: string): string {
  const m = message.toLowerCase();
  if (m.includes('array')) return "The cluster limits array indices (scontrol show config | grep MaxArraySize): split the sweep into smaller ones, or ask the administrators to raise MaxArraySize.";
  if (m.includes('partition')) return 'Set launcher.partition to one of the partitions `sinfo -s` lists (or null for the default one).';
  if (m.includes('time limit')) return "Set launcher.time within the partition's limit (`sinfo -o '%P %l'` shows each partition's TIMELIMIT), or pick a partition that allows it.";
  if (m.includes('account')) return 'Set launcher.account to an account you may charge (`sacctmgr show assoc user=$USER` or your cluster\'s documentation), or null.';
  if (m.includes('qos')) return 'Set launcher.qos to a QOS your account may use, or null.';
  if (m.includes('gres') || m.includes('generic resource')) return "Set launcher.gpus to what the nodes offer (`sinfo -o '%P %G'` lists each partition's generic resources), or choose a GPU partition.";
  if (m.includes('node configuration') || m.includes('memory') || m.includes('cpu')) {
    return "Ask for what one node has: launcher.cpus_per_task, launcher.mem and launcher.gpus (`sinfo -N -o '%N %c %m %G'` lists the nodes), or choose another partition.";
  }
  return 'Fix the launcher settings it names (launcher.partition, time, cpus_per_task, mem, gpus, account, qos, sbatch) and run again.';
}

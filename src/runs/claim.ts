// Exactly-once claims on a shared filesystem: before `exp run --point <sweep>/<n>` decides or
// trains, it creates <runs>/.sweeps/<id>/claims/<n>.lock exclusively (open 'wx', atomic on a local
// disk and on NFSv3+). The file holds who holds it (ClaimHolder, JSON). A second process that
// finds the file asks whether its holder is still alive:
//   1. the holder is an earlier run of the same scheduler job (a requeued Slurm task has the
//      same job id): it is gone, unless it is a live process on this very host;
//   2. the holder is on this host: alive while its pid exists and is the same process (Linux:
//      boot id and start time from /proc, so a reused pid or a reboot does not keep it alive);
//   3. the holder had a job id and `squeue -h -j <job> -o %T` answers: alive while the job is
//      RUNNING (or configuring, completing, suspended, stopped, signaling, resizing, staging out);
//      a job squeue does not know, or one pending, requeued or finished, has no process left;
//   4. otherwise (no squeue, the controller does not answer, no job id, another host): alive
//      while the holder's heartbeat is fresh. The holder touches the lock's mtime every
//      HEARTBEAT_MS through its open descriptor; a lock untouched for STALE_AFTER_MS (10 min,
//      ten heartbeats, generous against clock skew and a stalled NFS server) is stale.
// A stale lock is broken atomically: renamed aside to a unique name, and the renamed file's token
// compared with the one judged stale. Two breakers that judged the same lock cannot both win: the
// second one's rename takes the first one's new lock, whose token differs, so it links it back
// and retries (and then finds a live holder). The loser says who holds the point and exits 0.
// The holder releases the claim when the run ends in any way: it unlinks the lock, but only if
// the file at the path is still its own (same token).
import { closeSync, existsSync, fstatSync, futimesSync, linkSync, mkdirSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync, fsyncSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { UserError } from '../errors.ts';

/** What a lock file holds. */
export interface ClaimHolder {
  /** The scheduler's job: `<array job>_<task>` for a Slurm array task, else SLURM_JOB_ID; null outside a job. */
  job: string | null;
  host: string;
  pid: number;
  /** Linux: `<boot id>:<start time in ticks>` of the holder's process, so a reused pid is told apart. */
  proc: string | null;
  started: string;
  /** Random; identifies this lock file (breaking compares it). */
  token: string;
}

/** A held claim. */
export interface Claim {
  path: string;
  holder: ClaimHolder;
  /** How it was taken: a fresh lock, or one broken from a holder judged gone (why). */
  took: { broke: null } | { broke: ClaimHolder; why: string };
  /** Unlinks the lock if it is still this claim's; idempotent. */
  release(): void;
}

export type ClaimResult = { claimed: true; claim: Claim } | { claimed: false; holder: ClaimHolder; why: string };

/** What squeue said of a job: it has a live process, it has none, or there is no answer. */
export type JobState = 'active' | 'gone' | 'unknown';

export interface ClaimOptions {
  env?: NodeJS.ProcessEnv;
  host?: string;
  /** Asks the scheduler about a job (default: squeue). */
  jobState?: (job: string) => Promise<JobState>;
  heartbeatMs?: number;
  staleAfterMs?: number;
  /** Test hook: called after the holder of an existing lock was judged gone, before breaking it. */
  beforeBreak?: () => Promise<void> | void;
}

export const HEARTBEAT_MS = 60_000;
export const STALE_AFTER_MS = 10 * 60_000;

/** Slurm job states whose processes still run (squeue %T). */
const ACTIVE = new Set(['RUNNING', 'CONFIGURING', 'COMPLETING', 'SUSPENDED', 'STOPPED', 'SIGNALING', 'RESIZING', 'STAGE_OUT']);

/** The scheduler job this process runs in, as squeue -j accepts it; null outside one. */
export function currentJob(env: NodeJS.ProcessEnv = process.env): string | null {
  if (env.SLURM_ARRAY_JOB_ID && env.SLURM_ARRAY_TASK_ID) return `${env.SLURM_ARRAY_JOB_ID}_${env.SLURM_ARRAY_TASK_ID}`;
  return env.SLURM_JOB_ID || null;
}

/** `<boot id>:<start time>` of a local process (Linux /proc), null where that cannot be read. */
export function procIdentity(pid: number): string | null {
  try {
    const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the command name (field 2) may hold spaces and parentheses: fields after the last ')'
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return `${boot}:${fields[19]}`; // field 22 overall: starttime
  } catch {
    return null;
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by another user
  }
}

/** `squeue -h -j <job> -o %T`, 10 s at most. */
export function squeueState(job: string): Promise<JobState> {
  return new Promise((resolve) => {
    execFile('squeue', ['-h', '-j', job, '-o', '%T'], { timeout: 10_000 }, (err, stdout, stderr) => {
      if (err) {
        // a job purged from the controller's memory: "slurm_load_jobs error: Invalid job id specified"
        resolve(/invalid job id/i.test(String(stderr)) ? 'gone' : 'unknown');
        return;
      }
      const states = String(stdout).split('\n').map((s) => s.trim().toUpperCase()).filter(Boolean);
      resolve(states.some((s) => ACTIVE.has(s)) ? 'active' : 'gone');
    });
  });
}

/** The lock file's holder and mtime; null when there is none (or it is still being written: `torn`). */
export function readClaim(path: string): { holder: ClaimHolder | null; mtimeMs: number } | null {
  let text: string;
  let mtimeMs: number;
  try {
    mtimeMs = statSync(path).mtimeMs;
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  try {
    const h = JSON.parse(text) as ClaimHolder;
    if (typeof h.token === 'string' && typeof h.pid === 'number' && typeof h.host === 'string') return { holder: h, mtimeMs };
  } catch {
    // empty or torn: created, not yet written (or its writer died in between)
  }
  return { holder: null, mtimeMs };
}

/** Whether a lock's holder still runs, and why (the rules at the top of this file). */
export async function judgeHolder(h: ClaimHolder, mtimeMs: number, o: ClaimOptions = {}): Promise<{ alive: boolean; why: string }> {
  const host = o.host ?? hostname();
  const myJob = currentJob(o.env ?? process.env);
  const here = h.host === host;
  const liveHere = () => pidAlive(h.pid) && (h.proc === null || procIdentity(h.pid) === null || procIdentity(h.pid) === h.proc);
  if (h.job !== null && h.job === myJob && !(here && h.pid !== process.pid && liveHere())) {
    return { alive: false, why: `it is an earlier run of this job (${h.job}), requeued` };
  }
  if (here) return liveHere() ? { alive: true, why: `pid ${h.pid} is running on this host` } : { alive: false, why: `pid ${h.pid} is gone from ${h.host}` };
  if (h.job !== null) {
    const st = await (o.jobState ?? squeueState)(h.job);
    if (st === 'active') return { alive: true, why: `squeue lists job ${h.job} as running` };
    if (st === 'gone') return { alive: false, why: `squeue no longer lists job ${h.job} as running` };
  }
  const age = Date.now() - mtimeMs;
  const limit = o.staleAfterMs ?? STALE_AFTER_MS;
  return age > limit
    ? { alive: false, why: `its heartbeat stopped ${Math.round(age / 1000)} s ago (host ${h.host} cannot be asked)` }
    : { alive: true, why: `its heartbeat is ${Math.round(age / 1000)} s old` };
}

/**
 * Renames the lock aside and keeps it broken only if it is the one judged stale (`token`); a newer
 * lock taken meanwhile is linked back. Whether the stale lock was removed.
 */
export function breakClaim(path: string, token: string | null, mtimeMs: number): boolean {
  const aside = `${path}.stale-${randomBytes(4).toString('hex')}`;
  try {
    renameSync(path, aside);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false; // someone else broke or released it
    throw e;
  }
  const got = readClaim(aside);
  const same = token !== null ? got?.holder?.token === token : got?.holder === null && got.mtimeMs === mtimeMs;
  if (same) {
    unlinkSync(aside);
    return true;
  }
  // another breaker won and this rename took its fresh lock: put it back (link fails if the path is taken)
  try {
    linkSync(aside, path);
    unlinkSync(aside);
  } catch {
    // a third process took the path in between; the displaced lock is kept aside for inspection
  }
  return false;
}

/** How long a torn (empty) lock may stay so before its writer counts as dead. */
const TORN_MS = 60_000;

/** Claims `path` for this process, breaking a stale lock; see the top of this file. */
export async function acquireClaim(path: string, o: ClaimOptions = {}): Promise<ClaimResult> {
  const unwritable = (e: unknown) => new UserError(`cannot claim ${path}: ${(e as Error).message}. ` +
    'Every task that runs a point writes its claim and its run into the runs directory: make it writable there, or pass --runs-dir DIR.');
  try {
    mkdirSync(dirname(path), { recursive: true });
  } catch (e) {
    throw unwritable(e);
  }
  const host = o.host ?? hostname();
  let broke: { holder: ClaimHolder; why: string } | null = null;
  for (let attempt = 0; attempt < 50; attempt++) {
    const holder: ClaimHolder = {
      job: currentJob(o.env ?? process.env), host, pid: process.pid, proc: procIdentity(process.pid),
      started: new Date().toISOString(), token: randomBytes(8).toString('hex'),
    };
    let fd: number;
    try {
      fd = openSync(path, 'wx');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw unwritable(e);
      const cur = readClaim(path);
      if (!cur) continue; // released meanwhile
      if (!cur.holder) {
        if (Date.now() - cur.mtimeMs < TORN_MS) {
          await new Promise((r) => setTimeout(r, 50)); // being written
          continue;
        }
        await o.beforeBreak?.();
        breakClaim(path, null, cur.mtimeMs);
        continue;
      }
      const verdict = await judgeHolder(cur.holder, cur.mtimeMs, o);
      if (verdict.alive) return { claimed: false, holder: cur.holder, why: verdict.why };
      await o.beforeBreak?.();
      if (breakClaim(path, cur.holder.token, cur.mtimeMs)) broke = { holder: cur.holder, why: verdict.why };
      continue;
    }
    try {
      writeSync(fd, JSON.stringify(holder) + '\n');
      fsyncSync(fd);
    } catch (e) {
      closeSync(fd);
      unlinkSync(path);
      throw e;
    }
    return { claimed: true, claim: holdClaim(path, fd, holder, broke, o.heartbeatMs ?? HEARTBEAT_MS) };
  }
  throw new Error(`could not claim ${path}: it kept changing under 50 attempts`);
}

function holdClaim(path: string, fd: number, holder: ClaimHolder, broke: { holder: ClaimHolder; why: string } | null, heartbeatMs: number): Claim {
  // the descriptor's own inode: a lock broken and replaced meanwhile is not kept alive by this one
  const beat = setInterval(() => {
    try {
      const now = new Date();
      futimesSync(fd, now, now);
    } catch {
      // a failed heartbeat only makes the claim look older
    }
  }, heartbeatMs);
  beat.unref();
  let released = false;
  return {
    path,
    holder,
    took: broke ? { broke: broke.holder, why: broke.why } : { broke: null },
    release() {
      if (released) return;
      released = true;
      clearInterval(beat);
      try {
        const cur = readClaim(path);
        if (cur?.holder?.token === holder.token && fstatSync(fd).ino === statSync(path).ino) unlinkSync(path);
      } catch {
        // already gone
      } finally {
        closeSync(fd);
      }
    },
  };
}

/** The lock of point `n` of sweep `id`: <runs>/.sweeps/<id>/claims/<n>.lock. */
export const claimPath = (runsDir: string, id: string, n: number): string => join(runsDir, '.sweeps', id, 'claims', `${n}.lock`);

/** Who holds point `n` of sweep `id` now, and whether it is alive (for `exp sweep status`); null when nobody. */
export async function inspectClaim(runsDir: string, id: string, n: number, o: ClaimOptions = {}): Promise<{ holder: ClaimHolder | null; alive: boolean; why: string } | null> {
  const path = claimPath(runsDir, id, n);
  if (!existsSync(path)) return null;
  const cur = readClaim(path);
  if (!cur) return null;
  if (!cur.holder) return { holder: null, alive: Date.now() - cur.mtimeMs < TORN_MS, why: 'the lock is empty (being written, or its writer died)' };
  return { holder: cur.holder, ...(await judgeHolder(cur.holder, cur.mtimeMs, o)) };
}

/** The loser's line: who holds the point. */
export function claimedLine(ref: string, h: ClaimHolder): string {
  const job = h.job ? `job ${h.job} on ` : '';
  return `point ${ref} is claimed by ${job}${h.host} (pid ${h.pid}, since ${h.started}); not running it`;
}

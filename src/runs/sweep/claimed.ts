// One recorded point, run at most once at a time across every node (`exp run --point <sweep>/<n>`):
// the point is claimed first (runs/claim.ts: <runs>/.sweeps/<id>/claims/<n>.lock), then decided
// from the run records, and the claim is released however the run ends. With the claim held:
//   - a completed run of the point (its identity) means skip;
//   - a run that says running is skipped, unless this process broke a stale claim to get here:
//     then that run lost its process (killed outright: node failure, OOM, SIGKILL) and is
//     continued in its own directory (`--resume` semantics: from model/last, or from the start
//     when it has none);
//   - the newest interrupted run with a checkpoint (model/last/state.json: a preempted run saved
//     at its step, or one stopped after an epoch) is continued in its own directory, so a
//     requeued task picks up where the preempted one stopped;
//   - otherwise (missing, failed, interrupted before any checkpoint) the point runs in a fresh run.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { acquireClaim, claimPath, claimedLine, inspectClaim, type ClaimOptions } from '../claim.ts';
import { IdentityCache, configHash, runIdentity } from '../identity.ts';
import { listRuns } from '../read.ts';
import type { SweepRecord } from './define.ts';
import { skipLine, type LoadedPoint, type PointState, type SweepReporter } from './launcher.ts';

export interface ClaimedPointOptions {
  runsDir: string;
  report: SweepReporter;
  /** Runs the point: in a fresh run, or continuing the run in `continueDir`. */
  run(continueDir?: string): Promise<void>;
  /** The point's state from the run records (run.ts pointState). */
  state(): Promise<PointState>;
  identities?: IdentityCache;
  claim?: ClaimOptions;
}

/** The newest interrupted run of this point (its identity) that has a checkpoint to continue from. */
export async function interruptedRunOf(runsDir: string, rec: SweepRecord, p: LoadedPoint, ids: IdentityCache): Promise<string | null> {
  const hash = configHash(p.config, p.loaded.asWritten);
  const git = await ids.gitOf(dirname(p.loaded.files[p.loaded.files.length - 1]));
  const candidates = listRuns(runsDir).filter((r) => r.run && r.status === 'interrupted' && r.run.sweep?.id === rec.id &&
    r.run.config_hash === hash && r.run.git.sha === git.sha && r.run.git.patch_sha256 === git.patchSha &&
    existsSync(join(r.dir, 'model', 'last', 'state.json')));
  if (!candidates.length) return null;
  const identity = runIdentity({ configHash: hash, gitSha: git.sha, patchSha256: git.patchSha, dataFingerprint: await ids.dataOf(p.config) });
  const same = candidates.filter((r) => r.run!.identity === identity).sort((a, b) => b.run!.started.localeCompare(a.run!.started));
  return same[0]?.dir ?? null;
}

/** Claims point `n` of `rec`, decides it and runs it (see the top of this file); the claim is released at the end. */
export async function runClaimedPoint(rec: SweepRecord, p: LoadedPoint, o: ClaimedPointOptions): Promise<void> {
  const n = p.point.index;
  const ref = `${rec.id}/${n}`;
  const got = await acquireClaim(claimPath(o.runsDir, rec.id, n), o.claim);
  if (!got.claimed) return o.report.info(`${claimedLine(ref, got.holder)} (${got.why})`);
  const { claim } = got;
  try {
    if (claim.took.broke) {
      const h = claim.took.broke;
      o.report.info(`took over point ${ref} from ${h.job ? `job ${h.job} on ` : ''}${h.host} (pid ${h.pid}): ${claim.took.why}`);
    }
    const st = await o.state();
    const d = await decide(st, !!claim.took.broke, () => interruptedRunOf(o.runsDir, rec, p, o.identities ?? new IdentityCache()));
    if (d.action === 'skip') return o.report.info(skipLine(st)!);
    if (d.action === 'continue') o.report.info(`point ${ref}: continuing ${d.dir} (${st.state === 'running' ? 'its process is gone' : 'interrupted, with a checkpoint'})`);
    await o.run(d.action === 'continue' ? d.dir : undefined);
  } finally {
    claim.release();
  }
}

/**
 * What `exp run --point` would do with the point now, claiming and running nothing (--dry-run):
 * the same decision as runClaimedPoint, read from the claim and the run records.
 */
export async function pointDecision(rec: SweepRecord, p: LoadedPoint, o: Pick<ClaimedPointOptions, 'runsDir' | 'state' | 'identities' | 'claim'>): Promise<string> {
  const ref = `${rec.id}/${p.point.index}`;
  const held = await inspectClaim(o.runsDir, rec.id, p.point.index, o.claim);
  if (held?.alive && held.holder) return `${claimedLine(ref, held.holder)}: a task now would not run it`;
  const st = await o.state();
  // a task would break a stale claim to get in (runClaimedPoint's claim.took.broke)
  const d = await decide(st, !!held, () => interruptedRunOf(o.runsDir, rec, p, o.identities ?? new IdentityCache()));
  const stale = held ? ` (its claim is stale: ${held.why})` : '';
  if (st.state === 'completed') return `already completed: ${st.dir}; a task now would skip it`;
  if (st.state === 'running') {
    return d.action === 'continue' ? `${st.dir} says running but its claim is stale (${held!.why}); a task now would continue it there`
      : `running in ${st.dir} (no claim: started outside exp run --point?); a task now would skip it`;
  }
  return d.action === 'continue' ? `a task now would continue ${d.dir} from its checkpoint${stale}` : `a task now would run it in a fresh run directory${stale}`;
}

type Decision = { action: 'skip' } | { action: 'continue'; dir: string } | { action: 'fresh' };

/**
 * The one rule for a claimed point (see the top of this file): skip a completed run, and a running
 * one unless its stale claim was broken; continue that run, or the newest interrupted run with a
 * checkpoint; otherwise run fresh.
 */
async function decide(st: PointState, brokeStaleClaim: boolean, interrupted: () => Promise<string | null>): Promise<Decision> {
  if (st.state === 'completed' || (st.state === 'running' && !brokeStaleClaim)) return { action: 'skip' };
  const dir = st.state === 'running' ? st.dir : await interrupted();
  return dir ? { action: 'continue', dir } : { action: 'fresh' };
}

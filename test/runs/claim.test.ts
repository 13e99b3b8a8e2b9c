// Exactly-once claims (src/runs/claim.ts): an exclusive lock per point, its holder judged alive or
// gone (pid on this host, squeue for a job elsewhere, a heartbeat otherwise), a stale lock broken
// by exactly one of several racing processes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hostname, tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { UserError } from '../../src/errors.ts';
import { acquireClaim, breakClaim, currentJob, readClaim, type ClaimHolder, type ClaimResult } from '../../src/runs/claim.ts';

const tmp = (t: { after(fn: () => void): void }) => {
  const d = mkdtempSync(join(tmpdir(), 'exp-claim-'));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  return d;
};
/** The pid of a process that has exited. */
const deadPid = (): number => spawnSync(process.execPath, ['-e', '']).pid!;
const holder = (h: Partial<ClaimHolder>): ClaimHolder => ({
  job: null, host: hostname(), pid: deadPid(), proc: null, started: '2026-01-01T00:00:00.000Z', token: 'feedface', ...h,
});
const plant = (path: string, h: ClaimHolder) => writeFileSync(path, JSON.stringify(h) + '\n');
const claimed = (r: ClaimResult) => {
  assert.ok(r.claimed, r.claimed ? '' : `not claimed: ${r.why}`);
  return r.claim;
};

test('a claim is exclusive while its holder lives, holds who holds it, and is released by its holder only', async (t) => {
  const path = join(tmp(t), 'claims', '3.lock');
  const a = claimed(await acquireClaim(path, { env: { SLURM_ARRAY_JOB_ID: '1234', SLURM_ARRAY_TASK_ID: '3' } }));
  const onDisk = readClaim(path)!.holder!;
  assert.deepEqual(onDisk, a.holder);
  assert.deepEqual([onDisk.job, onDisk.host, onDisk.pid], ['1234_3', hostname(), process.pid]);
  assert.deepEqual(a.took, { broke: null });

  const b = await acquireClaim(path, { env: {} });
  assert.equal(b.claimed, false);
  assert.match(b.claimed ? '' : b.why, new RegExp(`pid ${process.pid} is running on this host`));
  a.release();
  assert.equal(existsSync(path), false);
  a.release(); // idempotent

  // a holder whose lock was broken and replaced does not remove the new holder's lock
  const c = claimed(await acquireClaim(path, { env: {} }));
  rmSync(path);
  plant(path, holder({ pid: process.pid, token: 'other' }));
  c.release();
  assert.equal(readClaim(path)!.holder!.token, 'other');
});

test('stale holders: a dead pid here, a reused pid, a job squeue no longer runs, a stopped heartbeat, an earlier run of the same job', async (t) => {
  const dir = tmp(t);
  const take = async (name: string, h: ClaimHolder, o: Parameters<typeof acquireClaim>[1] = {}) => {
    const path = join(dir, `${name}.lock`);
    plant(path, h);
    const r = await acquireClaim(path, { env: {}, ...o });
    if (r.claimed) r.claim.release();
    return r;
  };
  const dead = await take('dead', holder({}));
  assert.ok(dead.claimed && dead.claim.took.broke, 'a dead pid on this host is stale');
  assert.match(dead.claimed && dead.claim.took.broke ? dead.claim.took.why : '', /pid \d+ is gone/);
  assert.deepEqual(readdirSync(dir), [], 'the broken lock is not left behind');

  if (existsSync('/proc/self/stat')) {
    const reused = await take('reused', holder({ pid: process.pid, proc: 'another-boot:123' }));
    assert.ok(reused.claimed, 'a live pid that is another process (start time differs) is stale');
  }

  const elsewhere = holder({ host: 'node7', pid: 4242, job: '99_1' });
  const asked: string[] = [];
  const alive = await take('alive', elsewhere, { jobState: async (j) => (asked.push(j), 'active') });
  assert.equal(alive.claimed, false, 'squeue says the job runs');
  assert.deepEqual(asked, ['99_1']);
  assert.ok((await take('gone', elsewhere, { jobState: async () => 'gone' })).claimed, 'squeue says it does not');

  // no answer from squeue: the heartbeat (the lock's mtime) decides
  assert.equal((await take('fresh', elsewhere, { jobState: async () => 'unknown' })).claimed, false);
  const oldPath = join(dir, 'old.lock');
  plant(oldPath, elsewhere);
  const past = new Date(Date.now() - 3600_000);
  utimesSync(oldPath, past, past);
  const old = await acquireClaim(oldPath, { env: {}, jobState: async () => 'unknown', staleAfterMs: 600_000 });
  assert.ok(old.claimed && /heartbeat stopped/.test(old.claim.took.broke ? old.claim.took.why : ''));
  old.claim.release();

  const requeued = await take('requeued', elsewhere, { env: { SLURM_ARRAY_JOB_ID: '99', SLURM_ARRAY_TASK_ID: '1' }, jobState: async () => 'active' });
  assert.ok(requeued.claimed, 'a requeued task takes over its own job\'s claim although squeue lists the job as running');
  assert.equal(currentJob({ SLURM_JOB_ID: '7' }), '7');
  assert.equal(currentJob({}), null);
});

test('two breakers that judged the same stale lock: the second puts the first one\'s new lock back and loses', async (t) => {
  const path = join(tmp(t), 'race.lock');
  plant(path, holder({ token: 'stale0' }));
  let first: ClaimResult | undefined;
  // the second process judges the lock stale, then (before it breaks it) the first one breaks it and claims
  const second = await acquireClaim(path, { env: {}, beforeBreak: async () => {
    if (!first) first = await acquireClaim(path, { env: {} });
  } });
  const a = claimed(first!);
  assert.equal(second.claimed, false, 'only one wins');
  assert.equal(readClaim(path)!.holder!.token, a.holder.token, 'the winner\'s lock is in place');
  assert.deepEqual(readdirSync(join(path, '..')), ['race.lock'], 'nothing left aside');
  assert.equal(breakClaim(path, 'stale0', 0), false, 'a late break of the old lock changes nothing');
  assert.equal(readClaim(path)!.holder!.token, a.holder.token);
  a.release();
});

test('six processes racing for a point with a stale lock: exactly one claims it', async (t) => {
  const path = join(tmp(t), 'many.lock');
  plant(path, holder({ token: 'stale1' }));
  const claimTs = fileURLToPath(new URL('../../src/runs/claim.ts', import.meta.url));
  const script = `import { acquireClaim } from ${JSON.stringify(claimTs)};
    const r = await acquireClaim(${JSON.stringify(path)}, { env: {} });
    process.stdout.write(r.claimed ? 'claimed' : 'lost');
    await new Promise((res) => setTimeout(res, 1500)); // hold it while the others look
    if (r.claimed) r.claim.release();`;
  const outs = await Promise.all(Array.from({ length: 6 }, () => new Promise<string>((resolve, reject) => {
    const c = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    c.stdout.on('data', (d) => (out += d));
    c.on('error', reject);
    c.on('close', () => resolve(out));
  })));
  assert.deepEqual(outs.filter((o) => o === 'claimed').length, 1, outs.join(','));
  assert.deepEqual(outs.filter((o) => o === 'lost').length, 5, outs.join(','));
  assert.equal(existsSync(path), false, 'released by the winner');
});

test('a runs directory where the claim cannot be written is a UserError naming it', async (t) => {
  const dir = tmp(t);
  writeFileSync(join(dir, 'claims'), 'a file where the claims folder should be'); // fails for root too
  await assert.rejects(acquireClaim(join(dir, 'claims', '0.lock'), { env: {} }), (e) => e instanceof UserError && /cannot claim .*claims\/0\.lock: .*--runs-dir/.test(e.message));
});

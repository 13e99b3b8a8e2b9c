// Sweeps on a REAL Slurm: scripts/slurm-cluster.sh starts a one-machine cluster (munged, slurmctld,
// slurmd -N localhost) in a temporary folder once for this file; every test submits through
// `exp run --launcher slurm` / `exp sweep ...` as a user would. Skipped, with the reason, where
// Slurm or munge is not installed or the cluster does not start.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { exp, ROOT, SMOKE } from '../cli/helpers.ts';

function startCluster(): { env: Record<string, string>; dir: string } | { skip: string } {
  const r = spawnSync('bash', [join(ROOT, 'scripts/slurm-cluster.sh'), 'start'], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) return { skip: (r.stderr || r.error?.message || `exit ${r.status}`).trim() };
  const env = Object.fromEntries(r.stdout.trim().split('\n').map((l) => l.split('=', 2) as [string, string]));
  return { env, dir: env.EXP_SLURM_CLUSTER_DIR };
}

const cluster = startCluster();
const skip = 'skip' in cluster ? `no Slurm cluster: ${cluster.skip}` : false;
if (skip) process.stdout.write(`# slurm tests skipped: ${skip}\n`);
const env: Record<string, string> = 'env' in cluster ? { SLURM_CONF: cluster.env.SLURM_CONF } : {};
const cleanup: string[] = [];
after(() => {
  for (const d of cleanup) rmSync(d, { recursive: true, force: true });
  if ('dir' in cluster) spawnSync('bash', [join(ROOT, 'scripts/slurm-cluster.sh'), 'stop', cluster.dir]);
});

const json = (p: string) => JSON.parse(readFileSync(p, 'utf8'));
const runDirs = (runs: string) => (existsSync(runs) ? readdirSync(runs).filter((d) => !d.startsWith('.')).map((d) => join(runs, d)) : []);
const records = (runs: string) => runDirs(runs).map((d) => ({ dir: d, ...json(join(d, 'run.json')) }));

/** An experiment outside any git repository (a stable identity), its runs directory, and exp run's arguments. */
function workspace(extra: string[] = []) {
  const work = mkdtempSync(join(tmpdir(), 'exp-slurm-'));
  cpSync(join(ROOT, 'experiments/quickstart.yaml'), join(work, 'q.yaml'));
  const runs = join(work, 'runs');
  const base = [
    'run', 'q.yaml', ...SMOKE, '--set', `data.train=${join(ROOT, 'data/sample/train')}`, '--set', 'data.test=null', '--set', 'outputs.submission=false',
    '--backend', 'wasm', '--runs-dir', 'runs', '--launcher', 'slurm', ...extra,
  ];
  // every task runs on this machine, whose runs directory is on a local filesystem
  const args = [...base, '--set', 'launcher.nodes=this'];
  cleanup.push(work);
  return { work, runs, base, args, exp: (a: string[], o: { env?: Record<string, string> } = {}) => exp(a, { cwd: work, env: { ...env, ...o.env } }) };
}

const idOf = (out: string) => /sweep (sw-[0-9a-f]{12})/.exec(out)?.[1] ?? assert.fail(`no sweep id in: ${out}`);
const squeue = (args: string[]) => spawnSync('squeue', ['--noheader', ...args], { encoding: 'utf8', env: { ...process.env, ...env } }).stdout;

let grid: ReturnType<typeof workspace> | undefined;
let gridId = '';

test('a 2x2 sweep runs as one job array, and exp compare reads it', { skip }, async () => {
  grid = workspace(['--sweep', 'augment.color_jitter.enabled=false,true', '--sweep', 'seed=1,2']);
  const r = await grid.exp([...grid.args, '--wait']);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  gridId = idOf(r.stdout);
  assert.equal(r.stdout.match(/as Slurm job \d+/g)?.length, 1, r.stdout);
  const job = /as Slurm job (\d+) \(--array=0-3\)/.exec(r.stdout)?.[1];
  assert.ok(job, r.stdout);
  assert.match(r.stdout, new RegExp(`follow it with: exp sweep status ${gridId}`));
  const recs = records(grid.runs);
  assert.equal(recs.length, 4);
  assert.deepEqual(recs.map((x) => x.status), ['completed', 'completed', 'completed', 'completed']);
  assert.deepEqual(recs.map((x) => x.sweep.point_index).sort(), [0, 1, 2, 3]);
  assert.deepEqual(recs.map((x) => x.backend.name), ['wasm', 'wasm', 'wasm', 'wasm'], '--backend reaches the tasks');
  // the batch script and the tasks' logs are in the sweep's folder, and the script holds no absolute path
  const folder = join(grid.runs, '.sweeps', gridId);
  const script = readFileSync(join(folder, 'job.sh'), 'utf8');
  assert.match(script, /#SBATCH --signal=B:USR2@300/);
  assert.doesNotMatch(script.split('\n').filter((l) => !l.startsWith('#')).join('\n'), /(^|[\s"'=])\/(tmp|work|home)/m, script);
  for (let i = 0; i < 4; i++) assert.match(readFileSync(join(folder, `${job}_${i}.log`), 'utf8'), new RegExp(`exp run --point ${gridId}/${i}`));
  const def = json(join(grid.runs, '.sweeps', `${gridId}.json`));
  assert.equal(def.schema_version, 2);
  assert.equal(def.experiment, '../q.yaml');

  const cmp = await grid.exp(['compare', '--sweep', gridId, '--runs-dir', 'runs']);
  assert.equal(cmp.code, 0, cmp.stderr);
  assert.match(cmp.stdout, new RegExp(`answer: .*sweep ${gridId}`));
  assert.match(cmp.stdout, /color_jitter on vs off/);

  const ls = await grid.exp(['ls', '--sweep', gridId, '--runs-dir', 'runs']);
  assert.equal(ls.code, 0, ls.stderr);
  assert.match(ls.stdout, /scheduler\n/);
  for (let i = 0; i < 4; i++) assert.match(ls.stdout, new RegExp(`${gridId}/${i}  ended ${job}_${i}\\n`));
  const st = await grid.exp(['sweep', 'status', gridId.slice(0, 7), '--runs-dir', 'runs']);
  assert.equal(st.code, 0, st.stderr);
  assert.match(st.stdout, /4 points over augment\.color_jitter\.enabled, seed; 4 completed/);
  assert.equal(st.stdout.match(/completed\s+ended \(COMPLETED\)/g)?.length, 4, st.stdout);
});

test('submitting the same sweep again submits nothing', { skip }, async () => {
  assert.ok(grid, 'runs after the 2x2 sweep');
  const before = squeue(['--states=all', '--array', '-o', '%i']).split('\n').filter(Boolean).length;
  const r = await grid.exp(grid.args);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /nothing to submit/);
  assert.equal(r.stdout.match(/already completed with the same identity/g)?.length, 4, r.stdout);
  assert.equal(squeue(['--states=all', '--array', '-o', '%i']).split('\n').filter(Boolean).length, before, 'no job submitted');
  assert.equal(runDirs(grid.runs).length, 4);
});

test('a failed point is the only one resubmitted', { skip }, async () => {
  assert.ok(grid, 'runs after the 2x2 sweep');
  const two = records(grid.runs).find((x) => x.sweep.point_index === 2)!;
  const { dir: _d, ...rec } = two;
  writeFileSync(join(two.dir, 'run.json'), JSON.stringify({ ...rec, status: 'failed', error: { message: 'out of memory' } }));
  // point 1's record says running though its task has ended: a task killed without ending its record
  const one = records(grid.runs).find((x) => x.sweep.point_index === 1)!;
  const { dir: _o, ...oneRec } = one;
  writeFileSync(join(one.dir, 'run.json'), JSON.stringify({ ...oneRec, status: 'running', finished: null }));
  const st = await grid.exp(['sweep', 'status', gridId, '--runs-dir', 'runs']);
  assert.match(st.stdout, new RegExp(`${gridId}/2 .* failed`), st.stdout);
  assert.match(st.stdout, new RegExp(`${gridId}/1 .* running\\? \\(its task is gone`), st.stdout);
  assert.match(st.stdout, new RegExp(`exp sweep submit ${gridId}`));
  // without an answer from squeue, the states still come from the run records
  writeFileSync(join(grid.work, 'empty.conf'), ''); // squeue fails at once (a missing file it retries for a minute)
  const blind = await grid.exp(['sweep', 'status', gridId, '--runs-dir', 'runs'], { env: { SLURM_CONF: join(grid.work, 'empty.conf') } });
  assert.equal(blind.code, 0, blind.stderr);
  assert.match(blind.stderr, /note: no live state from the slurm launcher: squeue did not answer/);
  assert.match(blind.stdout, new RegExp(`${gridId}/2 .* failed`));
  writeFileSync(join(one.dir, 'run.json'), JSON.stringify(oneRec));
  const r = await grid.exp(['sweep', 'submit', gridId, '--runs-dir', 'runs', '--wait']);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.match(r.stdout, /submitted 1 point of .* as Slurm job \d+ \(--array=2\)/, r.stdout);
  const recs = records(grid.runs);
  assert.equal(recs.length, 5);
  const again = recs.filter((x) => x.sweep.point_index === 2 && x.status === 'completed');
  assert.equal(again.length, 1);
  assert.equal(again[0].identity, two.identity, 'the same point');
});

/** Waits until `n` runs exist and the newest has a first epoch in its history. */
async function training(runs: string, n: number): Promise<void> {
  for (let i = 0; ; i++) {
    const dirs = runDirs(runs);
    const h = (d: string) => existsSync(join(d, 'history.jsonl')) && readFileSync(join(d, 'history.jsonl'), 'utf8').trim() !== '';
    if (dirs.length >= n && dirs.filter(h).length >= n) return;
    if (i > 600) assert.fail(`no run ${n} training: ${squeue(['--states=all', '-O', 'JobID,State,RestartCnt,Reason'])}`);
    await sleep(100);
  }
}

test('a requeued task is reported as requeued; a scancelled one as interrupted and cancelled, and a resubmission completes it', { skip }, async () => {
  // one experiment without a sweep is a one-point array; long enough to be requeued and cancelled
  // mid-training (with the loader in its own thread, 5 epochs could end before the cancel arrived)
  const w = workspace(['--set', 'train.epochs=20', '--set', 'train.max_steps_per_epoch=8']);
  const r = await w.exp(w.args);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const id = idOf(r.stdout);
  assert.match(r.stdout, /submitted 1 point of .* \(--array=0\)/);
  const job = /as Slurm job (\d+)/.exec(r.stdout)![1];
  await training(w.runs, 1);
  // Slurm requeues it (as preemption or an admin would): exp is stopped, the task waits to run again
  const rq = spawnSync('scontrol', ['requeue', `${job}_0`], { encoding: 'utf8', env: { ...process.env, ...env } });
  assert.equal(rq.status, 0, rq.stderr);
  let st;
  for (let i = 0; ; i++) {
    st = await w.exp(['sweep', 'status', id, '--runs-dir', 'runs']);
    if (/requeued PENDING/.test(st.stdout)) break;
    if (i > 40) assert.fail(`not reported as requeued: ${st.stdout}${st.stderr}`);
    await sleep(200);
  }
  assert.match(st.stdout, new RegExp(`${id}/0 .*requeued PENDING.* ${job}_0 `));
  // it runs again (the requeued task's exp run --point: a fresh run, or the same one continued from
  // its checkpoint where SIGTERM saves one), then is cancelled mid-training
  for (let i = 0; ; i++) {
    const again = /^RUNNING\|1\|/m.test(squeue(['--jobs', job, '--states=all', '-O', 'State:|,RestartCnt:|']));
    if (again && records(w.runs).some((x) => x.status === 'running')) break;
    if (i > 600) assert.fail(`the requeued task did not run again: ${squeue(['--states=all', '-O', 'JobID,State,RestartCnt,Reason'])}`);
    await sleep(100);
  }
  await sleep(1000);
  const c = await w.exp(['sweep', 'cancel', id, '--runs-dir', 'runs']);
  assert.equal(c.code, 0, c.stderr);
  assert.match(c.stdout, /cancelled 1 task/);
  for (let i = 0; ; i++) {
    st = await w.exp(['sweep', 'status', id, '--runs-dir', 'runs']);
    if (/interrupted\s+ended \(CANCELLED/.test(st.stdout)) break;
    if (i > 40) assert.fail(`not reported as interrupted and cancelled: ${st.stdout}${st.stderr}`);
    await sleep(250);
  }
  assert.match(st.stdout, /1 interrupted/);
  assert.match(st.stdout, new RegExp(`exp sweep submit ${id}`));
  const again = await w.exp(['sweep', 'submit', id, '--runs-dir', 'runs', '--wait']);
  assert.equal(again.code, 0, again.stderr + again.stdout);
  assert.match(again.stdout, /submitted 1 point/);
  const done = records(w.runs).filter((x) => x.status === 'completed');
  assert.equal(done.length, 1, JSON.stringify(records(w.runs).map((x) => x.status)));
  assert.equal(done[0].sweep.id, id);
  const final = await w.exp(['sweep', 'status', id, '--runs-dir', 'runs']);
  assert.match(final.stdout, /1 completed/);
});

test('--wait exits 1 when a point fails on the node, and exp sweep status says it failed', { skip }, async () => {
  // the file's data path is valid (so the sweep validates); the swept one is an empty folder, which only the point's index stage finds out
  const work = mkdtempSync(join(tmpdir(), 'exp-slurm-fail-'));
  cleanup.push(work);
  mkdirSync(join(work, 'exp'));
  mkdirSync(join(work, 'data', 'sample'), { recursive: true });
  mkdirSync(join(work, 'empty'));
  symlinkSync(join(ROOT, 'data/sample/train'), join(work, 'data', 'sample', 'train'));
  cpSync(join(ROOT, 'experiments/quickstart.yaml'), join(work, 'exp', 'q.yaml'));
  const r = await exp(['run', 'exp/q.yaml', ...SMOKE, '--set', 'data.test=null', '--set', 'outputs.submission=false', '--backend', 'wasm', '--runs-dir', 'runs',
    '--sweep', `data.train=${join(work, 'empty')}`, '--launcher', 'slurm', '--set', 'launcher.nodes=this', '--wait'], { cwd: work, env });
  assert.equal(r.code, 1, r.stderr + r.stdout);
  const id = idOf(r.stdout);
  assert.match(r.stdout, new RegExp(`${id}/0: ended \\[FAILED`));
  assert.match(r.stderr, new RegExp(`point ${id}/0 did not complete \\(its log: .*\\); exp sweep status ${id} shows why`));
  const st = await exp(['sweep', 'status', id, '--runs-dir', 'runs'], { cwd: work, env });
  assert.match(st.stdout, new RegExp(`${id}/0 .* failed\\s+ended \\(FAILED`), st.stdout);
});

test('slurm errors name the fix: no sbatch, a refused partition or time limit, an unwritable or local runs directory', { skip }, async () => {
  const w = workspace();
  // sbatch not on PATH (git and node still are)
  const bin = join(w.work, 'bin');
  mkdirSync(bin);
  for (const tool of ['git', 'node']) {
    const found = spawnSync('bash', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim();
    if (found) symlinkSync(found, join(bin, tool));
  }
  const none = await w.exp(w.args, { env: { PATH: bin } });
  assert.equal(none.code, 2, none.stderr);
  assert.match(none.stderr, /sbatch was not found on PATH: .*--launcher local/);

  const part = await w.exp([...w.args, '--set', 'launcher.partition=gpu-nope']);
  assert.equal(part.code, 2, part.stderr);
  assert.match(part.stderr, /Slurm refused the job array for sweep .*Invalid partition name specified\. Set launcher\.partition to one of the partitions `sinfo -s` lists/);
  const time = await w.exp([...w.args, '--set', 'launcher.partition=short', '--set', 'launcher.time=02:00:00']);
  assert.equal(time.code, 2, time.stderr);
  assert.match(time.stderr, /Requested time limit is invalid .*Set launcher\.time within the partition's limit/);

  const ro = await w.exp(w.args.map((a) => (a === 'runs' ? '/sys/exp-slurm-runs' : a)));
  assert.equal(ro.code, 2, ro.stderr);
  assert.match(ro.stderr, /cannot define sweep .* in \/sys\/exp-slurm-runs: .*pass --runs-dir DIR/);

  // nodes: cluster (the default) refuses a runs directory only this machine sees
  const local = await w.exp(w.base);
  const fs = spawnSync('stat', ['-f', '-c', '%T', dirname(w.runs)], { encoding: 'utf8' }).stdout.trim();
  if (/ext|xfs|btrfs|tmpfs|overlay/.test(fs)) {
    assert.equal(local.code, 2, local.stderr);
    assert.match(local.stderr, /is on a local filesystem .* set launcher\.nodes: this/);
  }
  assert.equal(squeue(['--name=nothing-here']), '');
});

// The training side of the warning signal (checkpoint at the next step, record interrupted by
// SIGUSR2, exit 140, `exp run --point` resuming mid-epoch) is the run lifecycle's; until it is
// there this test skips.
const usr2 = /SIGUSR2: 140/.test(readFileSync(join(ROOT, 'src/errors.ts'), 'utf8'));
test('the warning signal checkpoints, requeues through Slurm, resumes and ends identical to an uninterrupted run', { skip: skip || (!usr2 && 'exp does not end a run on SIGUSR2 with exit 140 yet (src/errors.ts)') }, async () => {
  const long = ['--set', 'train.epochs=4', '--set', 'train.max_steps_per_epoch=8'];
  const w = workspace(long);
  const r = await w.exp(w.args);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const id = idOf(r.stdout);
  const job = /as Slurm job (\d+)/.exec(r.stdout)![1];
  await training(w.runs, 1);
  // what --signal=B:USR2@N does at the time limit: USR2 to the batch shell only
  const sig = spawnSync('scancel', ['--batch', '--signal=USR2', `${job}_0`], { encoding: 'utf8', env: { ...process.env, ...env } });
  assert.equal(sig.status, 0, sig.stderr);
  let rec;
  for (let i = 0; ; i++) {
    rec = records(w.runs).find((x) => x.status === 'completed');
    if (rec) break;
    if (i > 600) assert.fail(`not completed after the requeue: ${JSON.stringify(records(w.runs).map((x) => x.status))} ${squeue(['--states=all', '-O', 'JobID,State,RestartCnt'])}`);
    await sleep(100);
  }
  const log = readFileSync(join(w.runs, '.sweeps', id, `${job}_0.log`), 'utf8');
  assert.match(log, /warning signal from Slurm/);
  assert.match(log, /requeueing it \(requeue 1 of 3\)/);
  assert.match(squeue(['--jobs', job, '--states=all', '-O', 'RestartCnt']), /\b1\b/);
  // the same point trained here without interruption
  const local = w.args.map((a) => (a === 'runs' ? 'plain' : a)).filter((a, i, all) => a !== '--launcher' && all[i - 1] !== '--launcher');
  const plain = await exp(local, { cwd: w.work });
  assert.equal(plain.code, 0, plain.stderr);
  const ref = runDirs(join(w.work, 'plain'))[0];
  assert.equal(readFileSync(join(rec.dir, 'metrics.json'), 'utf8'), readFileSync(join(ref, 'metrics.json'), 'utf8'));
});

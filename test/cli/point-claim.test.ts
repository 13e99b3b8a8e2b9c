// `exp run --point` on a shared runs directory: the point is claimed first, so a second task for
// the same point says who has it and exits 0 without training; a preempted point (SIGUSR2) exits
// 140 and releases its claim, and the next task for it (a requeue) continues the same run
// directory from its mid-epoch checkpoint, taking over a stale claim left by a dead process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { hostname, tmpdir } from 'node:os';
import { exp, ROOT, SMOKE } from './helpers.ts';
import { parseSweepArg, writeSweepRecord } from '../../src/runs/sweep/define.ts';
import { prepareExperiment } from '../../src/runs/sweep/run.ts';
import { claimPath } from '../../src/runs/claim.ts';

const json = (p: string) => JSON.parse(readFileSync(p, 'utf8'));
const runDirs = (runs: string) => readdirSync(runs).filter((d) => !d.startsWith('.')).map((d) => join(runs, d));

test('two tasks for one point train it once; a preempted point is continued in its own run by the next task', async () => {
  // outside any git repository, so the identity does not change when the checkout is edited meanwhile
  const work = mkdtempSync(join(tmpdir(), 'exp-claim-'));
  cpSync(join(ROOT, 'experiments/quickstart.yaml'), join(work, 'q.yaml'));
  const runs = join(work, 'runs');
  const sets = [...SMOKE, '--set', 'train.epochs=2', '--set', 'train.max_steps_per_epoch=8', '--set', 'train.batch_size=8',
    '--set', `data.train=${join(ROOT, 'data/sample/train')}`, '--set', 'data.test=null', '--set', 'outputs.submission=false']
    .filter((a) => a !== '--set');
  const job = prepareExperiment(join(work, 'q.yaml'), sets, [parseSweepArg('seed=3').axis!]);
  const id = writeSweepRecord(runs, job.sweep!.record).id;
  const point = ['run', '--point', `${id}/0`, '--runs-dir', runs, '--backend', 'wasm'];

  // task A trains; while it is stopped mid-epoch (SIGSTOP) task B for the same point finds the claim
  let b: Awaited<ReturnType<typeof exp>> | undefined;
  let seen = false;
  const a = exp(point, {
    onStdout: (out) => {
      if (seen || !/epoch 1\/2 {2}step \d+\/8/.test(out)) return;
      seen = true;
      a.child.kill('SIGSTOP');
      void exp([...point, '--quiet']).then((r) => {
        b = r;
        a.child.kill('SIGUSR2'); // pending until it runs again
        a.child.kill('SIGCONT');
      });
    },
  });
  const ra = await a;
  assert.ok(b, `task B never ran:\n${ra.stdout}\n${ra.stderr}`);
  assert.equal(b.code, 0, b.stderr);
  assert.match(b.stdout, new RegExp(`point ${id}/0 is claimed by ${hostname()} \\(pid ${a.child.pid}, since .*\\); not running it`));
  assert.equal(ra.code, 140, ra.stdout + ra.stderr);
  const [dir] = runDirs(runs);
  assert.equal(runDirs(runs).length, 1, 'B made no run');
  assert.equal(json(join(dir, 'run.json')).status, 'interrupted');
  const step = json(join(dir, 'model', 'last', 'state.json')).in_epoch.step;
  assert.ok(step > 0);
  assert.equal(existsSync(claimPath(runs, id, 0)), false, 'the preempted task released its claim');

  // a stale claim (its process died without releasing it) is taken over; the interrupted run continues
  const dead = spawnSync(process.execPath, ['-e', '']).pid;
  writeFileSync(claimPath(runs, id, 0), JSON.stringify({ job: null, host: hostname(), pid: dead, proc: null, started: new Date().toISOString(), token: 'dead' }));
  const c = await exp([...point, '--quiet']);
  assert.equal(c.code, 0, c.stderr + c.stdout);
  assert.match(c.stdout, new RegExp(`took over point ${id}/0 from ${hostname()} \\(pid ${dead}\\): pid ${dead} is gone`));
  assert.match(c.stdout, new RegExp(`continuing ${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(interrupted, with a checkpoint\\)`));
  assert.deepEqual(runDirs(runs), [dir], 'the same run continues');
  assert.equal(json(join(dir, 'run.json')).status, 'completed');
  assert.match(readFileSync(join(dir, 'log.txt'), 'utf8'), new RegExp(`resuming epoch 1 at step ${step}`));
  assert.deepEqual(readFileSync(join(dir, 'history.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).epoch), [1, 2]);
  assert.equal(existsSync(claimPath(runs, id, 0)), false, 'released after completing');

  const again = await exp([...point, '--quiet']);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /already completed with the same identity/);
});

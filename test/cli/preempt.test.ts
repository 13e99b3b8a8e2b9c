// Preemption: SIGUSR2 (what a cluster's batch script forwards before a time limit) or SIGTERM
// (what Slurm sends before SIGKILL) mid-epoch makes `exp run` save model/last at the next step
// boundary, mark the run interrupted with the signal and exit 128+signal; `exp run --resume`
// continues from that step and ends bit-identical to an uninterrupted run on wasm.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { exp, SMOKE } from './helpers.ts';
import { resultHashes } from './determinism-hashes.ts';

const json = (p: string) => JSON.parse(readFileSync(p, 'utf8'));
const history = (dir: string) => readFileSync(join(dir, 'history.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
// two epochs of 8 steps: the signal is sent at the first progress line of epoch 1 (the plain
// renderer shows the first at once, later ones every 10 s), so it lands inside epoch 1
const base = ['run', 'experiments/quickstart.yaml', ...SMOKE, '--set', 'train.epochs=2', '--set', 'train.max_steps_per_epoch=8',
  '--set', 'train.batch_size=8', '--backend', 'wasm'];

/** Starts a run and sends `signals` once it reports its first training step. */
async function preempted(runs: string, ...signals: NodeJS.Signals[]) {
  let sent = false;
  const p = exp([...base, '--runs-dir', runs], {
    onStdout: (out) => {
      if (!sent && /epoch 1\/2 {2}step \d+\/8/.test(out)) {
        sent = true;
        for (const s of signals) p.child.kill(s);
      }
    },
  });
  const r = await p;
  assert.ok(sent, `no progress line seen:\n${r.stdout}\n${r.stderr}`);
  const [dir] = readdirSync(runs).map((d) => join(runs, d));
  return { ...r, dir };
}

test('SIGUSR2 mid-epoch saves model/last at the step reached, exits 140, and a resume ends identical to an uninterrupted run', async () => {
  const straight = mkdtempSync(join(tmpdir(), 'exp-straight-'));
  const s = await exp([...base, '--runs-dir', straight, '--quiet']);
  assert.equal(s.code, 0, s.stderr);

  const runs = mkdtempSync(join(tmpdir(), 'exp-usr2-'));
  const r = await preempted(runs, 'SIGUSR2');
  assert.equal(r.code, 140, r.stdout + r.stderr);
  const run = json(join(r.dir, 'run.json'));
  assert.equal(run.status, 'interrupted');
  assert.deepEqual([run.error.signal, run.error.stage], ['SIGUSR2', 'train']);
  const state = json(join(r.dir, 'model', 'last', 'state.json'));
  assert.equal(state.epoch, 0, 'inside the first epoch');
  assert.ok(state.in_epoch.step > 0 && state.in_epoch.step < 8, `stopped at step ${state.in_epoch.step}`);
  assert.equal(state.in_epoch.loss_sums.length, 4, 'three levels and the total');
  assert.match(readFileSync(join(r.dir, 'log.txt'), 'utf8'), /saved model\/last at epoch 1, step \d\/8 before stopping/);

  const dry = await exp(['run', '--resume', r.dir, '--runs-dir', runs, '--dry-run']);
  assert.match(dry.stdout, new RegExp(`would resume ${r.dir} from model/last \\(after epoch 0, at step ${state.in_epoch.step} of epoch 1\\) on backend wasm\n$`));
  const resumed = await exp(['run', '--resume', r.dir, '--runs-dir', runs, '--quiet']);
  assert.equal(resumed.code, 0, resumed.stderr + resumed.stdout);
  assert.match(readFileSync(join(r.dir, 'log.txt'), 'utf8'), new RegExp(`resuming epoch 1 at step ${state.in_epoch.step}`));
  assert.equal(json(join(r.dir, 'run.json')).status, 'completed');
  assert.deepEqual(history(r.dir).map((h) => h.epoch), [1, 2], 'each epoch once');
  const [sdir] = readdirSync(straight).map((d) => join(straight, d));
  assert.deepEqual(resultHashes(r.dir), resultHashes(sdir));
  assert.equal(readFileSync(join(r.dir, 'model', 'last', 'weights.bin')).equals(readFileSync(join(sdir, 'model', 'last', 'weights.bin'))), true, 'the same final weights');
});

test('SIGTERM mid-epoch (Slurm before SIGKILL) also saves at the step reached and exits 143; SIGINT keeps the last epoch\'s checkpoint', async () => {
  const term = await preempted(mkdtempSync(join(tmpdir(), 'exp-term-')), 'SIGTERM');
  assert.equal(term.code, 143, term.stdout + term.stderr);
  assert.equal(json(join(term.dir, 'run.json')).error.signal, 'SIGTERM');
  assert.ok(json(join(term.dir, 'model', 'last', 'state.json')).in_epoch.step > 0);

  const int = await preempted(mkdtempSync(join(tmpdir(), 'exp-int-')), 'SIGINT');
  assert.equal(int.code, 130, int.stdout + int.stderr);
  assert.equal(json(join(int.dir, 'run.json')).error.signal, 'SIGINT');
  assert.deepEqual(readdirSync(join(int.dir)).includes('model') ? readdirSync(join(int.dir, 'model')).filter((n) => n === 'last') : [], [],
    'Ctrl-C in the first epoch writes no checkpoint');
});

// The one run lifecycle seen from outside: `exp predict` and `exp ensemble` record their stages
// like `exp run`, and a Ctrl-C ends them with exit 130 and a record that says which stage was
// interrupted (the exp binary in a child process, as a user runs it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { exp, SMOKE } from '../cli/helpers.ts';
import { createRun } from '../../src/runs/record.ts';
import { readRun } from '../../src/runs/read.ts';
import { writeNpy } from '../../src/eval/npy.ts';
import { topK } from '../../src/eval/metrics.ts';
import { validateRun, schemaErrors, type RunJson } from '../../src/runs/schemas.ts';
import { runEnsemble } from '../../src/stages/run-ensemble.ts';
import { runOptions } from '../runs/helpers.ts';

const runJson = (dir: string): RunJson => {
  const json: unknown = JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8'));
  assert.ok(validateRun(json), schemaErrors('run'));
  return json;
};
const stages = (dir: string) => runJson(dir).stages.map((s) => [s.name, s.status]);

/** A completed member run whose `splits` hold `rows` x `cols` random logits of one level (labels on val). */
async function member(runsDir: string, seed: number, rows: number, cols: number, splits: string[]): Promise<string> {
  const record = await createRun(runOptions(runsDir, runsDir, { name: `m${seed}`, seed }));
  let x = seed * 7919;
  const rand = () => ((x = (x * 1103515245 + 12345) % 2147483648) / 2147483648) * 4 - 2;
  const ids = Array.from({ length: rows }, (_v, i) => i + 1);
  const classes = Array.from({ length: cols }, (_v, c) => c);
  for (const split of splits) {
    const scores = Float32Array.from({ length: rows * cols }, rand);
    const dir = record.predictionsDir(split, 1);
    await writeNpy(join(dir, 'species.npy'), scores, { dtype: 'float32', cols });
    await writeNpy(join(dir, 'species.top5.npy'), topK(scores, rows, cols, 5), { dtype: 'int32', cols: 5 });
    record.writePredictionIndex({
      split, ids, labels: { species: split === 'val' ? ids.map((i) => i % cols) : null }, classes: { species: classes },
      tta: 1, reduce: 'logits', dtype: 'float32', scores: 'logits', rows, levels: ['species'],
    });
    record.addPredictions({ split, tta: 1, reduce: 'logits', default: true });
  }
  record.complete();
  return record.dir;
}

test('exp ensemble records its blend and submission stages and completes', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'exp-lifecycle-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const members = [await member(join(root, 'runs'), 1, 40, 7, ['val', 'test']), await member(join(root, 'runs'), 2, 40, 7, ['val', 'test'])];
  const r = await runEnsemble({ views: members.map((d) => readRun(d)), method: 'logits', outDir: join(root, 'out'), argv: ['ensemble'], cwdForGit: root });
  assert.equal(runJson(r.record.dir).status, 'completed');
  assert.deepEqual(stages(r.record.dir), [['blend:val', 'completed'], ['blend:test', 'completed'], ['submission', 'completed']]);
  assert.equal(r.submission, join(r.record.dir, 'submission.csv'));
  assert.equal(readFileSync(r.submission, 'utf8').trim().split('\n').length, 41);
  const extra = JSON.parse(readFileSync(join(r.record.dir, 'ensemble.json'), 'utf8'));
  assert.deepEqual(extra.members.map((m: { metrics: unknown }) => Object.keys(m.metrics as object)), [['val'], ['val']]);
});

test('Ctrl-C during exp ensemble: exit 130, the run and its running stage interrupted, nothing later started', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'exp-lifecycle-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  // big enough (2 x 32 MB) that blending outlasts the signal's trip
  const members = [await member(join(root, 'runs'), 1, 20_000, 400, ['val']), await member(join(root, 'runs'), 2, 20_000, 400, ['val'])];
  const out = join(root, 'out');
  const p = exp(['ensemble', ...members, '--logits', '--out', out], {
    onStdout: (s) => {
      if (/\[STARTED\] Blend/.test(s) && !p.child.killed) p.child.kill('SIGINT');
    },
  });
  const r = await p;
  assert.equal(r.code, 130, r.stdout + r.stderr);
  assert.match(r.stderr, /^error: interrupted by SIGINT: the ensemble run .* is marked interrupted; run the same exp ensemble again/m);
  const [dir] = readdirSync(out).map((d) => join(out, d));
  const run = runJson(dir);
  assert.equal(run.status, 'interrupted');
  assert.deepEqual(run.error, { message: 'interrupted by SIGINT', stage: 'blend:val', type: 'InterruptedError', signal: 'SIGINT' });
  assert.deepEqual(stages(dir), [['blend:val', 'interrupted']]);
  assert.deepEqual(run.predictions, [], 'no prediction set is listed that was not finished');
});

test('Ctrl-C during exp predict: exit 130, the stage interrupted, the trained run still completed and unchanged', async (t) => {
  const runs = mkdtempSync(join(tmpdir(), 'exp-lifecycle-'));
  t.after(() => rmSync(runs, { recursive: true, force: true }));
  const trained = await exp(['run', 'experiments/quickstart.yaml', ...SMOKE, '--set', 'data.test=null', '--runs-dir', runs, '--backend', 'wasm', '--quiet']);
  assert.equal(trained.code, 0, trained.stderr);
  const [dir] = readdirSync(runs).map((d) => join(runs, d));
  const before = runJson(dir);

  const done = await exp(['predict', dir, '--tta', '3', '--backend', 'wasm']);
  assert.equal(done.code, 0, done.stderr);
  const after = runJson(dir);
  assert.equal(after.status, 'completed');
  assert.deepEqual(after.stages.slice(0, before.stages.length), before.stages, 'the training\'s own stage records stay as they were');
  assert.deepEqual(after.stages.slice(before.stages.length).map((s) => [s.name, s.status]),
    [['exp-predict:index', 'completed'], ['exp-predict:split', 'completed'], ['exp-predict:predict:val', 'completed']]);
  assert.deepEqual(after.data, before.data, 'exp predict leaves the trained run\'s data record as it was');
  assert.equal(after.identity, before.identity);

  const p = exp(['predict', dir, '--tta', '8', '--backend', 'wasm'], {
    onStdout: (s) => {
      if (/\[STARTED\] Predict val/.test(s) && !p.child.killed) p.child.kill('SIGINT');
    },
  });
  const r = await p;
  assert.equal(r.code, 130, r.stdout + r.stderr);
  const run = runJson(dir);
  assert.equal(run.status, 'completed', 'the training result stands');
  assert.equal(run.error, null);
  assert.equal(run.finished, after.finished);
  assert.deepEqual(run.stages.at(-1), { ...run.stages.at(-1)!, name: 'exp-predict:predict:val', status: 'interrupted' });
  assert.deepEqual(run.stages.slice(0, before.stages.length), before.stages, 'an interrupted exp predict leaves the training\'s stage records alone');
  assert.deepEqual(run.predictions.map((x) => x.tta).sort(), [1, 2, 3], 'the interrupted tta8 set is not listed');
  assert.ok(!existsSync(join(dir, 'predictions', 'val', 'tta8', 'index.json')));

  // a run that is still training (or was killed mid-run) is refused: predicting would mark it finished
  writeFileSync(join(dir, 'run.json'), JSON.stringify({ ...run, status: 'running', finished: null }));
  const busy = await exp(['predict', dir, '--backend', 'wasm']);
  assert.equal(busy.code, 2, busy.stderr);
  assert.match(busy.stderr, /is still running .*exp run --resume/);
  assert.equal(runJson(dir).status, 'running');
});

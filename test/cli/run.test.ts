// `exp run` end to end on the bundled sample: the run record is complete, every file matches its
// schema, and failures and interrupts leave records that say so.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { exp, ROOT, SMOKE, assertSchema } from './helpers.ts';
import { readNpy } from '../../src/eval/npy.ts';

const onlyRun = (runs: string) => {
  const dirs = readdirSync(runs);
  assert.equal(dirs.length, 1, `expected one run in ${runs}: ${dirs}`);
  return join(runs, dirs[0]);
};
const json = (p: string) => JSON.parse(readFileSync(p, 'utf8'));

test('exp run writes a complete, schema-valid run record with predictions and a submission', async () => {
  const runs = mkdtempSync(join(tmpdir(), 'exp-runs-'));
  const r = await exp(['run', 'experiments/quickstart.yaml', ...SMOKE, '--runs-dir', runs, '--backend', 'wasm']);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const dir = onlyRun(runs);
  const run: any = json(join(dir, 'run.json'));
  await assertSchema('run', run);
  assert.equal(run.status, 'completed');
  assert.equal(run.kind, 'train');
  assert.equal(run.seed, 1);
  assert.equal(run.backend.name, 'wasm');
  assert.equal(run.backend.deterministic, true);
  assert.match(run.identity, /^[0-9a-f]{64}$/);
  assert.match(run.data.fingerprint, /^[0-9a-f]{64}$/);
  // which decoder produced the pixels (data.loader.decoder: auto) is part of the record
  assert.match(run.data.decoder, /^(libjpeg-turbo \S+ \(exp_jpeg\) for JPEG, )?sharp \S+ \(libvips \S+\)/);
  assert.equal(run.data.counts.test, 120);
  assert.equal(run.data.counts.train + run.data.counts.val, 308);
  assert.deepEqual(run.stages.map((s: { name: string }) => s.name), ['index', 'split', 'cache', 'stats', 'train', 'predict:val', 'predict:test', 'submission']);
  assert.ok(run.stages.every((s: { status: string }) => s.status === 'completed'));
  assert.deepEqual(run.overrides.map((o: { key: string }) => o.key), ['train.epochs', 'train.max_steps_per_epoch', 'train.batch_size', 'data.image', 'tta.count']);
  assert.equal(run.git.available, true);
  assert.equal(readFileSync(join(dir, 'experiment.yaml'), 'utf8'), readFileSync(join(ROOT, 'experiments/quickstart.yaml'), 'utf8'));
  assert.match(readFileSync(join(dir, 'config.yaml'), 'utf8'), /epochs: 1\n/);
  assert.ok(existsSync(join(dir, 'git.patch')));

  const history = readFileSync(join(dir, 'history.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(history.length, 1);
  for (const row of history) await assertSchema('history-row', row);
  const metrics: any = json(join(dir, 'metrics.json'));
  await assertSchema('metrics', metrics);
  assert.deepEqual(Object.keys(metrics.val).sort(), ['tta1', 'tta2']);
  for (const level of ['species', 'genus', 'family']) {
    const m = metrics.val.tta2[level];
    assert.ok(m.macro_f1 >= 0 && m.macro_f1 <= 1 && m.accuracy >= 0 && m.accuracy <= 1);
  }
  for (const split of ['val', 'test']) {
    for (const tta of [1, 2]) {
      const pdir = join(dir, 'predictions', split, `tta${tta}`);
      const index: any = json(join(pdir, 'index.json'));
      await assertSchema('index', index);
      assert.equal(index.rows, split === 'test' ? 120 : run.data.counts.val);
      const sp = await readNpy(join(pdir, 'species.npy'));
      assert.deepEqual(sp.shape, [index.rows, 12]);
      const top = await readNpy(join(pdir, 'species.top5.npy'));
      assert.deepEqual(top.shape, [index.rows, 5]);
    }
  }
  const sub = readFileSync(join(dir, 'submission.csv'), 'utf8').trim().split('\n');
  assert.equal(sub[0], 'Id,Predicted');
  assert.equal(sub.length, 121);
  assert.ok(existsSync(join(dir, 'model', 'best', 'model.json')));
  assert.ok(existsSync(join(dir, 'model', 'last', 'state.json')));
});

test('a failing stage leaves a record that says which stage failed and why', async () => {
  const data = mkdtempSync(join(tmpdir(), 'exp-bad-data-'));
  cpSync(join(ROOT, 'data/sample/train'), join(data, 'train'), { recursive: true });
  const meta = json(join(data, 'train', 'metadata.json'));
  // every image, so the first stage that reads pixels (stats) meets one whatever the split
  for (const im of meta.images) writeFileSync(join(data, 'train', im.file_name), 'not a jpeg');
  const runs = mkdtempSync(join(tmpdir(), 'exp-runs-'));
  const r = await exp(['run', 'experiments/quickstart.yaml', ...SMOKE, '--set', `data.train=${join(data, 'train')}`, '--set', 'data.test=null',
    '--set', 'data.cache.enabled=false', '--runs-dir', runs]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /not an image/);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
  const run: any = json(join(onlyRun(runs), 'run.json'));
  await assertSchema('run', run);
  assert.equal(run.status, 'failed');
  assert.equal(run.error.stage, 'stats');
  assert.match(run.error.message, /not an image/);
  assert.ok(run.finished);
});

test('SIGINT during training marks the run interrupted and keeps the last checkpoint', async () => {
  const runs = mkdtempSync(join(tmpdir(), 'exp-runs-'));
  const args = ['run', 'experiments/quickstart.yaml', '--set', 'train.epochs=50', '--set', 'data.image={resize: 36, size: 32}',
    '--set', 'train.batch_size=16', '--runs-dir', runs, '--backend', 'wasm'];
  const p = exp(args, {
    onStdout: (out) => {
      // after the first epoch's checkpoint
      if (/epoch 1: train loss/.test(out) && !p.child.killed) p.child.kill('SIGINT');
    },
  });
  const r = await p;
  assert.equal(r.code, 130, r.stderr);
  const dir = onlyRun(runs);
  // the error line says what to do next; the stage's own failure line only names the signal
  assert.match(r.stderr, new RegExp(`^error: interrupted by SIGINT: ${dir} is marked interrupted; continue it with: exp run --resume ${dir}$`, 'm'));
  const run: any = json(join(dir, 'run.json'));
  await assertSchema('run', run);
  assert.equal(run.status, 'interrupted');
  assert.equal(run.stages.find((s: { name: string }) => s.name === 'train').status, 'interrupted');
  assert.ok(existsSync(join(dir, 'model', 'last', 'state.json')), 'last checkpoint kept');
});

test('a step that outgrows the 4 GB WebAssembly heap fails the run with what to change, not an internal error', async () => {
  const runs = mkdtempSync(join(tmpdir(), 'exp-runs-'));
  // 768 px, batch up to 128: the first convolution's output alone is several GB
  const r = await exp(['run', 'experiments/quickstart.yaml', '--set', 'data.image={resize: 800, size: 768}', '--set', 'train.batch_size=128',
    '--set', 'data.limit=150', '--set', 'data.cache.enabled=false', '--set', 'data.test=null', '--runs-dir', runs, '--backend', 'wasm', '--quiet']);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /^error: the WebAssembly heap most likely ran out of memory .*at most 4 GB\. Set train\.recompute: true .*lower train\.batch_size/m);
  assert.doesNotMatch(r.stderr, /internal error/);
  const run: any = json(join(onlyRun(runs), 'run.json'));
  assert.deepEqual([run.status, run.error.stage, run.error.type], ['failed', 'train', 'RunError']);
});

// exp predict: a new TTA count from a trained run, recorded beside the originals.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { exp, SMOKE, assertSchema } from './helpers.ts';

test('exp predict adds predictions and metrics for a new TTA count without retraining', async () => {
  const runs = mkdtempSync(join(tmpdir(), 'exp-runs-'));
  const r = await exp(['run', 'experiments/quickstart.yaml', ...SMOKE, '--set', 'data.test=null', '--runs-dir', runs, '--backend', 'wasm']);
  assert.equal(r.code, 0, r.stderr);
  const dir = join(runs, readdirSync(runs)[0]);
  const before = readFileSync(join(dir, 'model', 'best', 'weights.bin'));
  const p = await exp(['predict', dir, '--tta', '3', '--backend', 'wasm']);
  assert.equal(p.code, 0, p.stderr);
  assert.match(p.stdout, /tta3: \d+ rows, species macro-F1 0\.\d{4}/);
  const run: any = JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8'));
  await assertSchema('run', run);
  const rec = run.predictions.filter((x: { split: string }) => x.split === 'val');
  assert.deepEqual(rec.map((x: { tta: number; default: boolean }) => [x.tta, x.default]).sort(), [[1, false], [2, true], [3, false]]);
  const metrics: any = JSON.parse(readFileSync(join(dir, 'metrics.json'), 'utf8'));
  await assertSchema('metrics', metrics);
  assert.deepEqual(Object.keys(metrics.val).sort(), ['tta1', 'tta2', 'tta3']);
  await assertSchema('index', JSON.parse(readFileSync(join(dir, 'predictions/val/tta3/index.json'), 'utf8')));
  assert.deepEqual(readFileSync(join(dir, 'model', 'best', 'weights.bin')), before, 'the checkpoint is untouched');
  // a test split the run never had is a clear error
  const bad = await exp(['predict', dir, '--split', 'test']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /trained without a test split/);
  assert.ok(!existsSync(join(dir, 'predictions', 'test')));
});

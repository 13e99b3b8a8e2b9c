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

test('decoding options change the rankings, not the saved scores, and are recorded', async () => {
  const { readNpy } = await import('../../src/eval/npy.ts');
  const { loadDataset } = await import('../../src/data/formats/index.ts');
  const { ancestorMaps, hierarchicalScores } = await import('../../src/eval/decode.ts');
  const { topK } = await import('../../src/eval/metrics.ts');
  const runs = mkdtempSync(join(tmpdir(), 'exp-runs-'));
  const base = ['run', 'experiments/quickstart.yaml', ...SMOKE, '--set', 'data.test=null', '--set', 'tta.count=1', '--runs-dir', runs, '--backend', 'wasm', '--quiet'];
  const plain = await exp([...base, '--name', 'plain']);
  assert.equal(plain.code, 0, plain.stderr);
  const hier = await exp([...base, '--name', 'hier', '--set', 'decode.hierarchical={enabled: true, weights: {species: 1, genus: 0.5, family: 0.25}}']);
  assert.equal(hier.code, 0, hier.stderr);
  const dirOf = (name: string) => join(runs, readdirSync(runs).find((d) => d.includes(`-${name}-`))!, 'predictions', 'val', 'tta1');
  const a = dirOf('plain');
  const b = dirOf('hier');
  const index: any = JSON.parse(readFileSync(join(b, 'index.json'), 'utf8'));
  assert.deepEqual(index.decode, { logit_adjust_tau: 0, hierarchical_weights: [1, 0.5, 0.25] });
  const levels = ['species', 'genus', 'family'];
  const scores = await Promise.all(levels.map((l) => readNpy(join(b, `${l}.npy`))));
  const plainScores = await readNpy(join(a, 'species.npy'));
  assert.deepEqual(scores[0].data, plainScores.data, 'same seed and data: the saved scores are the model\'s, unchanged');
  const train = await loadDataset('herbarium', 'data/sample/train', levels, 'train');
  const anc = ancestorMaps([train.levels[0].parent!, train.levels[1].parent!], 12);
  const rows = index.rows;
  const combined = hierarchicalScores(scores.map((s, i) => ({ scores: s.data as Float32Array, cols: train.levels[i].ids.length, kind: 'logits' as const })), anc, [1, 0.5, 0.25], rows);
  const expected = topK(combined, rows, 12, 5);
  const got = await readNpy(join(b, 'species.top5.npy'));
  assert.deepEqual(Array.from(got.data), Array.from(expected));
});

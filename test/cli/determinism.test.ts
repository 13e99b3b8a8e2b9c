// Determinism on the wasm backend: the same config, seed, code and data give bit-identical
// history (timing fields aside), metrics and predictions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { exp, SMOKE } from './helpers.ts';
import { resultHashes } from './determinism-hashes.ts';

test('two wasm runs of the same config are bit-identical: history, metrics, predictions', async () => {
  const runs = mkdtempSync(join(tmpdir(), 'exp-det-'));
  const args = ['run', 'experiments/quickstart.yaml', ...SMOKE, '--set', 'train.epochs=2', '--runs-dir', runs, '--backend', 'wasm', '--quiet'];
  const [a, b] = [await exp(args), await exp(args)];
  assert.equal(a.code, 0, a.stderr);
  assert.equal(b.code, 0, b.stderr);
  const [da, db] = readdirSync(runs).map((d) => join(runs, d));
  const run = JSON.parse(readFileSync(join(da, 'run.json'), 'utf8'));
  assert.equal(run.backend.deterministic, true);
  const ha = resultHashes(da);
  assert.ok(Object.keys(ha).filter((k) => k.endsWith('.npy')).length >= 12, 'val and test, two TTA counts, three levels + top5');
  assert.deepEqual(resultHashes(db), ha);
});

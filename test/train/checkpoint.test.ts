import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf } from '../../src/model/tf.ts';
import { loadCheckpoint, saveCheckpoint } from '../../src/train/checkpoint.ts';
import { Ema, modelWeights } from '../../src/model/ema.ts';
import { RunError } from '../../src/errors.ts';
import { H, C, tinyConvNet, weightsOf } from './helpers.ts';

await tf.setBackend('cpu');

test('a checkpoint round-trips the model, its outputs, typed-array state and EMA weights', async () => {
  const root = mkdtempSync(join(tmpdir(), 'exp-ckpt-'));
  const dir = join(root, 'model', 'last');
  const model = tinyConvNet({ batchNorm: true });
  const ema = new Ema(modelWeights(model), 0.9);
  model.weights[0].write(tf.fill(model.weights[0].shape as number[], 0.25));
  ema.update();
  const state = {
    epoch: 2,
    nested: [{ slots: { 'conv/kernel/m': Float32Array.from([1.5, -2, 3e-8]) }, step: 7 }],
    ids: Int32Array.from([4, -1]),
    note: 'plain json',
  };
  await saveCheckpoint(dir, model, state, { ema });
  assert.deepEqual(readdirSync(dir).sort(), ['ema', 'model.json', 'state.bin', 'state.json', 'weights.bin']);
  const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
  assert.equal(json.weightsManifest[0].paths[0], 'weights.bin');

  const back = await loadCheckpoint<typeof state>(dir);
  assert.deepEqual(weightsOf(back.model), weightsOf(model));
  assert.deepEqual(back.state, state);
  assert.ok(back.state!.nested[0].slots['conv/kernel/m'] instanceof Float32Array);
  const emaState = ema.getState().weights;
  assert.deepEqual(Object.keys(back.emaWeights!).sort(), Object.keys(emaState).sort());
  for (const k of Object.keys(emaState)) assert.deepEqual(back.emaWeights![k], emaState[k], k);
  const x = tf.randomNormal([2, H, H, C], 0, 1, 'float32', 3);
  const [a, b] = [model, back.model].map((m) => (m.predict(x) as tf.Tensor[]).map((t) => [...t.dataSync()]));
  assert.deepEqual(a, b, 'same outputs');

  // saving again replaces the directory as a whole and leaves no temp folders behind
  await saveCheckpoint(dir, model, undefined);
  assert.deepEqual(readdirSync(dir).sort(), ['model.json', 'weights.bin']);
  assert.deepEqual(readdirSync(join(root, 'model')), ['last']);
  assert.equal((await loadCheckpoint(dir)).state, undefined);
  ema.dispose();
  rmSync(root, { recursive: true });
});

test('a crash between the two renames leaves the previous checkpoint loadable; none at all is a RunError', async () => {
  const root = mkdtempSync(join(tmpdir(), 'exp-ckpt-'));
  const dir = join(root, 'last');
  const model = tinyConvNet();
  await saveCheckpoint(dir, model, { epoch: 1 });
  renameSync(dir, `${dir}.old-abc123`); // what the swap leaves if it dies after its first rename
  const back = await loadCheckpoint<{ epoch: number }>(dir);
  assert.equal(back.state!.epoch, 1);
  assert.deepEqual(weightsOf(back.model), weightsOf(model));
  rmSync(`${dir}.old-abc123`, { recursive: true });
  await assert.rejects(loadCheckpoint(dir), RunError);
  assert.equal(existsSync(dir), false);
  rmSync(root, { recursive: true });
});

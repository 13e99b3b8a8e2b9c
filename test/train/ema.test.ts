import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../src/model/tf.ts';
import { Ema, modelWeights } from '../../src/model/ema.ts';

await tf.setBackend('cpu');

function model(): tf.LayersModel {
  const m = tf.sequential();
  m.add(tf.layers.dense({ name: 'd', units: 2, inputShape: [2], kernelInitializer: 'ones', biasInitializer: 'zeros' }));
  m.add(tf.layers.batchNormalization({ name: 'bn' }));
  return m;
}

const values = (m: tf.LayersModel) => m.getWeights().map((w) => [...w.dataSync()]);

test('EMA: shadow = decay * shadow + (1 - decay) * weights, over all weights', async () => {
  const m = model();
  const ema = new Ema(modelWeights(m), 0.9);
  const w0 = values(m);
  // kernel -> 3, bias -> 1, and a batch-norm running mean -> 2 (non-trainable weights are averaged too)
  m.weights[0].write(tf.fill([2, 2], 3));
  m.weights[1].write(tf.fill([2], 1));
  const mean = m.weights.findIndex((w) => w.originalName.includes('moving_mean'));
  m.weights[mean].write(tf.fill([2], 2));
  ema.update();
  const w1 = values(m);
  let shadow: number[][] = [];
  await ema.withAveraged(() => { shadow = values(m); });
  shadow.forEach((s, i) => s.forEach((x, j) => assert.ok(Math.abs(x - (0.9 * w0[i][j] + 0.1 * w1[i][j])) < 1e-6, `weight ${i}[${j}] ${x}`)));
  assert.ok(Math.abs(shadow[0][0] - (0.9 + 0.3)) < 1e-6);
  assert.ok(Math.abs(shadow[mean][0] - 0.2) < 1e-6);
  assert.deepEqual(values(m), w1, 'raw weights come back exactly after the swap');
  // a second update blends again: 0.9 * 1.2 + 0.1 * 3
  ema.update();
  const st = ema.getState();
  assert.ok(Math.abs(st.weights['d/kernel'][0] - (0.9 * 1.2 + 0.3)) < 1e-6);
  ema.dispose();
});

test('EMA state restores into a fresh model', async () => {
  const m = model();
  const ema = new Ema(modelWeights(m), 0.5);
  m.weights[0].write(tf.fill([2, 2], 5));
  ema.update();
  const st = ema.getState();
  const m2 = model();
  const ema2 = new Ema(modelWeights(m2), 0.5);
  ema2.setState(st);
  assert.deepEqual(ema2.getState(), st);
  assert.throws(() => ema2.setState({ weights: { 'd/kernel': new Float32Array(3) } }));
  ema.dispose();
  ema2.dispose();
});

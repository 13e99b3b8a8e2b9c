// Registry-driven: every registered optimizer, with the schema's defaults, minimises a small
// quadratic, and its state (what model/last/state.json keeps) restored into a fresh optimizer
// gives exactly the next step the original takes. Adding an optimizer adds this test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../src/model/tf.ts';
import { ensureBackend } from '../../src/model/backend.ts';
import { createOptimizer, optimizers, type OptimizerConfig } from '../../src/model/optimizers.ts';
import { validateConfig } from '../../src/config/index.ts';

await ensureBackend('cpu');

const TARGET = [1, -1, 0.5];
const grad = (v: tf.Variable): tf.Tensor => tf.tidy(() => tf.mul(tf.sub(v, tf.tensor1d(TARGET)), 2));
const distance = (v: tf.Variable): number => tf.tidy(() => tf.sum(tf.square(tf.sub(v, tf.tensor1d(TARGET)))).dataSync()[0]);

for (const { name } of optimizers.list()) {
  test(`optimizer ${name}: with the schema's defaults it minimises a quadratic; restored state takes the same next step`, () => {
    const config = validateConfig({ name: 't', data: { format: 'folders', train: 't' }, optimizer: { name, lr: 0.05 } }).config;
    assert.ok(config);
    const { phases: _p, cycle: _c, ...settings } = config.optimizer;
    const opt = createOptimizer(settings as OptimizerConfig);
    const v = tf.variable(tf.tensor1d([4, 3, -2]));
    const start = distance(v);
    for (let i = 0; i < 300; i++) {
      const g = grad(v);
      opt.apply([{ key: 'w', variable: v }], [g]);
      g.dispose();
    }
    const end = distance(v);
    assert.ok(Number.isFinite(end) && end < start / 100, `${name}: ${start} -> ${end}`);

    const copy = tf.variable(v.clone());
    const restored = createOptimizer(settings as OptimizerConfig);
    restored.setState(structuredClone(opt.getState()));
    const [g1, g2] = [grad(v), grad(copy)];
    opt.apply([{ key: 'w', variable: v }], [g1]);
    restored.apply([{ key: 'w', variable: copy }], [g2]);
    assert.deepEqual(copy.dataSync(), v.dataSync());
    tf.dispose([g1, g2, v, copy]);
    opt.dispose();
    restored.dispose();
  });
}

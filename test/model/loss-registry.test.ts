// Registry-driven: every registered loss, built from the schema's defaults the way the train
// stage builds it (with and without class balance), gives a finite loss that is lower for a
// confident right answer than for a confident wrong one, and a gradient that raises the true
// class's logit. Adding a loss adds this test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../src/model/tf.ts';
import { ensureBackend } from '../../src/model/backend.ts';
import { buildLevelLosses, losses } from '../../src/model/losses.ts';
import { lossSpecOf } from '../../src/stages/train.ts';
import { validateConfig } from '../../src/config/index.ts';

await ensureBackend('cpu');

const C = 4;
const labels = Int32Array.from([0, 1, 2, 3, 0]);
const confident = (shift: number): tf.Tensor2D => tf.tidy(() => tf.mul(tf.oneHot(tf.tensor1d(Array.from(labels, (y) => (y + shift) % C), 'int32'), C), 6).toFloat() as tf.Tensor2D);

for (const { name } of losses.list()) {
  for (const balance of [false, true]) {
    test(`loss ${name}${balance ? ' (class-balanced)' : ''}: finite, lower when right than when wrong, gradient raises the true logit`, () => {
      const config = validateConfig({ name: 't', data: { format: 'folders', train: 't', levels: ['species'] }, loss: { type: name, class_balance: balance } }).config;
      assert.ok(config);
      const [level] = buildLevelLosses(lossSpecOf(config), [{ name: 'species', numClasses: C, counts: [40, 10, 3, 1] }]);
      assert.equal(level.level, 'species');
      const right = confident(0);
      const wrong = confident(1);
      const [lr, lw] = [level.fn(right, labels), level.fn(wrong, labels)].map((t) => t.dataSync()[0]);
      assert.ok(Number.isFinite(lr) && Number.isFinite(lw) && lr >= 0, `${lr} ${lw}`);
      assert.ok(lr < lw, `right ${lr} < wrong ${lw}`);
      const g = tf.grad((x: tf.Tensor) => level.fn(x as tf.Tensor2D, labels))(tf.zeros([labels.length, C])).arraySync() as number[][];
      labels.forEach((y, i) => {
        assert.ok(g[i].every(Number.isFinite));
        assert.ok(g[i][y] < 0, `row ${i}: d loss / d logit[true] = ${g[i][y]} should be negative`);
      });
      tf.dispose([right, wrong]);
    });
  }
}

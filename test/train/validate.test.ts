import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../src/model/tf.ts';
import { validate } from '../../src/train/validate.ts';
import { buildLevelLosses } from '../../src/model/losses.ts';
import { batches, C, H, quadrantData, tinyConvNet } from './helpers.ts';

await tf.setBackend('cpu');

test('validate: per-level mean loss over uneven batches equals the loss of the whole set; logits reach the callback', async () => {
  const model = tinyConvNet({ batchNorm: true });
  const data = quadrantData(13, 9);
  const levels = [{ name: 'fine', numClasses: 4 }, { name: 'coarse', numClasses: 2 }];
  const lossSpec = { type: 'cross_entropy', label_smoothing: 0.1 };
  const seen = [0, 0];
  const before = tf.memory().numTensors;
  const got = await validate({
    model, levels, lossSpec, batches: batches(data, [...data.fine.keys()], 5),
    onLogits: (k, logits, labels, n) => {
      assert.equal(logits.length, n * levels[k].numClasses);
      assert.equal(labels.length, n);
      seen[k] += n;
    },
  });
  assert.equal(tf.memory().numTensors, before, 'nothing leaks');
  assert.deepEqual(seen, [13, 13]);
  const whole = tf.tidy(() => {
    const out = model.predict(tf.tensor(data.x, [13, H, H, C])) as tf.Tensor2D[];
    const ll = buildLevelLosses(lossSpec, levels);
    return [ll[0].fn(out[0], data.fine).arraySync(), ll[1].fn(out[1], data.coarse).arraySync()] as number[];
  });
  assert.ok(Math.abs(got.fine - whole[0]) < 1e-5, `${got.fine} vs ${whole[0]}`);
  assert.ok(Math.abs(got.coarse - whole[1]) < 1e-5, `${got.coarse} vs ${whole[1]}`);
});

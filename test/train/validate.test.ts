import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../src/model/tf.ts';
import { validate } from '../../src/train/validate.ts';
import { buildLevelLosses } from '../../src/model/losses.ts';
import { outputOrder } from '../../src/train/loop.ts';
import { RunError } from '../../src/errors.ts';
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

test('outputs are matched to levels by name in any order; a model whose outputs do not fit the levels is refused', async () => {
  const model = tinyConvNet();
  assert.deepEqual(outputOrder(model, ['coarse', 'fine']), [1, 0]);
  assert.deepEqual(outputOrder(model, [{ name: 'fine' }, { name: 'coarse' }]), [0, 1]);
  // Training and prediction used to disagree here: prediction took position i for a level whose
  // output it did not find, so a genus level read the coarse head's logits (or past the end)
  // without a word. Both now use this one mapping, which refuses.
  for (const levels of [['fine', 'genus'], ['fine', 'coarse', 'family'], ['species', 'genus']]) {
    assert.throws(() => outputOrder(model, levels), (e: unknown) => e instanceof RunError && /outputs \[logits_fine, logits_coarse\] do not match the levels/.test(e.message), levels.join());
  }
  // the validation pass reads each level's own head, whatever the order the levels come in
  const data = quadrantData(8, 3);
  const lossSpec = { type: 'cross_entropy' };
  const fwd = await validate({ model, levels: [{ name: 'fine', numClasses: 4 }, { name: 'coarse', numClasses: 2 }], lossSpec, batches: batches(data, [...data.fine.keys()], 4) });
  const cols: number[] = [];
  const rev = await validate({
    model, levels: [{ name: 'coarse', numClasses: 2 }, { name: 'fine', numClasses: 4 }], lossSpec,
    batches: [...batches(data, [...data.fine.keys()], 4)].map((b) => ({ ...b, labels: [b.labels[1], b.labels[0]] })),
    onLogits: (k, logits, _labels, n) => cols.push(k, logits.length / n),
  });
  assert.deepEqual(rev, { coarse: fwd.coarse, fine: fwd.fine });
  assert.deepEqual(cols.slice(0, 4), [0, 2, 1, 4], 'level 0 (coarse) gets 2 columns, level 1 (fine) 4');
  // a graph without exp's names, one output per level, is read by position
  const input = tf.input({ shape: [H, H, C] });
  const flat = tf.layers.flatten().apply(input) as tf.SymbolicTensor;
  const plain = tf.model({ inputs: input, outputs: [tf.layers.dense({ units: 4 }).apply(flat) as tf.SymbolicTensor, tf.layers.dense({ units: 2 }).apply(flat) as tf.SymbolicTensor] });
  assert.deepEqual(outputOrder(plain, ['species', 'genus']), [0, 1]);
});

// The hierarchical head and model assembly: outputs per level, pooling, validation, freezing,
// saving/loading and copying weights by name.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf } from '../../src/model/tf.ts';
import { buildModel, freezeLayers, loadBackboneWeights, loadModelDir, saveModelDir } from '../../src/model/build.ts';
import type { ModelSpec } from '../../src/model/build.ts';
import { UserError } from '../../src/errors.ts';

await tf.setBackend('cpu');

const LEVELS = [{ name: 'species', numClasses: 7 }, { name: 'genus', numClasses: 4 }, { name: 'family', numClasses: 2 }];

function spec(over: Partial<ModelSpec> = {}, head: Partial<ModelSpec['head']> = {}): ModelSpec {
  return {
    backbone: { name: 'tiny' }, head: { pool: 'concat', hidden: 16, dropout: 0.2, ...head },
    inputSize: 32, levels: LEVELS, seed: 1, ...over,
  };
}

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'exp-head-'));
}

test('one logits output per level, in level order, named logits_<level>', () => {
  const m = buildModel(spec());
  assert.deepEqual(m.outputNames, ['logits_species', 'logits_genus', 'logits_family']);
  const ys = m.predict(tf.zeros([3, 32, 32, 3])) as tf.Tensor[];
  assert.deepEqual(ys.map((y) => y.shape), [[3, 7], [3, 4], [3, 2]]);
});

test('concat pooling doubles the pooled width; avg pooling and hidden 0 feed the logits directly', () => {
  const concat = buildModel(spec({}, { hidden: 0, dropout: 0 }));
  assert.deepEqual(concat.getLayer('logits_genus').getWeights()[0].shape, [128, 4]); // tiny: 64 channels
  const avg = buildModel(spec({}, { pool: 'avg', hidden: 0, dropout: 0 }));
  assert.deepEqual(avg.getLayer('logits_genus').getWeights()[0].shape, [64, 4]);
  assert.ok(!avg.layers.some((l) => l.name === 'head.fc' || l.name === 'head.pool_max'));
  const hidden = buildModel(spec());
  assert.deepEqual(hidden.getLayer('head.fc').getWeights()[0].shape, [128, 16]);
  assert.deepEqual(hidden.getLayer('logits_species').getWeights()[0].shape, [16, 7]);
});

test('concat pooling is [global average, global max] of the feature map', () => {
  const m = buildModel(spec({}, { hidden: 0, dropout: 0 }));
  const feat = m.getLayer('block3.bn').output as tf.SymbolicTensor;
  const pooled = m.getLayer('head.pool').output as tf.SymbolicTensor;
  const probe = tf.model({ inputs: m.inputs, outputs: [feat, pooled] });
  const [f, p] = probe.predict(tf.randomNormal([2, 32, 32, 3], 0, 1, 'float32', 3)) as tf.Tensor[];
  const expected = tf.concat([tf.mean(f, [1, 2]), tf.max(f, [1, 2])], 1);
  assert.ok(tf.max(tf.abs(tf.sub(p, expected))).dataSync()[0] < 1e-5);
});

test('invalid heads and levels are user errors naming the problem', () => {
  assert.throws(() => buildModel(spec({}, { pool: 'max' as 'avg' })), (e: Error) => e instanceof UserError && /concat, avg/.test(e.message));
  assert.throws(() => buildModel(spec({}, { dropout: 1 })), /dropout/);
  assert.throws(() => buildModel(spec({ levels: [] })), /at least one label level/);
  assert.throws(() => buildModel(spec({ levels: [{ name: 'sp ecies', numClasses: 3 }] })), /letters, digits/);
  assert.throws(() => buildModel(spec({ inputSize: 16 })), /input size/);
  assert.throws(() => buildModel(spec({ backbone: { name: 'resnet9' } })), /Available: tiny/);
});

test('freeze: prefixes and "backbone" make layers non-trainable; unknown prefixes fail', () => {
  const m = buildModel(spec({ backbone: { name: 'tiny', freeze: ['block0', 'block1.'] } }));
  const trainable = new Set(m.trainableWeights.map((w) => w.originalName.split('/')[0]));
  assert.ok(!trainable.has('block0.conv') && !trainable.has('block1.bn'));
  assert.ok(trainable.has('block2.conv') && trainable.has('logits_species'));
  const all = buildModel(spec({ backbone: { name: 'tiny', freeze: ['backbone'] } }));
  assert.deepEqual([...new Set(all.trainableWeights.map((w) => w.originalName.split('/')[0]))].sort(),
    ['head.fc', 'logits_family', 'logits_genus', 'logits_species']);
  assert.throws(() => freezeLayers(all, ['layer9']), (e: Error) => e instanceof UserError && /block0.conv/.test(e.message));
});

test('a frozen backbone does not change in a training step; the head does', () => {
  const m = buildModel(spec({ backbone: { name: 'tiny', freeze: ['backbone'] } }, { dropout: 0 }));
  const before = m.getWeights().map((t) => t.clone());
  const x = tf.randomNormal([4, 32, 32, 3], 0, 1, 'float32', 1);
  tf.train.sgd(0.1).minimize(() => {
    const ys = m.apply(x, { training: true }) as tf.Tensor[];
    return tf.addN(ys.map((y) => tf.mean(tf.square(y)))) as tf.Scalar;
  });
  m.weights.forEach((w, i) => {
    const changed = tf.max(tf.abs(tf.sub(w.read(), before[i]))).dataSync()[0] > 0;
    const isHead = /^(head\.|logits_)/.test(w.originalName);
    assert.equal(changed, isHead, `${w.originalName} changed=${changed}`); // incl. BN moving statistics
  });
});

test('saveModelDir/loadModelDir round trip gives identical outputs', async () => {
  const dir = tmp();
  try {
    const m = buildModel(spec({ backbone: { name: 'tiny' } }));
    await saveModelDir(m, dir);
    const loaded = await loadModelDir(dir);
    const x = tf.randomNormal([2, 32, 32, 3], 0, 1, 'float32', 5);
    const a = m.predict(x) as tf.Tensor[];
    const b = loaded.predict(x) as tf.Tensor[];
    assert.deepEqual(loaded.outputNames, m.outputNames);
    a.forEach((t, i) => assert.equal(tf.max(tf.abs(tf.sub(t, b[i]))).dataSync()[0], 0));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the same seed builds the same model; loadBackboneWeights copies by name and reports mismatches', async () => {
  const dir = tmp();
  try {
    // source: another seed, 5 species instead of 7, no genus level, an extra "order" level
    const src = buildModel(spec({
      seed: 2, levels: [{ name: 'species', numClasses: 5 }, { name: 'family', numClasses: 2 }, { name: 'order', numClasses: 3 }],
    }));
    await saveModelDir(src, dir);
    const dst = buildModel(spec());
    const same = buildModel(spec());
    dst.weights.forEach((w, i) => assert.deepEqual(w.read().dataSync(), same.weights[i].read().dataSync()));
    const r = await loadBackboneWeights(dst, dir);
    assert.ok(r.matched.includes('block0.conv/kernel') && r.matched.includes('block3.bn/moving_variance'));
    assert.ok(r.matched.includes('logits_family/kernel'));
    assert.deepEqual(r.missing.sort(), ['logits_genus/bias', 'logits_genus/kernel']);
    assert.deepEqual(r.unexpected.sort(), ['logits_order/bias', 'logits_order/kernel']);
    assert.deepEqual(r.shapeMismatch.map((s) => s.name).sort(), ['logits_species/bias', 'logits_species/kernel']);
    assert.deepEqual(r.shapeMismatch.find((s) => s.name === 'logits_species/kernel'), { name: 'logits_species/kernel', expected: [16, 7], got: [16, 5] });
    const get = (m: tf.LayersModel, n: string) => Array.from(m.getLayer(n).getWeights()[0].dataSync());
    assert.deepEqual(get(dst, 'block2.conv'), get(src, 'block2.conv'));
    assert.deepEqual(get(dst, 'logits_species'), get(same, 'logits_species')); // mismatched: untouched
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('loadBackboneWeights: a missing or foreign directory is a user error naming the file', async () => {
  const dir = tmp();
  try {
    const m = buildModel(spec());
    await assert.rejects(loadBackboneWeights(m, join(dir, 'nope')), (e: Error) => e instanceof UserError && /nope.model\.json/.test(e.message));
    writeFileSync(join(dir, 'model.json'), '{"format": "graph-model"}');
    await assert.rejects(loadBackboneWeights(m, dir), /not a tfjs layers model/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

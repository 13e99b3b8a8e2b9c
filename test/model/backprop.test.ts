// exp's variableGrads (src/model/backprop.ts) against tf.variableGrads: the same loss and gradients
// bit for bit (the training loop's own model on every backend, and graphs where one gradient
// tensor is handed to several inputs), nothing leaked, and a lower peak: gradients and saved
// tensors are freed during the backward pass instead of after it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../src/model/tf.ts';
import { ensureBackend, type BackendName } from '../../src/model/backend.ts';
import { loadAddon } from '../../src/model/kernels/native.ts';
import { variableGrads } from '../../src/model/backprop.ts';
import { buildModel } from '../../src/model/build.ts';
import { buildLevelLosses, hierarchicalLoss } from '../../src/model/losses.ts';
import { Rng } from '../../src/util/rng.ts';

function bits(t: tf.Tensor): Uint32Array {
  const v = t.dataSync() as Float32Array;
  return new Uint32Array(v.buffer, v.byteOffset, v.length);
}

function sameGradients(a: Record<string, tf.Tensor>, b: Record<string, tf.Tensor>): void {
  assert.deepEqual(Object.keys(b).sort(), Object.keys(a).sort());
  for (const k of Object.keys(a)) assert.deepEqual(bits(b[k]), bits(a[k]), `gradient of ${k}`);
}

const levels = [
  { name: 'species', numClasses: 5, counts: [3, 1, 4, 1, 5] },
  { name: 'genus', numClasses: 3, counts: [4, 5, 5] },
  { name: 'family', numClasses: 2, counts: [9, 5] },
];

// the training loop's model and loss: backbone, concat head (average and max pooling), three
// levels, class-balanced focal loss; se_resnext50 has residual adds, squeeze-excitation and
// grouped convolutions, each with exp's own kernels on native
const modelCases: [BackendName, string][] = [
  ['cpu', 'tiny'],
  ['wasm', 'se_resnext50_32x4d'],
  ...(loadAddon() ? [['native', 'se_resnext50_32x4d'] as [BackendName, string]] : []),
];

for (const [backend, backbone] of modelCases) {
  test(`variableGrads on ${backend} (${backbone}, concat head, focal loss) equals tf.variableGrads bit for bit and leaks nothing`, async () => {
    await ensureBackend(backend);
    const model = buildModel({ backbone: { name: backbone }, head: { pool: 'concat', hidden: 0, dropout: 0 }, inputSize: 32, levels, seed: 3 });
    const losses = buildLevelLosses({ type: 'focal', gamma: 2, class_balance: { beta: 0.9 }, weights: { species: 1.5 } }, levels);
    const rng = new Rng(5);
    const x = tf.tensor(Float32Array.from({ length: 2 * 32 * 32 * 3 }, () => rng.uniform(-1, 1)), [2, 32, 32, 3]);
    const labels = [Int32Array.of(0, 4), Int32Array.of(0, 2), Int32Array.of(0, 1)];
    const params = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const loss = () => {
      const outs = model.apply(x, { training: true }) as tf.Tensor[];
      return hierarchicalLoss(losses, outs as tf.Tensor2D[], labels).total;
    };
    // the batch-norm moving averages move in each forward: start both from the same state
    const moving = model.weights.filter((w) => !w.trainable).map((w) => [w, w.read().clone()] as const);
    const restore = () => moving.forEach(([w, v]) => w.write(v));
    const before = tf.memory().numTensors;
    const ref = tf.variableGrads(loss, params);
    restore();
    const got = variableGrads(loss, params);
    assert.deepEqual(bits(got.value), bits(ref.value));
    assert.equal(Object.keys(got.grads).length, params.length);
    sameGradients(ref.grads, got.grads);
    tf.dispose([ref.value, got.value, ...Object.values(ref.grads), ...Object.values(got.grads)]);
    assert.equal(tf.memory().numTensors - before, 0, 'no tensor left behind');
    moving.forEach(([, v]) => v.dispose());
    tf.dispose(x);
    model.dispose();
  });
}

test('variableGrads: one gradient handed to several inputs (Add, a tensor used twice, a variable used twice) stays valid until all of them are done', async () => {
  await ensureBackend('cpu');
  const rng = new Rng(9);
  const w = tf.variable(tf.tensor(Float32Array.from({ length: 12 }, () => rng.uniform(-1, 1)), [4, 3]), true, 'bp_w');
  const b = tf.variable(tf.tensor([0.5, -0.25, 1]), true, 'bp_b');
  const unused = tf.variable(tf.tensor([1, 2]), true, 'bp_unused');
  const x = tf.tensor(Float32Array.from({ length: 8 }, () => rng.uniform(-1, 1)), [2, 4]);
  const f = () => {
    const h = tf.add(tf.matMul(x, w), b); // Add passes its dy to both inputs unchanged
    const r = tf.relu(h);
    const twice = tf.add(tf.mul(r, h), tf.matMul(tf.relu(tf.matMul(x, w)), tf.transpose(tf.matMul(tf.transpose(w), w))));
    return tf.sum(tf.add(twice, tf.mul(b, b))) as tf.Scalar;
  };
  const before = tf.memory().numTensors;
  const ref = tf.variableGrads(f, [w, b, unused]);
  const got = variableGrads(f, [w, b, unused]);
  assert.deepEqual(bits(got.value), bits(ref.value));
  assert.ok(!(unused.name in got.grads), 'no gradient for a variable the loss does not use');
  const refGrads = Object.fromEntries(Object.entries(ref.grads).filter(([, g]) => g !== null)) as Record<string, tf.Tensor>;
  sameGradients(refGrads, got.grads);
  tf.dispose([ref.value, got.value, ...Object.values(refGrads), ...Object.values(got.grads)]);
  assert.equal(tf.memory().numTensors - before, 0);
  tf.dispose([w, b, unused, x]);
});

test('variableGrads: gradient functions that hand one tensor to several inputs, pass dy through or return the caller\'s tensors', async () => {
  await ensureBackend('cpu');
  const rng = new Rng(10);
  const vec = (name: string) => tf.variable(tf.tensor(Float32Array.from({ length: 6 }, () => rng.uniform(-1, 1))), true, name);
  const u = vec('alias_u'), v = vec('alias_v'), w = vec('alias_w');
  const values = Float32Array.from({ length: 6 }, () => rng.uniform(-1, 1));
  let constant = tf.tensor(values);
  // [g, g]: one new tensor as both inputs' gradient; [dy, dy]: the incoming gradient as is;
  // and a gradient that is a tensor of the caller's, which must survive the pass
  const sameForBoth = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => ({
    value: tf.add(args[0] as tf.Tensor, args[1] as tf.Tensor),
    gradFunc: (dy: tf.Tensor) => { const g = tf.mul(dy, 2); return [g, g]; },
  }));
  const passThrough = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => ({
    value: tf.sub(args[0] as tf.Tensor, args[1] as tf.Tensor),
    gradFunc: (dy: tf.Tensor) => [dy, dy],
  }));
  const callersTensor = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => ({
    value: tf.mul(args[0] as tf.Tensor, 3),
    gradFunc: () => [constant],
  }));
  const f = () => {
    const a = sameForBoth(u, v); // u and v already have gradients from the terms below
    const b = passThrough(a, w);
    return tf.sum(tf.addN([tf.mul(b, b), u, v, tf.mul(w, a), callersTensor(w)])) as tf.Scalar;
  };
  const ref = tf.variableGrads(f, [u, v, w]); // (tfjs frees the caller's tensor once it sums it in)
  constant.dispose();
  constant = tf.tensor(values);
  const before = tf.memory().numTensors;
  const got = variableGrads(f, [u, v, w]);
  assert.ok(!constant.isDisposed, 'a tensor of the caller\'s returned as a gradient is not freed');
  assert.deepEqual(bits(got.value), bits(ref.value));
  sameGradients(ref.grads as Record<string, tf.Tensor>, got.grads);
  tf.dispose([got.value, ...Object.values(got.grads)]);
  assert.equal(tf.memory().numTensors - before, 0, 'nothing of the pass left behind');
  tf.dispose([ref.value, ...Object.values(ref.grads), u, v, w, constant]);
});

test('variableGrads refuses a loss that depends on none of the variables, as tf.variableGrads does', async () => {
  await ensureBackend('cpu');
  const w = tf.variable(tf.tensor([1, 2]), true, 'bp_disconnected');
  const before = tf.memory().numTensors;
  assert.throws(() => variableGrads(() => tf.sum(tf.tensor([3, 4])) as tf.Scalar, [w]), /does not depend on any of the variables/);
  assert.equal(tf.memory().numTensors, before, 'nothing left behind');
  w.dispose();
});

test('variableGrads\' backward pass holds no more than the forward pass left (tf.variableGrads keeps every gradient to the end)', async () => {
  await ensureBackend('cpu');
  const rng = new Rng(2);
  const blocks = 32, rows = 256, width = 64, act = rows * width * 4; // bytes of one activation
  const ws = Array.from({ length: blocks }, (_v, i) =>
    tf.variable(tf.tensor(Float32Array.from({ length: width * width }, () => rng.uniform(-0.2, 0.2)), [width, width]), true, `chain_${i}`));
  const x = tf.tensor(Float32Array.from({ length: rows * width }, () => rng.uniform(-1, 1)), [rows, width]);
  let forwardEnd = 0;
  const f = () => {
    let h: tf.Tensor = x;
    for (const w of ws) h = tf.add(h, tf.relu(tf.matMul(h, w))); // residual blocks
    const loss = tf.mean(tf.square(h)) as tf.Scalar;
    forwardEnd = tf.memory().numBytes; // every forward tensor still alive
    return loss;
  };
  const run = async (vg: typeof variableGrads) => {
    let out: ReturnType<typeof variableGrads> | undefined;
    const p = await tf.profile(() => { out = vg(f, ws); });
    out!.value.dispose();
    return { over: p.peakBytes - forwardEnd, grads: out!.grads };
  };
  const ref = await run(tf.variableGrads as typeof variableGrads);
  const got = await run(variableGrads);
  sameGradients(ref.grads, got.grads);
  // the weight gradients themselves (64x64 each) are kept by both; activations' gradients only by tfjs
  const weightGrads = blocks * width * width * 4;
  assert.ok(ref.over > weightGrads + blocks * act, `tf.variableGrads: ${ref.over} bytes over the forward's, the test's premise`);
  assert.ok(got.over <= weightGrads + 4 * act, `variableGrads: ${got.over} bytes over the forward's (tf.variableGrads ${ref.over})`);
  tf.dispose([...Object.values(ref.grads), ...Object.values(got.grads), ...ws, x]);
});

// exp's gradient of Relu (kernels/relu-grad.ts) reads the output instead of the input: the same
// values as tfjs' dy * step(x) bit for bit (zeros, negative zeros and the sign of dy included) on
// cpu, wasm and native, and it saves no handle of the input, so a residual block's pre-ReLU sum
// is freed when the forward pass ends.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../src/model/tf.ts';
import { ensureBackend, type BackendName } from '../../src/model/backend.ts';
import { loadAddon } from '../../src/model/kernels/native.ts';
import { variableGrads } from '../../src/model/backprop.ts';
import { Rng } from '../../src/util/rng.ts';

const backends: BackendName[] = ['cpu', 'wasm', ...(loadAddon() ? ['native' as const] : [])];

function bits(t: tf.Tensor): Uint32Array {
  const v = t.dataSync() as Float32Array;
  return new Uint32Array(v.buffer, v.byteOffset, v.length);
}

for (const backend of backends) {
  test(`the Relu gradient on ${backend} equals tfjs' dy * step(x) bit for bit`, async () => {
    await ensureBackend(backend);
    const rng = new Rng(4);
    const n = 3 * 5 * 7 * 4;
    // a coarse grid: many exact zeros and negative zeros among the inputs
    const xv = Float32Array.from({ length: n }, (_v, i) => (i % 11 === 0 ? -0 : Math.round(rng.uniform(-3, 3))));
    const dv = Float32Array.from({ length: n }, () => rng.uniform(-2, 2));
    const x = tf.tensor(xv, [3, 5, 7, 4]), dy = tf.tensor(dv, [3, 5, 7, 4]);
    const got = tf.grad((t: tf.Tensor) => tf.relu(t))(x, dy);
    const ref = tf.mul(dy, tf.cast(tf.step(x), 'float32'));
    assert.deepEqual(bits(got), bits(ref));
    tf.dispose([x, dy, got, ref]);
  });
}

test('a residual block\'s sum before its ReLU is not kept for the backward pass', async () => {
  await ensureBackend('cpu');
  const rng = new Rng(6);
  const w = tf.variable(tf.tensor(Float32Array.from({ length: 16 }, () => rng.uniform(-1, 1)), [4, 4]), true, 'relu_grad_w');
  const x = tf.tensor(Float32Array.from({ length: 64 * 4 }, () => rng.uniform(-1, 1)), [64, 4]);
  const storage = (tf.backend() as unknown as { data: { has(id: object): boolean } }).data;
  let sumId: object | undefined;
  let sumAliveInBackward: boolean | undefined;
  // an identity after the ReLU whose gradient runs first in the backward pass and looks whether
  // the sum's memory still exists (only a saved handle could keep it: the forward pass is over)
  const probe = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => ({
    value: (args[0] as tf.Tensor).clone(),
    gradFunc: (dy: tf.Tensor) => {
      sumAliveInBackward = storage.has(sumId!);
      return dy;
    },
  }));
  const { value, grads } = variableGrads(() => {
    const sum = tf.add(tf.matMul(x, w), x);
    sumId = sum.dataId;
    return tf.sum(probe(tf.relu(sum))) as tf.Scalar;
  }, [w]);
  assert.equal(sumAliveInBackward, false, 'the pre-ReLU sum was freed with the forward pass');
  const ref = tf.tidy(() => tf.matMul(tf.transpose(x), tf.cast(tf.step(tf.add(tf.matMul(x, w), x)), 'float32')));
  assert.deepEqual(bits(grads[w.name]), bits(ref));
  tf.dispose([value, ...Object.values(grads), ref, w, x]);
});

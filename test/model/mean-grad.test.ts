// exp's gradient of Mean (kernels/mean-grad.ts): the same values as tfjs' own formula bit for bit,
// on cpu and on wasm (and native where the addon is built), without tfjs' full-size Fill,
// Multiply and RealDiv.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../src/model/tf.ts';
import { ensureBackend, type BackendName } from '../../src/model/backend.ts';
import { loadAddon } from '../../src/model/kernels/native.ts';
import { Rng } from '../../src/util/rng.ts';

const backends: BackendName[] = ['cpu', 'wasm', ...(loadAddon() ? ['native' as const] : [])];

const cases: [number[], number[], boolean][] = [
  [[2, 5, 7, 3], [1, 2], false], // global average pooling
  [[2, 5, 7, 3], [1, 2], true], // keepDims, as squeeze-excitation's pool
  [[4, 6], [0], false],
  [[3, 4, 5], [2], true],
  [[3, 4, 5], [0, 1, 2], false],
];

for (const backend of backends) {
  for (const [shape, axes, keepDims] of cases) {
    test(`the Mean gradient on ${backend} [${shape}] over ${axes}${keepDims ? ' (keepDims)' : ''} equals tfjs' (dy * ones) / n bit for bit, without full-size intermediates`, async () => {
      await ensureBackend(backend);
      const rng = new Rng(shape.length + axes.length);
      const n = shape.reduce((a, b) => a * b, 1);
      const x = tf.tensor(Float32Array.from({ length: n }, () => rng.uniform(-3, 3)), shape);
      const outShape = tf.mean(x, axes, keepDims).shape;
      const dy = tf.tensor(Float32Array.from({ length: tf.util.sizeFromShape(outShape) }, () => rng.uniform(-3, 3)), outShape);
      const got = tf.grad((t: tf.Tensor) => tf.mean(t, axes, keepDims))(x, dy);
      const expanded = shape.map((d, i) => (axes.includes(i) ? 1 : d));
      const count = axes.reduce((p, a) => p * shape[a], 1);
      const ref = tf.div(tf.mul(tf.reshape(dy, expanded), tf.ones(shape)), count);
      assert.deepEqual(got.shape, shape);
      assert.deepEqual(got.dataSync(), ref.dataSync());
      const profile = await tf.profile(() => tf.grad((t: tf.Tensor) => tf.mean(t, axes, keepDims))(x, dy));
      const full = profile.kernels.filter((k) => ['Fill', 'Multiply', 'RealDiv'].includes(k.name)
        && tf.util.sizeFromShape(k.outputShapes[0] as number[]) === n && n > tf.util.sizeFromShape(outShape));
      assert.deepEqual(full.map((k) => k.name), [], 'no full-size Fill / Multiply / RealDiv');
      tf.dispose([x, dy, got, ref]);
    });
  }
}

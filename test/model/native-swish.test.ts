// exp's fused swish and relu6 (kernels/swish.ts) on native against tfjs' x * sigmoid(x) and tfjs
// layers' min(6, relu(x)) on cpu: values and
// gradients, one kernel each way, and the layer the builder uses. Skips, saying why, when the
// addon is not built.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../src/model/tf.ts';
import { ensureBackend } from '../../src/model/backend.ts';
import { loadAddon, registerNativeKernels, unavailableReason } from '../../src/model/kernels/native.ts';
import { fusedRelu6Available, fusedSwishAvailable, relu6, RELU6, RELU6_GRAD, swish, SWISH, SWISH_GRAD } from '../../src/model/kernels/swish.ts';
import { Relu6, Swish } from '../../src/model/layers/index.ts';
import { Rng } from '../../src/util/rng.ts';
import { relError } from './kernel-helpers.ts';

const skip = loadAddon() ? false : `native addon not available: ${unavailableReason}`;
if (skip) console.log(`# skipping the native swish tests: ${skip}`);

function data(shape: number[], seed: number): Float32Array {
  const rng = new Rng(seed);
  // wide enough to reach both saturated ends of the sigmoid
  return Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.uniform(-12, 12));
}

function valueAndGrad(shape: number[], f: (x: tf.Tensor) => tf.Tensor): Float32Array[] {
  return tf.tidy(() => {
    const x = tf.tensor(data(shape, 1), shape), r = tf.tensor(data(shape, 2), shape);
    const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(f(t), r)))(x);
    return [f(x).dataSync() as Float32Array, g.dataSync() as Float32Array];
  });
}

for (const shape of [[7], [3, 5, 6, 8], [2, 33, 17, 24]]) {
  test(`native fused swish [${shape}]: value and gradient equal x * sigmoid(x) on cpu, one kernel each way`, { skip }, async () => {
    await ensureBackend('cpu');
    assert.equal(fusedSwishAvailable(), false);
    const ref = valueAndGrad(shape, (x) => tf.mul(x, tf.sigmoid(x)));
    const viaFallback = valueAndGrad(shape, swish);
    await ensureBackend('native');
    registerNativeKernels();
    assert.equal(fusedSwishAvailable(), true);
    const got = valueAndGrad(shape, swish);
    const layer = new Swish({});
    const viaLayer = valueAndGrad(shape, (x) => layer.apply(x) as tf.Tensor);
    for (const [i, name] of ['value', 'gradient'].entries()) {
      assert.deepEqual(viaFallback[i], ref[i], `${name}: the fallback is tfjs' composite`);
      assert.ok(relError(ref[i], got[i]) < 1e-5, `${name}: relative error ${relError(ref[i], got[i])}`);
      assert.deepEqual(viaLayer[i], got[i], `${name} through the layer`);
    }
    const x = tf.tensor(data(shape, 1), shape);
    const profile = await tf.profile(() => tf.dispose(tf.grad((t: tf.Tensor) => tf.sum(swish(t)))(x)));
    const names = profile.kernels.map((k) => k.name);
    assert.ok(names.includes(SWISH) && names.includes(SWISH_GRAD) && !names.includes('Sigmoid'), names.join(', '));
    x.dispose();
  });
}

for (const shape of [[9], [3, 5, 6, 8], [2, 33, 17, 24]]) {
  test(`native fused relu6 [${shape}]: value and gradient equal min(6, relu(x)) on cpu, one kernel each way`, { skip }, async () => {
    await ensureBackend('cpu');
    assert.equal(fusedRelu6Available(), false);
    const layersRelu6 = (x: tf.Tensor) => tf.layers.activation({ activation: 'relu6' }).apply(x) as tf.Tensor;
    const ref = valueAndGrad(shape, layersRelu6);
    assert.deepEqual(valueAndGrad(shape, relu6), ref, 'the fallback is tfjs layers\' relu6');
    await ensureBackend('native');
    registerNativeKernels();
    assert.equal(fusedRelu6Available(), true);
    const got = valueAndGrad(shape, relu6);
    const layer = new Relu6({});
    const viaLayer = valueAndGrad(shape, (x) => layer.apply(x) as tf.Tensor);
    for (const [i, name] of ['value', 'gradient'].entries()) {
      assert.deepEqual(got[i], ref[i], `${name}: exactly tfjs layers' relu6`);
      assert.deepEqual(viaLayer[i], got[i], `${name} through the layer`);
    }
    const x = tf.tensor(data(shape, 1), shape);
    const profile = await tf.profile(() => tf.dispose(tf.grad((t: tf.Tensor) => tf.sum(relu6(t)))(x)));
    const names = profile.kernels.map((k) => k.name);
    assert.ok(names.includes(RELU6) && names.includes(RELU6_GRAD) && !names.includes('Minimum'), names.join(', '));
    x.dispose();
  });
}

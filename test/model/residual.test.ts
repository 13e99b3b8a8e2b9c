// The fused end of a residual block, relu(x * gate + shortcut) (kernels/residual.ts, layers/residual.ts):
// on native its value and all three gradients equal tfjs' composite (Multiply, Add, Relu and their
// gradients on the same backend) bit for bit over a table of shapes, a NaN still reaches the
// gradient, and a model using the layer saves and loads back with the same output.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../src/model/tf.ts';
import { ensureBackend } from '../../src/model/backend.ts';
import { loadAddon, registerNativeKernels, unavailableReason } from '../../src/model/kernels/native.ts';
import { fusedResidualAvailable, residualRelu } from '../../src/model/kernels/residual.ts';
import { variableGrads } from '../../src/model/backprop.ts';
import { NetBuilder } from '../../src/model/layers/blocks.ts';
import '../../src/model/layers/index.ts';
import { Rng } from '../../src/util/rng.ts';

const skip = loadAddon() ? false : `native addon not available: ${unavailableReason}`;
if (skip) console.log(`# skipping the native residual kernel tests: ${skip}`);

async function useNative(): Promise<void> {
  await ensureBackend('native');
  registerNativeKernels();
}

function random(rng: Rng, shape: number[], lo = -1, hi = 1): tf.Tensor {
  const a = new Float32Array(shape.reduce((x, y) => x * y, 1));
  for (let i = 0; i < a.length; i++) a[i] = rng.uniform(lo, hi);
  return tf.tensor(a, shape);
}

/** The value and the gradients (x, shortcut, gate) of sum(w * f(x, r, s)) for a fixed random w. */
function valueAndGrads(f: (x: tf.Tensor, r: tf.Tensor, s?: tf.Tensor) => tf.Tensor, x: tf.Tensor, r: tf.Tensor, w: tf.Tensor, s?: tf.Tensor): Float32Array[] {
  const vars = [x, r, ...(s ? [s] : [])].map((t) => tf.variable(t));
  const y = tf.tidy(() => f(vars[0], vars[1], vars[2]));
  const { grads } = variableGrads(() => tf.sum(tf.mul(f(vars[0], vars[1], vars[2]), w)) as tf.Scalar, vars);
  const out = [y, ...vars.map((v) => grads[v.name])].map((t) => t.dataSync() as Float32Array);
  tf.dispose([y, ...vars, ...Object.values(grads)]);
  return out;
}

const composite = (x: tf.Tensor, r: tf.Tensor, s?: tf.Tensor) => tf.relu(tf.add(s ? tf.mul(x, s) : x, r));
const bits = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

test('native: relu(x * gate + shortcut) and its gradients equal the composite bit for bit', { skip }, async () => {
  await useNative();
  assert.ok(fusedResidualAvailable());
  const rng = new Rng(7, 1);
  for (const shape of [[2, 5, 7, 3], [3, 4, 4, 64], [1, 1, 1, 1], [4, 9, 11, 130], [16, 14, 14, 256]]) {
    for (const gated of [false, true]) {
      const x = random(rng, shape);
      const r = random(rng, shape);
      const w = random(rng, shape);
      const s = gated ? random(rng, [shape[0], 1, 1, shape[3]], 0, 1) : undefined;
      const ran = await tf.profile(() => residualRelu(x, r, s));
      const names = ran.kernels.map((k) => k.name);
      assert.ok(names.includes('ExpResidualRelu') && !names.some((n) => ['Relu', 'Add', 'Multiply'].includes(n)), `one fused kernel, not the composite: ${names}`);
      tf.dispose(ran.result as tf.Tensor);
      const fused = valueAndGrads(residualRelu, x, r, w, s);
      const plain = valueAndGrads(composite, x, r, w, s);
      const what = ['value', 'x gradient', 'shortcut gradient', 'gate gradient'];
      assert.equal(fused.length, gated ? 4 : 3);
      fused.forEach((a, i) => assert.ok(bits(a).equals(bits(plain[i])), `${what[i]} differs at [${shape}]${gated ? ' with a gate' : ''}`));
      if (fused[0].length > 100) assert.ok(fused[0].some((v) => v === 0) && fused[0].some((v) => v > 0), 'the ReLU both passes and stops values');
      tf.dispose([x, r, w, ...(s ? [s] : [])]);
    }
  }
});

test('native: a NaN in the block still reaches the gradients', { skip }, async () => {
  await useNative();
  const x = tf.tensor([1, Number.NaN, -2, 3], [1, 1, 2, 2]);
  const r = tf.zeros([1, 1, 2, 2]);
  const s = tf.tensor([0.5, 2], [1, 1, 1, 2]);
  const [y, dx, , ds] = valueAndGrads(residualRelu, x, r, tf.onesLike(x), s);
  assert.ok(Number.isNaN(y[1]));
  assert.ok(Number.isNaN(dx[1]) && Number.isNaN(ds[1]));
  assert.equal(dx[0], 0.5);
  tf.dispose([x, r, s]);
});

test('a model with residual layers saves and loads back, giving the same output (cpu and native)', async () => {
  for (const backend of skip ? ['cpu'] : ['cpu', 'native']) {
    if (backend === 'native') await useNative(); else await ensureBackend('cpu');
    const b = new NetBuilder(3);
    const input = tf.input({ shape: [6, 6, 4] });
    const y = b.bn(b.conv(input, 'conv', { filters: 4, kernel: 3 }), 'bn');
    const gate = b.seGate(y, 'se', 2, 'relu', ['fc1', 'fc2']);
    const out = b.residualRelu(b.residualRelu(y, input, 'add_relu', gate), input, 'add_relu2');
    const model = tf.model({ inputs: input, outputs: out });
    const copy = await tf.models.modelFromJSON({ modelTopology: model.toJSON(undefined, false) } as tf.io.ModelJSON);
    copy.setWeights(model.getWeights());
    const xin = random(new Rng(1, 2), [2, 6, 6, 4]);
    const a = (model.predict(xin) as tf.Tensor).dataSync() as Float32Array;
    const c = (copy.predict(xin) as tf.Tensor).dataSync() as Float32Array;
    assert.ok(bits(a).equals(bits(c)), backend);
    assert.deepEqual(copy.layers.filter((l) => l.getClassName() === 'ExpResidualRelu').map((l) => l.name), ['add_relu', 'add_relu2']);
  }
});

// Registry-driven: every registered backbone is counted against its reference definition and
// run forward and backward, so adding a backbone adds its tests.
//
// Runs on the wasm backend with exp's gradient kernels (src/model/backend.ts): tfjs-cpu's
// Conv2DBackpropFilter is a naive 7-deep loop (resnet18 at 2x32x32 needs ~30 s there for the
// kernel gradients alone, se_resnext50 ~170 s) while wasm does all seven backbones in ~30 s.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../src/model/tf.ts';
import { ensureBackend } from '../../src/model/backend.ts';
import { backbones, countParameters } from '../../src/model/backbones/index.ts';

await ensureBackend('wasm');

const SIZE = 32;

function build(name: string, seed: number, size = SIZE): tf.LayersModel {
  const input = tf.input({ shape: [size, size, 3] });
  return tf.model({ inputs: input, outputs: backbones.get(name).build(input, { seed }) });
}

function allFinite(t: tf.Tensor): boolean {
  return tf.tidy(() => tf.all(tf.isFinite(t)).dataSync()[0] === 1);
}

// A few layers per backbone that must exist under their PyTorch module names (weights importer).
const TORCH_LAYERS: Record<string, string[]> = {
  resnet50: ['conv1', 'bn1', 'layer1.0.conv2', 'layer1.0.downsample.0', 'layer4.2.bn3'],
  se_resnext50_32x4d: ['layer0.conv1', 'layer1.0.se_module.fc2', 'layer3.5.conv2', 'layer4.0.downsample.1'],
  efficientnet_b0: ['conv_stem', 'blocks.0.0.conv_dw', 'blocks.1.0.conv_pwl', 'blocks.5.3.se.conv_reduce', 'conv_head', 'bn2'],
  mobilenet_v2: ['features.0.0', 'features.1.conv.0.0', 'features.2.conv.1.0', 'features.17.conv.3', 'features.18.0'],
};

/**
 * The beta of a batch norm whose output reaches only 1x1 convolutions, directly or through
 * residual additions (mobilenet's and efficientnet's linear bottlenecks): beta shifts each channel
 * by a constant, the convolution turns that into a constant per output channel, and the batch norm
 * after it subtracts it again. The true gradient is then exactly 0 (rounding used to leave ~1e-8),
 * so such a beta is exempt from the "not zero" check.
 */
function cancelledShift(model: tf.LayersModel, weight: string): boolean {
  if (!weight.endsWith('/beta')) return false;
  const onlyIntoConvs = (layer: tf.layers.Layer): boolean => layer.outboundNodes.length > 0
    && layer.outboundNodes.every((n) => {
      const next = n.outboundLayer;
      if (next.getClassName() === 'Add') return onlyIntoConvs(next);
      return next.getClassName() === 'Conv2D' && (next.getConfig().kernelSize as number[]).every((k) => k === 1);
    });
  return onlyIntoConvs(model.getLayer(weight.slice(0, weight.lastIndexOf('/'))));
}

for (const { name, value: b } of backbones.list()) {
  test(`backbone ${name}: parameters equal ${b.referenceSource} exactly, runs forward and backward`, () => {
    const model = build(name, 7);
    try {
      const n = countParameters(model);
      assert.equal(n, b.referenceParams, `${name}: ${n} parameters, reference ${b.referenceParams}`);
      for (const l of TORCH_LAYERS[name] ?? []) assert.ok(model.getLayer(l).weights.length > 0, `layer ${l}`);
      const out = model.outputs[0].shape;
      assert.equal(out[3], b.featureChannels);

      const x = tf.randomNormal([2, SIZE, SIZE, 3], 0, 1, 'float32', 1);
      const y = model.predict(x) as tf.Tensor;
      assert.deepEqual(y.shape.slice(0, 1).concat(y.shape.slice(3)), [2, b.featureChannels]);
      assert.ok(allFinite(y), 'forward output has NaN/Inf');

      const vars = model.trainableWeights;
      const xv = tf.variable(x, true, `${name}_x`);
      const loss = () => tf.mean(tf.square(model.apply(xv, { training: true }) as tf.Tensor)) as tf.Scalar;
      const { value, grads } = tf.variableGrads(loss, [xv, ...vars.map((v) => v.read() as tf.Variable)]);
      assert.ok(Number.isFinite(value.dataSync()[0]));
      assert.equal(Object.keys(grads).length, vars.length + 1);
      const gx = grads[xv.name];
      assert.ok(allFinite(gx) && tf.tidy(() => tf.sum(tf.abs(gx)).dataSync()[0]) > 0, 'no gradient reaches the input');
      for (const [k, g] of Object.entries(grads)) {
        assert.ok(allFinite(g), `gradient of ${k} has NaN/Inf`);
        if (cancelledShift(model, k)) continue;
        assert.ok(tf.tidy(() => tf.max(tf.abs(g)).dataSync()[0]) > 0, `gradient of ${k} is zero`);
      }
      tf.dispose([x, y, xv, value, ...Object.values(grads)]);
    } finally {
      model.dispose();
    }
  });
}

test('backbone tiny: one optimizer step over all weights changes every trainable weight', () => {
  const model = build('tiny', 3);
  const x = tf.randomNormal([2, SIZE, SIZE, 3], 0, 1, 'float32', 2);
  const before = model.trainableWeights.map((w) => w.read().clone());
  const opt = tf.train.sgd(0.1);
  opt.minimize(() => tf.mean(tf.square(tf.sub(model.apply(x, { training: true }) as tf.Tensor, 1))) as tf.Scalar);
  model.trainableWeights.forEach((w, i) => {
    const d = tf.tidy(() => tf.max(tf.abs(tf.sub(w.read(), before[i]))).dataSync()[0]);
    assert.ok(d > 0, `${w.name} did not change`);
  });
  tf.dispose([x, ...before]);
  opt.dispose();
  model.dispose();
});

test('the same seed gives the same initial weights; another seed different ones', () => {
  const a = build('tiny', 11);
  const b = build('tiny', 11);
  const c = build('tiny', 12);
  const wa = a.getWeights();
  const wb = b.getWeights();
  const wc = c.getWeights();
  assert.equal(wa.length, wb.length);
  wa.forEach((t, i) => assert.deepEqual(Array.from(t.dataSync()), Array.from(wb[i].dataSync()), a.weights[i].name));
  const kernel = a.weights.findIndex((w) => w.name.includes('block1.conv/kernel'));
  assert.notDeepEqual(Array.from(wa[kernel].dataSync()), Array.from(wc[kernel].dataSync()));
  // different layers of one model get different streams
  const k0 = Array.from(wa[a.weights.findIndex((w) => w.name.includes('block0.conv/kernel'))].dataSync()).slice(0, 16);
  assert.notDeepEqual(k0, Array.from(wa[kernel].dataSync()).slice(0, 16));
  [a, b, c].forEach((m) => m.dispose());
});

test('unknown backbone names list the choices', () => {
  assert.throws(() => backbones.get('resnet9000'), /Available: tiny, resnet18/);
});

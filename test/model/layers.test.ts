// Custom layers: grouped convolution against independent references (a naive loop, and a dense
// convolution with a block-diagonal kernel), also with PyTorch's numeric padding, its gradients by
// finite differences, max pooling with PyTorch's padding, serialisation round trips, batch norm
// freezing and reproducible dropout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../src/model/tf.ts';
import { GroupConv2D, groupConv2d, FreezableBatchNorm, SeededDropout, NetBuilder, PaddedMaxPooling2D, PaddedDepthwiseConv2D, layerSeed } from '../../src/model/layers/index.ts';
import type { Padding, PoolPadding } from '../../src/model/layers/index.ts';
import { Rng } from '../../src/util/rng.ts';

await tf.setBackend('cpu');

function rand(shape: number[], seed: number): tf.Tensor {
  const r = new Rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(Float32Array.from({ length: n }, () => r.uniform(-1, 1)), shape);
}

/** Grouped convolution by definition, in plain loops (NHWC, kernel [kh,kw,cin/g,cout]). */
function naiveGroupConv(x: tf.Tensor, k: tf.Tensor, groups: number, stride: number, padding: Padding): tf.Tensor {
  const [n, h, w, cin] = x.shape;
  const [kh, kw, cg, cout] = k.shape;
  const og = cout / groups;
  // 'same' as tfjs; a number p as PyTorch: p zeros on every side
  const p = typeof padding === 'number' ? padding : 0;
  const oh = padding === 'same' ? Math.ceil(h / stride) : Math.floor((h + 2 * p - kh) / stride) + 1;
  const ow = padding === 'same' ? Math.ceil(w / stride) : Math.floor((w + 2 * p - kw) / stride) + 1;
  const pt = padding === 'same' ? Math.floor(Math.max((oh - 1) * stride + kh - h, 0) / 2) : p;
  const pl = padding === 'same' ? Math.floor(Math.max((ow - 1) * stride + kw - w, 0) / 2) : p;
  const xv = x.dataSync();
  const kv = k.dataSync();
  const out = new Float32Array(n * oh * ow * cout);
  for (let b = 0; b < n; b++) for (let i = 0; i < oh; i++) for (let j = 0; j < ow; j++) for (let o = 0; o < cout; o++) {
    const g = Math.floor(o / og);
    let s = 0;
    for (let a = 0; a < kh; a++) for (let e = 0; e < kw; e++) {
      const y = i * stride + a - pt;
      const z = j * stride + e - pl;
      if (y < 0 || y >= h || z < 0 || z >= w) continue;
      for (let c = 0; c < cg; c++) s += xv[((b * h + y) * w + z) * cin + g * cg + c] * kv[((a * kw + e) * cg + c) * cout + o];
    }
    out[((b * oh + i) * ow + j) * cout + o] = s;
  }
  return tf.tensor(out, [n, oh, ow, cout]);
}

/** The grouped kernel [kh,kw,cin/g,cout] as a dense block-diagonal kernel [kh,kw,cin,cout]. */
function blockDiagonal(k: tf.Tensor, groups: number): tf.Tensor4D {
  const [kh, kw, cg, cout] = k.shape;
  const og = cout / groups;
  const kv = k.dataSync();
  const dense = new Float32Array(kh * kw * cg * groups * cout);
  for (let a = 0; a < kh * kw; a++) for (let c = 0; c < cg; c++) for (let o = 0; o < cout; o++) {
    const g = Math.floor(o / og);
    dense[(a * cg * groups + g * cg + c) * cout + o] = kv[(a * cg + c) * cout + o];
  }
  return tf.tensor4d(dense, [kh, kw, cg * groups, cout]);
}

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}

const CASES: { n: number; hw: number; cin: number; cout: number; g: number; k: number; s: number; p: Padding }[] = [
  { n: 2, hw: 7, cin: 8, cout: 8, g: 4, k: 3, s: 1, p: 'same' },
  { n: 1, hw: 8, cin: 12, cout: 6, g: 3, k: 3, s: 2, p: 'valid' },
  { n: 3, hw: 9, cin: 6, cout: 12, g: 2, k: 1, s: 2, p: 'same' },
  { n: 1, hw: 6, cin: 32, cout: 32, g: 32, k: 3, s: 1, p: 'valid' },
  // PyTorch's symmetric padding (the builder's strided convolutions): even and odd sizes
  { n: 2, hw: 8, cin: 4, cout: 6, g: 1, k: 3, s: 2, p: 1 },
  { n: 1, hw: 9, cin: 3, cout: 5, g: 1, k: 7, s: 2, p: 3 },
  { n: 2, hw: 7, cin: 8, cout: 8, g: 4, k: 3, s: 2, p: 1 },
];

for (const c of CASES) {
  test(`groupConv2d ${JSON.stringify(c)} equals the per-group definition and a block-diagonal dense conv`, () => {
    const x = rand([c.n, c.hw, c.hw, c.cin], 1);
    const k = rand([c.k, c.k, c.cin / c.g, c.cout], 2);
    const y = groupConv2d(x as tf.Tensor4D, k as tf.Tensor4D, c.g, c.s, c.p);
    const ref = naiveGroupConv(x, k, c.g, c.s, c.p);
    assert.deepEqual(y.shape, ref.shape);
    assert.ok(maxAbsDiff(y, ref) < 1e-5, `naive: ${maxAbsDiff(y, ref)}`);
    const dense = tf.conv2d(x as tf.Tensor4D, blockDiagonal(k, c.g), c.s, c.p);
    if (typeof c.p === 'number') {
      // and a separate zero padding followed by a 'valid' convolution, what the builder used to do
      const padded = tf.pad(x, [[0, 0], [c.p, c.p], [c.p, c.p], [0, 0]]) as tf.Tensor4D;
      assert.ok(maxAbsDiff(y, groupConv2d(padded, k as tf.Tensor4D, c.g, c.s, 'valid')) < 1e-5);
      const layer = new GroupConv2D({ filters: c.cout, kernelSize: c.k, strides: c.s, groups: c.g, padding: c.p });
      assert.deepEqual(layer.computeOutputShape([null, c.hw, c.hw, c.cin]), [null, ...y.shape.slice(1)]);
    }
    assert.ok(maxAbsDiff(y, dense) < 1e-5, `block-diagonal: ${maxAbsDiff(y, dense)}`);
  });
}

test('GroupConv2D gradients match finite differences (input and kernel)', () => {
  const x = rand([2, 5, 5, 6], 3);
  const k = rand([3, 3, 2, 6], 4);
  const r = rand([2, 3, 3, 6], 5); // stride 2, same: 5 -> 3
  const f = (xx: tf.Tensor, kk: tf.Tensor) => tf.sum(tf.mul(groupConv2d(xx as tf.Tensor4D, kk as tf.Tensor4D, 3, 2, 'same'), r));
  const [gx, gk] = tf.grads(f)([x, k]);
  // f is linear in each argument, so a central difference is exact up to float rounding
  const eps = 0.5;
  const check = (t: tf.Tensor, g: tf.Tensor, which: 0 | 1) => {
    const rng = new Rng(9, which);
    const gv = g.dataSync();
    for (let t0 = 0; t0 < 12; t0++) {
      const i = rng.int(t.size);
      const d = tf.tidy(() => {
        const e = tf.oneHot(tf.tensor1d([i], 'int32'), t.size).reshape(t.shape).mul(eps);
        const [p, m] = which === 0 ? [f(t.add(e), k), f(t.sub(e), k)] : [f(x, t.add(e)), f(x, t.sub(e))];
        return (p.dataSync()[0] - m.dataSync()[0]) / (2 * eps);
      });
      assert.ok(Math.abs(d - gv[i]) <= 1e-3 * Math.max(1, Math.abs(d)), `${which ? 'kernel' : 'input'}[${i}]: fd ${d} vs grad ${gv[i]}`);
    }
  };
  check(x, gx, 0);
  check(k, gk, 1);
  // and the kernel gradient equals the block-diagonal dense conv's, restricted to the blocks
  const gDense = tf.grad((kd: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(x as tf.Tensor4D, kd as tf.Tensor4D, 2, 'same'), r)))(blockDiagonal(k, 3));
  assert.ok(maxAbsDiff(blockDiagonal(gk, 3), tf.mul(gDense, blockDiagonal(tf.onesLike(k), 3))) < 1e-4);
});

/** Max pooling by definition, positions outside the input skipped (PyTorch's -inf padding). */
function naiveMaxPool(x: tf.Tensor, k: number, s: number, [[t, b], [l, r]]: [[number, number], [number, number]]): tf.Tensor {
  const [n, h, w, c] = x.shape;
  const oh = Math.floor((h + t + b - k) / s) + 1, ow = Math.floor((w + l + r - k) / s) + 1;
  const xv = x.dataSync();
  const out = new Float32Array(n * oh * ow * c).fill(-Infinity);
  for (let bi = 0; bi < n; bi++) for (let i = 0; i < oh; i++) for (let j = 0; j < ow; j++) for (let ch = 0; ch < c; ch++) {
    for (let a = 0; a < k; a++) for (let e = 0; e < k; e++) {
      const y = i * s + a - t, z = j * s + e - l;
      if (y < 0 || y >= h || z < 0 || z >= w) continue;
      const o = ((bi * oh + i) * ow + j) * c + ch;
      out[o] = Math.max(out[o], xv[((bi * h + y) * w + z) * c + ch]);
    }
  }
  return tf.tensor(out, [n, oh, ow, c]);
}

test('PaddedMaxPooling2D: padded positions never win, even over negative inputs (PyTorch semantics)', () => {
  // all inputs negative: a zero padding would put 0 at every border output
  const x = tf.sub(rand([2, 7, 6, 3], 11), 2);
  for (const [k, s, pad] of [[3, 2, 1], [2, 2, 1], [3, 1, 1], [3, 2, [[0, 1], [0, 0]]], [3, 2, [[1, 0], [0, 1]]], [2, 2, 0]] as const) {
    const layer = new PaddedMaxPooling2D({ poolSize: k, strides: s, padding: pad as PoolPadding });
    const y = layer.apply(x) as tf.Tensor;
    const pads: [[number, number], [number, number]] = typeof pad === 'number' ? [[pad, pad], [pad, pad]] : pad as [[number, number], [number, number]];
    const ref = naiveMaxPool(x, k, s, pads);
    const what = `pool ${k}/${s} pad ${JSON.stringify(pad)}`;
    assert.deepEqual(y.shape, ref.shape, what);
    assert.deepEqual(layer.computeOutputShape([null, 7, 6, 3]), [null, ...ref.shape.slice(1)], what);
    assert.equal(maxAbsDiff(y, ref), 0, what);
    assert.ok(y.dataSync().every((v) => v < 0), `${what}: a padded zero won`);
  }
  // the gradient goes to the arg max inside the input, summed over overlapping windows
  const g = tf.grad((t: tf.Tensor) => tf.sum(new PaddedMaxPooling2D({ poolSize: 3, strides: 2, padding: 1 }).apply(t) as tf.Tensor))(x);
  const hits = naiveMaxPool(x, 3, 2, [[1, 1], [1, 1]]).size;
  assert.equal(tf.sum(g).dataSync()[0], hits);
  assert.throws(() => new PaddedMaxPooling2D({ poolSize: 3, padding: 2 }), /exceeds half/);
  assert.throws(() => new PaddedMaxPooling2D({ poolSize: 3, padding: -1 }), /whole numbers/);
});

test('resnet\'s stem is a padded convolution and a padded pooling layer: no zero-padding layers', async () => {
  const { backbones } = await import('../../src/model/backbones/index.ts');
  const input = tf.input({ shape: [32, 32, 3] });
  const m = tf.model({ inputs: input, outputs: backbones.get('resnet18').build(input, { seed: 1 }) });
  assert.deepEqual(m.layers.filter((l) => l.getClassName() === 'ZeroPadding2D').map((l) => l.name), []);
  assert.equal(m.getLayer('conv1').getClassName(), 'GroupConv2D');
  assert.deepEqual(m.getLayer('conv1').outputShape, [null, 16, 16, 64]);
  assert.deepEqual(m.getLayer('maxpool').outputShape, [null, 8, 8, 64]);
  assert.deepEqual(m.getLayer('layer2.0.conv1').outputShape, [null, 4, 4, 128]);
  m.dispose();
});

test('PaddedDepthwiseConv2D equals zero padding + a valid depthwise conv (values, gradients) and starts from tfjs\' DepthwiseConv2D weights', () => {
  for (const [hw, stride, pad, k] of [[7, 2, 1, 3], [8, 2, 2, 5], [9, 1, 1, 3], [6, 2, 0, 3]]) {
    const x = rand([2, hw, hw + 1, 6], 11);
    const seed = layerSeed(3, 'dw');
    const layer = new PaddedDepthwiseConv2D({ kernelSize: k, strides: stride, padding: pad, initScale: 12, seed, useBias: true });
    const y = layer.apply(x) as tf.Tensor;
    const ref = tf.layers.depthwiseConv2d({ kernelSize: k, strides: stride, padding: 'valid', useBias: true,
      depthwiseInitializer: tf.initializers.varianceScaling({ scale: 12, mode: 'fanIn', distribution: 'normal', seed }) });
    const padded = tf.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]]);
    const yRef = ref.apply(padded) as tf.Tensor;
    assert.equal(maxAbsDiff(layer.getWeights()[0], ref.getWeights()[0]), 0, 'same initial kernel');
    assert.deepEqual(y.shape, yRef.shape);
    assert.deepEqual(layer.computeOutputShape(x.shape), y.shape);
    assert.ok(maxAbsDiff(y, yRef) < 1e-5, `forward ${maxAbsDiff(y, yRef)}`);
    const r = rand(y.shape, 12);
    const w = layer.getWeights()[0];
    const f = (xx: tf.Tensor, ww: tf.Tensor) => tf.sum(tf.mul(tf.depthwiseConv2d(xx as tf.Tensor4D, ww as tf.Tensor4D, stride, pad), r));
    const g = (xx: tf.Tensor, ww: tf.Tensor) => tf.sum(tf.mul(tf.depthwiseConv2d(
      tf.pad(xx, [[0, 0], [pad, pad], [pad, pad], [0, 0]]) as tf.Tensor4D, ww as tf.Tensor4D, stride, 'valid'), r));
    const [dx, dw] = tf.grads(f)([x, w]), [dxRef, dwRef] = tf.grads(g)([x, w]);
    assert.ok(maxAbsDiff(dx, dxRef) < 1e-5 && maxAbsDiff(dw, dwRef) < 1e-4, 'gradients');
  }
});

test('mobilenet_v2 and efficientnet_b0 have no zero-padding layers: their strided depthwise convs pad themselves', async () => {
  const { backbones } = await import('../../src/model/backbones/index.ts');
  for (const name of ['mobilenet_v2', 'efficientnet_b0']) {
    const input = tf.input({ shape: [32, 32, 3] });
    const m = tf.model({ inputs: input, outputs: backbones.get(name).build(input, { seed: 1 }) });
    assert.deepEqual(m.layers.filter((l) => l.getClassName() === 'ZeroPadding2D').map((l) => l.name), [], name);
    assert.ok(m.layers.filter((l) => l.getClassName() === 'PaddedDepthwiseConv2D').length >= 4, name);
    m.dispose();
  }
});

/** A small model using every custom layer, for serialisation round trips. */
function customModel(seed: number): tf.LayersModel {
  const b = new NetBuilder(seed);
  const input = tf.input({ shape: [8, 8, 8] });
  let x = b.conv(input, 'g', { filters: 8, kernel: 3, stride: 2, groups: 4 });
  x = b.bn(x, 'g.bn');
  x = b.act(x, 'g.act', 'swish');
  x = b.maxPool(x, 'pool', 3, 1, 1);
  x = b.conv(x, 'strided', { filters: 8, kernel: 3, stride: 2 }); // dense, padding 1 in the conv
  x = b.bnAct(x, 'strided.bn', 'relu6'); // the activation inside the batch-norm layer
  x = b.conv(x, 'dw', { filters: 8, kernel: 3, groups: 8 });
  x = b.conv(x, 'dw2', { filters: 8, kernel: 3, stride: 2, groups: 8 }); // padding 1 in the depthwise conv
  x = b.se(x, 'se', 2, 'relu', ['fc1', 'fc2']);
  const out = new SeededDropout({ rate: 0.3, seed: 1, name: 'drop' }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out });
}

test('a model with GroupConv2D (grouped and padded), PaddedMaxPooling2D, FreezableBatchNorm, SE and SeededDropout saves and loads back identically', async () => {
  const m = customModel(1);
  // give the batch norm non-trivial statistics
  m.getLayer('g.bn').setWeights([rand([8], 1).add(1.5), rand([8], 2), rand([8], 3), rand([8], 4).abs().add(0.5)]);
  m.getLayer('strided.bn').setWeights([rand([8], 5).add(1.5), rand([8], 6), rand([8], 8), rand([8], 9).abs().add(0.5)]);
  let artifacts: tf.io.ModelArtifacts | undefined;
  await m.save(tf.io.withSaveHandler(async (a) => { artifacts = a; return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } }; }));
  const json = JSON.stringify(artifacts!.modelTopology);
  for (const cls of ['GroupConv2D', 'FreezableBatchNorm', 'SeededDropout', 'PaddedMaxPooling2D', 'PaddedDepthwiseConv2D']) assert.ok(json.includes(`"${cls}"`), cls);
  assert.ok(json.includes('"activation":"relu6"'), 'the batch norm\'s activation is in the topology');
  const loaded = await tf.loadLayersModel(tf.io.fromMemory(artifacts!));
  const x = rand([2, 8, 8, 8], 7);
  assert.equal(maxAbsDiff(m.predict(x) as tf.Tensor, loaded.predict(x) as tf.Tensor), 0);
  assert.deepEqual(loaded.layers.map((l) => l.getClassName()), m.layers.map((l) => l.getClassName()));
});

test('custom layers are initialised from the model seed and the layer name', () => {
  const w = (m: tf.LayersModel) => m.getWeights().map((t) => Array.from(t.dataSync()));
  const [a, b, c] = [customModel(5), customModel(5), customModel(6)];
  assert.deepEqual(w(a), w(b));
  const g = (m: tf.LayersModel) => Array.from(m.getLayer('g').getWeights()[0].dataSync());
  assert.notDeepEqual(g(a), g(c));
});

test('a frozen FreezableBatchNorm uses and keeps its moving statistics in training mode', () => {
  const bn = new FreezableBatchNorm({ momentum: 0.9, epsilon: 1e-5 });
  const x = rand([4, 3, 3, 2], 1).mul(3).add(2);
  const trained = () => bn.apply(x, { training: true }) as tf.Tensor;
  trained(); // builds; a trainable layer updates its statistics
  const mean1 = bn.getWeights()[2].dataSync()[0];
  assert.notEqual(mean1, 0);
  bn.trainable = false;
  const before = bn.getWeights().map((w) => Array.from(w.dataSync()));
  const y = trained();
  assert.deepEqual(bn.getWeights().map((w) => Array.from(w.dataSync())), before, 'moving statistics changed');
  assert.equal(maxAbsDiff(y, bn.apply(x, { training: false }) as tf.Tensor), 0, 'frozen layer did not use inference mode');
});

test('SeededDropout: masks are reproducible by (seed, step), differ between steps, and inference is identity', () => {
  const x = tf.ones([4, 64]);
  const d1 = new SeededDropout({ rate: 0.5, seed: 3 });
  const d2 = new SeededDropout({ rate: 0.5, seed: 3 });
  const a0 = (d1.apply(x, { training: true }) as tf.Tensor).dataSync();
  const a1 = (d1.apply(x, { training: true }) as tf.Tensor).dataSync();
  const b0 = (d2.apply(x, { training: true }) as tf.Tensor).dataSync();
  assert.deepEqual(Array.from(a0), Array.from(b0));
  assert.notDeepEqual(Array.from(a0), Array.from(a1));
  assert.ok(a0.every((v) => v === 0 || v === 2), 'kept units are scaled by 1/(1-rate)');
  const kept = a0.filter((v) => v > 0).length / a0.length;
  assert.ok(kept > 0.3 && kept < 0.7, `kept ${kept}`);
  d2.step = 1; // resume at step 1 reproduces the second mask
  assert.deepEqual(Array.from((d2.apply(x, { training: true }) as tf.Tensor).dataSync()), Array.from(a1));
  assert.equal(maxAbsDiff(d1.apply(x) as tf.Tensor, x), 0);
});

test('GroupConv2D rejects channels not divisible by groups', () => {
  assert.throws(() => new GroupConv2D({ filters: 6, kernelSize: 3, groups: 4 }), /not divisible/);
  const layer = new GroupConv2D({ filters: 8, kernelSize: 3, groups: 4 });
  assert.throws(() => layer.apply(tf.input({ shape: [5, 5, 6] })), /not divisible/);
});

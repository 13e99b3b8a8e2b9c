// Custom layers: grouped convolution against independent references (a naive loop, and a dense
// convolution with a block-diagonal kernel), its gradients by finite differences, serialisation
// round trips, batch norm freezing and reproducible dropout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../src/model/tf.ts';
import { GroupConv2D, groupConv2d, FreezableBatchNorm, SeededDropout, NetBuilder } from '../../src/model/layers/index.ts';
import type { Padding } from '../../src/model/layers/index.ts';
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
  const oh = padding === 'same' ? Math.ceil(h / stride) : Math.floor((h - kh) / stride) + 1;
  const ow = padding === 'same' ? Math.ceil(w / stride) : Math.floor((w - kw) / stride) + 1;
  const pt = padding === 'same' ? Math.floor(Math.max((oh - 1) * stride + kh - h, 0) / 2) : 0;
  const pl = padding === 'same' ? Math.floor(Math.max((ow - 1) * stride + kw - w, 0) / 2) : 0;
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

/** A small model using every custom layer, for serialisation round trips. */
function customModel(seed: number): tf.LayersModel {
  const b = new NetBuilder(seed);
  const input = tf.input({ shape: [8, 8, 8] });
  let x = b.conv(input, 'g', { filters: 8, kernel: 3, stride: 2, groups: 4 });
  x = b.bn(x, 'g.bn');
  x = b.act(x, 'g.act', 'swish');
  x = b.conv(x, 'dw', { filters: 8, kernel: 3, groups: 8 });
  x = b.se(x, 'se', 2, 'relu', ['fc1', 'fc2']);
  const out = new SeededDropout({ rate: 0.3, seed: 1, name: 'drop' }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out });
}

test('a model with GroupConv2D, FreezableBatchNorm, SE and SeededDropout saves and loads back identically', async () => {
  const m = customModel(1);
  // give the batch norm non-trivial statistics
  m.getLayer('g.bn').setWeights([rand([8], 1).add(1.5), rand([8], 2), rand([8], 3), rand([8], 4).abs().add(0.5)]);
  let artifacts: tf.io.ModelArtifacts | undefined;
  await m.save(tf.io.withSaveHandler(async (a) => { artifacts = a; return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } }; }));
  const json = JSON.stringify(artifacts!.modelTopology);
  for (const cls of ['GroupConv2D', 'FreezableBatchNorm', 'SeededDropout']) assert.ok(json.includes(`"${cls}"`), cls);
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

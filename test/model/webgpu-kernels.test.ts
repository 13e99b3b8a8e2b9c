// exp's ops on webgpu against the cpu backend: the grouped convolution kernels (run directly, as
// the layer runs them once the backend registers them), the fused batch-norm training op, the
// padded max pool, seeded dropout and every registered loss, values and gradients. Skipped, with
// the reason, where no WebGPU adapter can be had.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../src/model/tf.ts';
import { ensureBackend } from '../../src/model/backend.ts';
import { groupConv2d } from '../../src/model/layers/group-conv.ts';
import { FreezableBatchNorm, PaddedMaxPooling2D, SeededDropout } from '../../src/model/layers/index.ts';
import { buildLevelLosses, losses } from '../../src/model/losses.ts';
import { GROUP_CONV, GROUP_CONV_BACKPROP_FILTER, GROUP_CONV_BACKPROP_INPUT } from '../../src/model/webgpu/group-conv.ts';
import { Rng } from '../../src/util/rng.ts';
import { read, relMax, tryWebgpu, WEBGPU } from './webgpu-helpers.ts';

const { info, skip } = await tryWebgpu();
const cpu = () => ensureBackend('cpu');
const gpu = () => ensureBackend(WEBGPU);

function uniform(shape: number[], seed: number, lo = -1, hi = 1): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.uniform(lo, hi));
}

interface ConvCase { x: number[]; k: number; cout: number; groups: number; stride: number; pad: number | 'same' | 'valid'; dilation?: number }

const CASES: ConvCase[] = [
  { x: [2, 9, 9, 32], k: 3, cout: 32, groups: 8, stride: 1, pad: 1 }, // 4 channels a group: ResNeXt's narrowest
  { x: [2, 10, 9, 64], k: 3, cout: 64, groups: 2, stride: 2, pad: 1 }, // 32 a group, stride 2 (a stage's first block)
  { x: [1, 8, 8, 128], k: 3, cout: 128, groups: 32, stride: 1, pad: 'same' },
  { x: [2, 11, 10, 3], k: 7, cout: 8, groups: 1, stride: 2, pad: 3 }, // a plain stem convolution
  { x: [2, 7, 6, 6], k: 3, cout: 9, groups: 3, stride: 2, pad: 'same' }, // 2 in, 3 out a group: scalar paths
  { x: [2, 6, 6, 12], k: 3, cout: 12, groups: 12, stride: 1, pad: 'valid' }, // depthwise-like
  { x: [1, 5, 5, 8], k: 1, cout: 16, groups: 4, stride: 1, pad: 0 },
  // 73,728 filter-gradient workgroups: more than one dispatch dimension holds (65,535)
  { x: [1, 4, 4, 128], k: 3, cout: 1024, groups: 1, stride: 1, pad: 1 },
];

function attrs(c: ConvCase) {
  return { groups: c.groups, strides: [c.stride, c.stride], pad: c.pad, dilations: [c.dilation ?? 1, c.dilation ?? 1] };
}

/** y, dx, dw through exp's kernels on the active backend. */
function viaKernels(c: ConvCase, x: tf.Tensor4D, w: tf.Tensor4D, dy: tf.Tensor4D): tf.Tensor[] {
  const a = attrs(c) as unknown as tf.NamedAttrMap;
  return [
    tf.engine().runKernel(GROUP_CONV, { x, filter: w }, a) as tf.Tensor,
    tf.engine().runKernel(GROUP_CONV_BACKPROP_INPUT, { dy, filter: w }, { ...a, inputShape: x.shape }) as tf.Tensor,
    tf.engine().runKernel(GROUP_CONV_BACKPROP_FILTER, { x, dy }, { ...a, filterShape: w.shape }) as tf.Tensor,
  ];
}

function inputs(c: ConvCase, seed: number) {
  const ws = [c.k, c.k, c.x[3] / c.groups, c.cout];
  const x = tf.tensor4d(uniform(c.x, seed), c.x as [number, number, number, number]);
  const w = tf.tensor4d(uniform(ws, seed + 1), ws as [number, number, number, number]);
  return { x, w };
}

test(`${WEBGPU}: the grouped convolution kernels equal the split/conv/concat composite on cpu, values and gradients`, async (t) => {
  if (!info) return t.skip(skip);
  for (const [i, c] of CASES.entries()) {
    await cpu();
    const { x, w } = inputs(c, 10 * i);
    const y = groupConv2d(x, w, c.groups, c.stride, c.pad);
    const dy = tf.tensor4d(uniform(y.shape, 10 * i + 2), y.shape);
    const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(groupConv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.groups, c.stride, c.pad), dy)))([x, w]);
    const ref = await read(y, dx, dw);
    const dyData = await read(dy);
    tf.dispose([x, w, y, dy, dx, dw]);

    await gpu();
    const g = inputs(c, 10 * i);
    const gdy = tf.tensor4d(dyData[0], y.shape);
    const outs = viaKernels(c, g.x, g.w, gdy);
    assert.deepEqual(outs.map((o) => o.shape), [y.shape, c.x, w.shape], JSON.stringify(c));
    const got = await read(...outs);
    const again = await read(...viaKernels(c, g.x, g.w, gdy));
    ['y', 'dx', 'dw'].forEach((name, k) => {
      const err = relMax(ref[k], got[k]);
      assert.ok(err < 1e-5, `${JSON.stringify(c)} ${name}: relative error ${err.toExponential(2)}`);
      assert.deepEqual(again[k], got[k], `${name} not the same when repeated`);
    });
    tf.dispose([g.x, g.w, gdy, ...outs]);
  }
});

/** The dilated case, which tfjs cannot differentiate: against direct loops over the definition. */
test(`${WEBGPU}: the grouped convolution kernels with dilation 2 equal the definition`, async (t) => {
  if (!info) return t.skip(skip);
  const c: ConvCase = { x: [2, 9, 8, 8], k: 3, cout: 12, groups: 2, stride: 1, pad: 2, dilation: 2 };
  await gpu();
  const { x, w } = inputs(c, 3);
  const [n, h, wd, cin] = c.x;
  const cg = cin / c.groups, og = c.cout / c.groups, p = 2, d = 2;
  const oh = h + 2 * p - d * (c.k - 1), ow = wd + 2 * p - d * (c.k - 1);
  const dyData = uniform([n, oh, ow, c.cout], 5);
  const dy = tf.tensor4d(dyData, [n, oh, ow, c.cout]);
  const [got, gotDx, gotDw] = await read(...viaKernels(c, x, w, dy));
  const [xs, ws] = await read(x, w);
  const y = new Float64Array(n * oh * ow * c.cout), dx = new Float64Array(xs.length), dw = new Float64Array(ws.length);
  for (let b = 0; b < n; b++) for (let i = 0; i < oh; i++) for (let j = 0; j < ow; j++) for (let o = 0; o < c.cout; o++) {
    const g = Math.floor(o / og), yi = ((b * oh + i) * ow + j) * c.cout + o;
    for (let a = 0; a < c.k; a++) for (let e = 0; e < c.k; e++) {
      const iy = i - p + a * d, ix = j - p + e * d;
      if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
      for (let q = 0; q < cg; q++) {
        const xi = ((b * h + iy) * wd + ix) * cin + g * cg + q, wi = ((a * c.k + e) * cg + q) * c.cout + o;
        y[yi] += xs[xi] * ws[wi];
        dx[xi] += dyData[yi] * ws[wi];
        dw[wi] += dyData[yi] * xs[xi];
      }
    }
  }
  assert.deepEqual([oh, ow], [9, 8]);
  for (const [name, ref, g] of [['y', y, got], ['dx', dx, gotDx], ['dw', dw, gotDw]] as const) {
    const err = relMax(ref, g);
    assert.ok(err < 1e-5, `${name}: relative error ${err.toExponential(2)}`);
  }
  tf.dispose([x, w, dy]);
});

test(`${WEBGPU}: the grouped convolution kernels reject filters that do not fit the groups`, async (t) => {
  if (!info) return t.skip(skip);
  await gpu();
  const x = tf.zeros([1, 4, 4, 8]) as tf.Tensor4D, w = tf.zeros([3, 3, 3, 8]) as tf.Tensor4D;
  assert.throws(() => tf.engine().runKernel(GROUP_CONV, { x, filter: w }, { groups: 2, strides: [1, 1], pad: 1, dilations: [1, 1] }),
    /do not fit 2 groups/);
  tf.dispose([x, w]);
});

/** A FreezableBatchNorm in training: output, moving statistics, gradients for x, gamma and beta, kernels run. */
async function batchNormStep(shape: number[], seed: number) {
  const c = shape[shape.length - 1];
  // an offset mean and uneven scales, as activations have
  const x = tf.tensor(uniform(shape, seed).map((v, i) => 3 + v * (1 + (i % c))), shape);
  const r = tf.tensor(uniform(shape, seed + 1), shape);
  const bn = new FreezableBatchNorm({ momentum: 0.9, epsilon: 1e-5 });
  bn.build(x.shape);
  bn.setWeights([tf.tensor(uniform([c], seed + 2, 0.5, 2.5)), tf.tensor(uniform([c], seed + 3)),
    tf.tensor(uniform([c], seed + 4)), tf.tensor(uniform([c], seed + 5, 1, 3))]);
  const [gamma, beta] = bn.trainableWeights.map((w) => w.read() as tf.Variable);
  const loss = (xi: tf.Tensor) => tf.sum(tf.mul(bn.apply(xi, { training: true }) as tf.Tensor, r)) as tf.Scalar;
  const kernels = new Set((await tf.profile(() => { tf.dispose(tf.grad(loss)(x)); })).kernels.map((k) => k.name));
  const y = bn.apply(x, { training: true }) as tf.Tensor;
  const gx = tf.grad(loss)(x);
  const { value, grads } = tf.variableGrads(() => loss(x), [gamma, beta]);
  const out = await read(y, gx, grads[gamma.name], grads[beta.name], ...bn.getWeights().slice(2));
  tf.dispose([x, r, y, gx, value, ...Object.values(grads)]);
  bn.weights.forEach((w) => w.dispose());
  return { out, kernels };
}

test(`${WEBGPU}: batch norm in training runs exp's fused WGSL kernels and equals tfjs' own chain on cpu`, async (t) => {
  if (!info) return t.skip(skip);
  // channels a multiple of 4 (vector path) or not, few and many rows (one chunk or several)
  for (const [i, shape] of [[2, 5, 5, 8], [3, 7, 6], [4, 9, 9, 3], [2, 40, 40, 64], [3000, 12], [4, 8, 8, 144]].entries()) {
    await cpu();
    const ref = await batchNormStep(shape, 10 * i);
    await gpu();
    const got = await batchNormStep(shape, 10 * i);
    assert.ok(got.kernels.has('ExpBatchNormTrain') && got.kernels.has('ExpBatchNormTrainGrad'), [...got.kernels].join(' '));
    assert.ok(!got.kernels.has('FusedBatchNorm') && !ref.kernels.has('ExpBatchNormTrain'));
    ['y', 'dx', 'dgamma', 'dbeta', 'moving mean', 'moving variance'].forEach((name, k) => {
      const err = relMax(ref.out[k], got.out[k]);
      assert.ok(err < 1e-5, `[${shape}] ${name}: relative error ${err.toExponential(2)}`);
    });
    const again = await batchNormStep(shape, 10 * i);
    again.out.forEach((v, k) => assert.deepEqual(v, got.out[k], `[${shape}] output ${k} not the same when repeated`));
  }
});

test(`${WEBGPU}: padded max pooling (padding never wins, also over negative inputs) and its gradient match cpu`, async (t) => {
  if (!info) return t.skip(skip);
  const run = async () => {
    const x = tf.tensor4d(uniform([2, 9, 9, 5], 7, -3, -1), [2, 9, 9, 5]); // all negative
    const pools = [new PaddedMaxPooling2D({ poolSize: 3, strides: 2, padding: 1 }),
      new PaddedMaxPooling2D({ poolSize: 3, strides: 2, padding: [[0, 1], [0, 1]] })]; // ceil_mode
    const outs = pools.flatMap((p) => {
      const y = p.apply(x) as tf.Tensor;
      const w = tf.tensor(uniform(y.shape, 8), y.shape);
      return [y, tf.grad((xi: tf.Tensor) => tf.sum(tf.mul(p.apply(xi) as tf.Tensor, w)))(x)];
    });
    const vals = await read(...outs);
    tf.dispose([x, ...outs]);
    return vals;
  };
  await cpu();
  const ref = await run();
  await gpu();
  const got = await run();
  // the maxima exactly; gradients summed over overlapping windows, in another order
  got.forEach((g, i) => assert.ok(i % 2 ? relMax(ref[i], g) < 1e-6 : relMax(ref[i], g) === 0, `output ${i}: ${relMax(ref[i], g)}`));
});

test(`${WEBGPU}: seeded dropout draws the same masks as on cpu, step by step`, async (t) => {
  if (!info) return t.skip(skip);
  const run = async () => {
    const d = new SeededDropout({ rate: 0.3, seed: 11 });
    const x = tf.ones([4, 64]);
    const outs = [0, 1, 2].map(() => d.apply(x, { training: true }) as tf.Tensor);
    const vals = await read(...outs);
    tf.dispose([x, ...outs]);
    return vals;
  };
  await cpu();
  const ref = await run();
  await gpu();
  const got = await run();
  assert.notDeepEqual(ref[0], ref[1]);
  got.forEach((g, i) => assert.deepEqual(g, ref[i], `step ${i}`));
});

test(`${WEBGPU}: every registered loss (focal, class-balanced, label smoothing) equals cpu, value and gradient`, async (t) => {
  if (!info) return t.skip(skip);
  const levels = [{ name: 'species', numClasses: 7, counts: [9, 1, 3, 0, 4, 2, 6] }, { name: 'genus', numClasses: 3, counts: [5, 3, 6] }];
  const labels = [Int32Array.from([0, 6, 2, 1, 4, 5]), Int32Array.from([0, 2, 1, 1, 0, 2])];
  const specs = losses.names().flatMap((type) => [
    { type }, { type, gamma: 1.5, class_balance: { beta: 0.9 }, label_smoothing: 0.1, weights: { genus: 0.4 } }]);
  const run = async (spec: (typeof specs)[number]) => {
    const ll = buildLevelLosses(spec, levels);
    const logits = levels.map((l, i) => tf.tensor2d(uniform([6, l.numClasses], 30 + i, -4, 4), [6, l.numClasses]));
    const outs = ll.flatMap((l, i) => {
      const { value, grad } = tf.valueAndGrad((z: tf.Tensor) => l.fn(z as tf.Tensor2D, labels[i]))(logits[i]);
      return [value, grad];
    });
    const vals = await read(...outs);
    tf.dispose([...logits, ...outs]);
    return vals;
  };
  for (const spec of specs) {
    await cpu();
    const ref = await run(spec);
    await gpu();
    const got = await run(spec);
    got.forEach((g, i) => assert.ok(relMax(ref[i], g) < 1e-5, `${JSON.stringify(spec)} output ${i}: ${relMax(ref[i], g)}`));
  }
});

// exp's grouped-convolution op (kernels/group-conv.ts) on the native backend (oneDNN's grouped
// convolutions) against the cpu backend's split/conv2d/concat composite: the three kernels run
// directly, and the layer function's value and both gradients through tf.grads, over a table of
// groups, strides, paddings, dilations and odd sizes. Dilated cases, which tfjs cannot
// differentiate, compare with loops over the definition. Skips, saying why, when the addon is not
// built.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../src/model/tf.ts';
import { ensureBackend } from '../../src/model/backend.ts';
import { loadAddon, registerNativeKernels, unavailableReason } from '../../src/model/kernels/native.ts';
import {
  GROUP_CONV, GROUP_CONV_BACKPROP_FILTER, GROUP_CONV_BACKPROP_INPUT, groupConvAvailable, groupConvOp,
} from '../../src/model/kernels/group-conv.ts';
import { groupConv2d, type Padding } from '../../src/model/layers/group-conv.ts';
import { Rng } from '../../src/util/rng.ts';
import { relError } from './kernel-helpers.ts';

const skip = loadAddon() ? false : `native addon not available: ${unavailableReason}`;
if (skip) console.log(`# skipping native grouped-convolution tests: ${skip}`);

async function useNative(): Promise<void> {
  await ensureBackend('native');
  registerNativeKernels();
}

function uniform(shape: number[], seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.uniform(-1, 1));
}

interface Case { n: number; h: number; w: number; groups: number; cg: number; og: number; k: number;
  stride: number; pad: Padding; dilation: number }

const cases: Case[] = [];
for (const groups of [1, 2, 4, 32]) {
  for (const stride of [1, 2]) {
    for (const pad of [0, 1, 'same', 'valid'] as Padding[]) {
      for (const dilation of [1, 2]) {
        // narrow groups as ResNeXt's (32 x 1..2 channels), wider ones at fewer groups
        const cg = groups === 32 ? 1 + (stride + dilation) % 2 : 3, og = groups === 32 ? 2 : 3 + (stride % 2);
        cases.push({ n: 2, h: 7, w: 5, groups, cg, og, k: 3, stride, pad, dilation });
      }
    }
  }
}
cases.push({ n: 3, h: 9, w: 6, groups: 4, cg: 2, og: 4, k: 1, stride: 2, pad: 0, dilation: 1 }); // 1x1 strided
cases.push({ n: 1, h: 6, w: 11, groups: 2, cg: 5, og: 3, k: 5, stride: 2, pad: 2, dilation: 1 }); // 5x5
cases.push({ n: 2, h: 8, w: 8, groups: 32, cg: 4, og: 4, k: 3, stride: 2, pad: 1, dilation: 1 }); // se_resnext's

const label = (c: Case) => `x [${c.n},${c.h},${c.w},${c.groups * c.cg}] ${c.k}x${c.k} -> ${c.groups * c.og}, ` +
  `groups ${c.groups}, stride ${c.stride}, pad ${JSON.stringify(c.pad)}, dilation ${c.dilation}`;

interface Data { x: Float32Array; w: Float32Array; dy: Float32Array; xShape: number[]; wShape: number[]; yShape: number[];
  top: number; left: number }

function data(c: Case, seed: number): Data {
  const xShape = [c.n, c.h, c.w, c.groups * c.cg], wShape = [c.k, c.k, c.cg, c.groups * c.og];
  const info = tf.backend_util.computeConv2DInfo(xShape as [number, number, number, number],
    wShape as [number, number, number, number], c.stride, c.dilation, c.pad);
  return { x: uniform(xShape, seed), w: uniform(wShape, seed + 1), dy: uniform(info.outShape, seed + 2),
    xShape, wShape, yShape: info.outShape, top: info.padInfo.top, left: info.padInfo.left };
}

/** y, dx, dw by loops over the definition (float64), padding as tfjs computes it. */
function definition(c: Case, d: Data): Float32Array[] {
  const [n, h, w, cin] = d.xShape, [, oh, ow, cout] = d.yShape;
  const y = new Float64Array(n * oh * ow * cout), dx = new Float64Array(d.x.length), dw = new Float64Array(d.w.length);
  for (let b = 0; b < n; b++) for (let i = 0; i < oh; i++) for (let j = 0; j < ow; j++) for (let o = 0; o < cout; o++) {
    const g = Math.floor(o / c.og), yi = ((b * oh + i) * ow + j) * cout + o;
    for (let a = 0; a < c.k; a++) for (let e = 0; e < c.k; e++) {
      const iy = i * c.stride - d.top + a * c.dilation, ix = j * c.stride - d.left + e * c.dilation;
      if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
      for (let q = 0; q < c.cg; q++) {
        const xi = ((b * h + iy) * w + ix) * cin + g * c.cg + q, wi = ((a * c.k + e) * c.cg + q) * cout + o;
        y[yi] += d.x[xi] * d.w[wi];
        dx[xi] += d.dy[yi] * d.w[wi];
        dw[wi] += d.dy[yi] * d.x[xi];
      }
    }
  }
  return [y, dx, dw].map((a) => Float32Array.from(a));
}

/** y, dx, dw of the layer function's composite on cpu, gradients through tf.grads. */
async function composite(c: Case, d: Data): Promise<Float32Array[]> {
  await ensureBackend('cpu');
  assert.equal(groupConvAvailable(), false, 'cpu has no grouped-convolution kernels: the composite runs');
  return tf.tidy(() => {
    const x = tf.tensor4d(d.x, d.xShape as [number, number, number, number]);
    const w = tf.tensor4d(d.w, d.wShape as [number, number, number, number]);
    const dy = tf.tensor(d.dy, d.yShape);
    const f = (a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(groupConv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.groups, c.stride, c.pad), dy));
    const y = groupConv2d(x, w, c.groups, c.stride, c.pad);
    return [y, ...tf.grads(f)([x, w])].map((t) => t.dataSync() as Float32Array);
  });
}

function attrs(c: Case): tf.NamedAttrMap {
  return { groups: c.groups, strides: [c.stride, c.stride], pad: c.pad, dilations: [c.dilation, c.dilation] } as unknown as tf.NamedAttrMap;
}

/** The three kernels run directly on the active backend. */
function kernels(c: Case, d: Data): Float32Array[] {
  return tf.tidy(() => {
    const x = tf.tensor(d.x, d.xShape), w = tf.tensor(d.w, d.wShape), dy = tf.tensor(d.dy, d.yShape);
    const outs = [
      tf.engine().runKernel(GROUP_CONV, { x, filter: w }, attrs(c)) as tf.Tensor,
      tf.engine().runKernel(GROUP_CONV_BACKPROP_INPUT, { dy, filter: w }, { ...attrs(c), inputShape: d.xShape }) as tf.Tensor,
      tf.engine().runKernel(GROUP_CONV_BACKPROP_FILTER, { x, dy }, { ...attrs(c), filterShape: d.wShape }) as tf.Tensor,
    ];
    assert.deepEqual(outs.map((o) => o.shape), [d.yShape, d.xShape, d.wShape]);
    return outs.map((t) => t.dataSync() as Float32Array);
  });
}

/** The op with its gradient through tf.grads on the active backend (the layer function when undilated). */
function op(c: Case, d: Data): Float32Array[] {
  return tf.tidy(() => {
    const x = tf.tensor4d(d.x, d.xShape as [number, number, number, number]);
    const w = tf.tensor4d(d.w, d.wShape as [number, number, number, number]);
    const dy = tf.tensor(d.dy, d.yShape);
    const conv = (a: tf.Tensor, b: tf.Tensor) => (c.dilation === 1 && c.groups > 1
      ? groupConv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.groups, c.stride, c.pad)
      : groupConvOp(a as tf.Tensor4D, b as tf.Tensor4D, { groups: c.groups, strides: c.stride, pad: c.pad, dilations: c.dilation })!);
    const f = (a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(conv(a, b), dy));
    return [conv(x, w), ...tf.grads(f)([x, w])].map((t) => t.dataSync() as Float32Array);
  });
}

for (const [i, c] of cases.entries()) {
  test(`native grouped convolution ${label(c)}: kernels and gradients match cpu`, { skip }, async () => {
    const d = data(c, 100 * i);
    const ref = c.dilation === 1 ? await composite(c, d) : definition(c, d);
    if (c.dilation === 1) {
      // the reference itself: the composite agrees with the definition
      definition(c, d).forEach((r, k) => assert.ok(relError(r, ref[k]) < 1e-5, `composite ${k} off the definition`));
    }
    await useNative();
    assert.equal(groupConvAvailable(), true);
    const viaKernels = kernels(c, d);
    const viaOp = op(c, d);
    ['y', 'dx', 'dw'].forEach((name, k) => {
      for (const [how, got] of [['kernel', viaKernels[k]], ['tf.grads', viaOp[k]]] as const) {
        const err = relError(ref[k], got);
        assert.ok(err < 1e-5, `${name} (${how}): relative error ${err.toExponential(2)}`);
      }
    });
  });
}

test('on native the grouped layer function runs one kernel each way: no split, no concat, no per-group conv2d', { skip }, async () => {
  await useNative();
  const x = tf.tensor4d(uniform([2, 8, 8, 64], 1), [2, 8, 8, 64]);
  const w = tf.tensor4d(uniform([3, 3, 2, 64], 2), [3, 3, 2, 64]);
  const profile = await tf.profile(() => {
    const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(groupConv2d(a as tf.Tensor4D, b as tf.Tensor4D, 32, 2, 1)))([x, w]);
    tf.dispose([dx, dw]);
  });
  const names = profile.kernels.map((k) => k.name);
  for (const k of [GROUP_CONV, GROUP_CONV_BACKPROP_INPUT, GROUP_CONV_BACKPROP_FILTER]) {
    assert.equal(names.filter((n) => n === k).length, 1, `${k} once in ${names.join(', ')}`);
  }
  for (const k of ['SplitV', 'Concat', 'Conv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter']) {
    assert.ok(!names.includes(k), `${k} in ${names.join(', ')}`);
  }
  tf.dispose([x, w]);
});

test('native grouped convolution kernels are bitwise deterministic', { skip }, async () => {
  await useNative();
  // big enough that oneDNN splits the work and the weight-gradient reduction over threads
  const c: Case = { n: 8, h: 28, w: 28, groups: 32, cg: 4, og: 4, k: 3, stride: 1, pad: 1, dilation: 1 };
  const d = data(c, 7);
  const once = () => kernels(c, d).map((a) => Array.from(a));
  assert.deepEqual(once(), once());
});

test('native grouped convolution rejects a filter that does not fit the groups', { skip }, async () => {
  await useNative();
  const x = tf.zeros([1, 4, 4, 8]), w = tf.zeros([3, 3, 3, 8]);
  assert.throws(() => tf.engine().runKernel(GROUP_CONV, { x, filter: w }, { groups: 2, strides: [1, 1], pad: 1, dilations: [1, 1] } as unknown as tf.NamedAttrMap),
    /cin\/groups/);
  tf.dispose([x, w]);
});

test('switching from native to wasm removes the grouped kernels (wasm runs the composite)', { skip }, async () => {
  await useNative();
  assert.equal(groupConvAvailable(), true);
  await ensureBackend('wasm');
  assert.equal(groupConvAvailable(), false);
  await useNative();
  assert.equal(groupConvAvailable(), true);
});

test('training through the grouped op on native leaks no tensor: the count is flat from step to step', { skip }, async () => {
  await useNative();
  const { GroupConv2D } = await import('../../src/model/layers/index.ts');
  const { createOptimizer } = await import('../../src/model/optimizers.ts');
  const input = tf.input({ shape: [9, 7, 8] });
  let h = new GroupConv2D({ filters: 16, kernelSize: 3, strides: 2, groups: 4, padding: 1, seed: 1 }).apply(input) as tf.SymbolicTensor;
  h = tf.layers.globalAveragePooling2d({}).apply(h) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: tf.layers.dense({ units: 3 }).apply(h) as tf.SymbolicTensor });
  const opt = createOptimizer({ name: 'adam', lr: 1e-2 });
  const params = model.trainableWeights.map((w) => ({ key: w.originalName, variable: w.read() as tf.Variable }));
  const x = tf.tensor4d(uniform([4, 9, 7, 8], 3), [4, 9, 7, 8]);
  const y = tf.oneHot(tf.tensor1d([0, 1, 2, 1], 'int32'), 3);
  const counts: number[] = [];
  for (let i = 0; i < 6; i++) {
    const { value, grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar,
      params.map((p) => p.variable));
    opt.apply(params, params.map((p) => grads[p.variable.name]));
    tf.dispose([value, ...Object.values(grads)]);
    counts.push(tf.memory().numTensors);
  }
  // step 1 creates Adam's slots; from then on one tensor per step would show
  assert.deepEqual(counts.slice(1), new Array(5).fill(counts[1]), `tensors after each step: ${counts}`);
  opt.dispose();
  tf.dispose([x, y]);
  model.dispose();
});

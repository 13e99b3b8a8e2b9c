// exp's wasm gradient kernels against the cpu backend (the reference), table-driven and seeded:
// random shapes under every stride/padding/dilation/batch combination tfjs allows for each op;
// max pooling (wasm's forward, exp's gradient) under PyTorch-style padding; the fused batch-norm
// training kernels against tfjs' own; Identity/Cast sharing memory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../src/model/tf.ts';
import { ensureBackend } from '../../src/model/backend.ts';
import { missingKernels, probeNet } from '../../src/model/kernels/probe.ts';
import { Rng } from '../../src/util/rng.ts';
import { compareBatchNormTraining, relError, runKernel } from './kernel-helpers.ts';


type Pad = 'same' | 'valid' | number | [[number, number], [number, number], [number, number], [number, number]];
const explicit: Pad = [[0, 0], [1, 2], [0, 1], [0, 0]];
const pads: Pad[] = ['same', 'valid', 1, explicit];

function randomData(rng: Rng, shape: number[]): Float32Array {
  const a = new Float32Array(shape.reduce((x, y) => x * y, 1));
  for (let i = 0; i < a.length; i++) a[i] = rng.uniform(-1, 1);
  return a;
}

async function runOn(backend: string, kernel: string, inputs: Record<string, [Float32Array, number[]]>,
  attrs: object): Promise<Float32Array> {
  await ensureBackend(backend as 'cpu' | 'wasm');
  return runKernel(kernel, inputs, attrs);
}


interface Case { kernel: string; stride: number; pad: Pad; batch: number; dilation: number }
const cases: Case[] = [];
for (const kernel of ['Conv2DBackpropFilter', 'Conv2DBackpropInput',
  'DepthwiseConv2dNativeBackpropFilter', 'DepthwiseConv2dNativeBackpropInput']) {
  const depthwise = kernel.startsWith('Depthwise');
  for (const stride of [1, 2]) for (const pad of pads) for (const batch of [1, 3]) {
    // tfjs: dilation only on depthwise kernels, and only with stride 1
    for (const dilation of depthwise && stride === 1 ? [1, 2] : [1]) {
      cases.push({ kernel, stride, pad, batch, dilation });
    }
  }
}

/** tfjs' cpu depthwise gradient kernels ignore dilations (tfjs has no dilated depthwise gradient),
 * so for dilation > 1 the reference is the definition, summed in float64:
 * y[b,i,j,c*M+m] = sum_{p,q} x[b, i*s - top + p*d, j*s - left + q*d, c] * w[p,q,c,m]. */
function dilatedReference(kernel: string, ins: Record<string, [Float32Array, number[]]>,
  fShape: number[], xShape: number[], info: tf.backend_util.Conv2DInfo): Float32Array {
  const [kh, kw, c, m] = fShape;
  const [n, h, w] = xShape;
  const { outHeight: oh, outWidth: ow, strideHeight: sh, strideWidth: sw } = info;
  const { dilationHeight: dh, dilationWidth: dw, padInfo: { top, left } } = info;
  const byFilter = kernel.endsWith('Filter');
  const out = new Float64Array(byFilter ? kh * kw * c * m : n * h * w * c);
  const dy = ins.dy[0];
  const other = byFilter ? ins.x[0] : ins.filter[0];
  for (let b = 0; b < n; b++) for (let i = 0; i < oh; i++) for (let j = 0; j < ow; j++)
    for (let p = 0; p < kh; p++) for (let q = 0; q < kw; q++) {
      const y = i * sh - top + p * dh, x = j * sw - left + q * dw;
      if (y < 0 || y >= h || x < 0 || x >= w) continue;
      for (let ch = 0; ch < c; ch++) for (let k = 0; k < m; k++) {
        const g = dy[((b * oh + i) * ow + j) * c * m + ch * m + k];
        const xi = ((b * h + y) * w + x) * c + ch, wi = ((p * kw + q) * c + ch) * m + k;
        if (byFilter) out[wi] += other[xi] * g;
        else out[xi] += other[wi] * g;
      }
    }
  return Float32Array.from(out);
}

async function check(c: Case, seed: number): Promise<void> {
  const rng = new Rng(seed, 4);
  const depthwise = c.kernel.startsWith('Depthwise');
  const kh = 1 + rng.int(3), kw = 1 + rng.int(3);
  const h = 5 + rng.int(6), w = 5 + rng.int(6);
  const ci = 1 + rng.int(5);
  const co = depthwise ? 1 + rng.int(2) : 1 + rng.int(6); // channel multiplier when depthwise
  const xShape = [c.batch, h, w, ci];
  const fShape = [kh, kw, ci, co];
  const info = tf.backend_util.computeConv2DInfo(xShape as [number, number, number, number],
    fShape as [number, number, number, number], c.stride, c.dilation, c.pad, undefined, depthwise);
  const dyShape = info.outShape;
  const attrs = { strides: c.stride, pad: c.pad, dilations: c.dilation, dataFormat: 'NHWC' };
  const inputs = c.kernel.endsWith('Filter')
    ? { x: [randomData(rng, xShape), xShape], dy: [randomData(rng, dyShape), dyShape] }
    : { dy: [randomData(rng, dyShape), dyShape], filter: [randomData(rng, fShape), fShape] };
  const full = { ...attrs, filterShape: fShape, inputShape: xShape };
  const ins = inputs as unknown as Record<string, [Float32Array, number[]]>;
  const ref = c.dilation === 1
    ? await runOn('cpu', c.kernel, ins, full)
    : dilatedReference(c.kernel, ins, fShape, xShape, info);
  // IS_TEST: the engine checks that our kernels leave no stray tensors on the backend
  tf.env().set('IS_TEST', true);
  const got = await runOn('wasm', c.kernel, ins, full);
  const again = await runOn('wasm', c.kernel, ins, full);
  tf.env().set('IS_TEST', false);
  const what = `${c.kernel} x=${xShape} f=${fShape} ${JSON.stringify(attrs)}`;
  assert.ok(relError(ref, got) < 1e-4, `${what}: relative error ${relError(ref, got)}`);
  assert.deepEqual(again, got, `${what}: not bit-identical on a second run`);
}

test('wasm gradient kernels match the cpu backend (relative error < 1e-4) and are deterministic', async () => {
  for (const [i, c] of cases.entries()) await check(c, i);
});

test('every kernel that training a conv net needs exists on wasm', async () => {
  await ensureBackend('wasm');
  assert.deepEqual(await missingKernels(() => probeNet(), 'wasm'), []);
});

test('whole-net gradients on wasm equal cpu within 1e-4', async () => {
  await ensureBackend('cpu');
  const ref = (probeNet(7) as tf.Tensor[]).map((t) => t.dataSync() as Float32Array);
  await ensureBackend('wasm');
  const got = (probeNet(7) as tf.Tensor[]).map((t) => t.dataSync() as Float32Array);
  const again = (probeNet(7) as tf.Tensor[]).map((t) => t.dataSync() as Float32Array);
  assert.equal(got.length, ref.length);
  for (let i = 0; i < ref.length; i++) {
    assert.ok(relError(ref[i], got[i]) < 1e-4, `output ${i}: relative error ${relError(ref[i], got[i])}`);
    assert.deepEqual(again[i], got[i], `output ${i} differs between two wasm runs`);
  }
});

test('UnsortedSegmentSum (the gradient of gather, used by every loss) matches cpu on wasm', async () => {
  const rng = new Rng(11);
  const x = randomData(rng, [7, 3]);
  const ids = Int32Array.from([2, 0, 2, 4, 1, 0, 9]); // 9 is out of range: dropped, as in TensorFlow
  const run = async (backend: 'cpu' | 'wasm') => {
    await ensureBackend(backend);
    const out = tf.unsortedSegmentSum(tf.tensor2d(x, [7, 3]), tf.tensor1d(ids, 'int32'), 5);
    const d = out.dataSync() as Float32Array;
    out.dispose();
    return d;
  };
  const ref = await run('cpu');
  const got = await run('wasm');
  assert.ok(relError(ref, got) < 1e-6, `relative error ${relError(ref, got)}`);
});

test('the training losses need no kernel that wasm lacks', async () => {
  const { buildLevelLosses, hierarchicalLoss } = await import('../../src/model/losses.ts');
  const levels = [{ name: 'species', numClasses: 6, counts: [5, 1, 2, 9, 3, 4] }, { name: 'genus', numClasses: 3, counts: [6, 11, 7] }];
  const lossFns = buildLevelLosses({ type: 'focal', gamma: 2, class_balance: { beta: 0.9 }, label_smoothing: 0.1, weights: { species: 1.5 } }, levels);
  const labels = [Int32Array.from([0, 3, 5, 1]), Int32Array.from([0, 1, 2, 1])];
  const fn = () => {
    const a = tf.variable(tf.randomNormal([4, 6], 0, 1, 'float32', 3));
    const b = tf.variable(tf.randomNormal([4, 3], 0, 1, 'float32', 4));
    const { grads } = tf.variableGrads(() => hierarchicalLoss(lossFns, [a as tf.Tensor2D, b as tf.Tensor2D], labels).total, [a, b]);
    return Object.values(grads);
  };
  await ensureBackend('wasm');
  assert.deepEqual(await missingKernels(fn, 'wasm'), []);
});

test('BatchMatMul on wasm matches cpu with transposes and batch broadcasting, deterministically', async () => {
  const rng = new Rng(23);
  // [batchA, batchB]: equal batches, one side broadcast, rank 2 (dense-layer gradients)
  const batches: [number[], number[]][] = [[[], []], [[1], [1]], [[3], [3]], [[2, 2], [1]], [[1], [4]], [[], [2]]];
  for (const [bA, bB] of batches) for (const ta of [false, true]) for (const tb of [false, true]) {
    const m = 1 + rng.int(9), k = 1 + rng.int(9), n = 1 + rng.int(9);
    const aShape = [...bA, ...(ta ? [k, m] : [m, k])], bShape = [...bB, ...(tb ? [n, k] : [k, n])];
    const ins: Record<string, [Float32Array, number[]]> = {
      a: [randomData(rng, aShape), aShape], b: [randomData(rng, bShape), bShape] };
    const attrs = { transposeA: ta, transposeB: tb };
    const ref = await runOn('cpu', 'BatchMatMul', ins, attrs);
    tf.env().set('IS_TEST', true);
    const got = await runOn('wasm', 'BatchMatMul', ins, attrs);
    const again = await runOn('wasm', 'BatchMatMul', ins, attrs);
    tf.env().set('IS_TEST', false);
    const what = `a=${aShape} b=${bShape} ${JSON.stringify(attrs)}`;
    assert.ok(relError(ref, got) < 1e-4, `${what}: relative error ${relError(ref, got)}`);
    assert.deepEqual(again, got, `${what}: not bit-identical on a second run`);
  }
  // the output shape follows tfjs' broadcasting of the batch dimensions
  await ensureBackend('wasm');
  const out = tf.matMul(tf.ones([2, 1, 3, 4]), tf.ones([4, 5]), false, false);
  assert.deepEqual(out.shape, [2, 1, 3, 5]);
  out.dispose();
});

test('wasm MaxPool and exp\'s MaxPoolGrad skip padded positions like cpu (numeric and explicit padding, negative inputs)', async () => {
  const rng = new Rng(31);
  for (const [filter, stride, pad] of [[3, 2, 1], [2, 2, 1], [3, 1, 1], [3, 2, [[0, 0], [0, 1], [0, 1], [0, 0]]],
    [3, 2, [[0, 0], [1, 0], [1, 1], [0, 0]]]] as [number, number, Pad][]) {
    const xShape = [2, 5 + rng.int(5), 5 + rng.int(5), 1 + rng.int(4)];
    const x = randomData(rng, xShape).map((v) => v - 2); // all negative: a padded 0 would win
    const attrs = { filterSize: filter, strides: stride, pad };
    await ensureBackend('cpu');
    const y = tf.maxPool(tf.tensor4d(x, xShape as [number, number, number, number]), filter, stride, pad as 'same');
    const grad = { dy: [randomData(rng, y.shape), y.shape], input: [x, xShape], output: [y.dataSync() as Float32Array, y.shape] } as
      Record<string, [Float32Array, number[]]>;
    y.dispose();
    const what = `pool ${filter}/${stride} pad ${JSON.stringify(pad)} x=${xShape}`;
    const ref = await runOn('cpu', 'MaxPool', { x: [x, xShape] }, attrs);
    assert.ok(ref.every((v) => v < 0), what);
    assert.deepEqual(await runOn('wasm', 'MaxPool', { x: [x, xShape] }, attrs), ref, what);
    const gRef = await runOn('cpu', 'MaxPoolGrad', grad, attrs);
    assert.ok(relError(gRef, await runOn('wasm', 'MaxPoolGrad', grad, attrs)) < 1e-6, `${what}: gradient`);
  }
});

test('wasm Identity and same-dtype Cast share memory instead of copying; the copy outlives the original', async () => {
  await ensureBackend('wasm');
  const x = tf.tensor([1.5, -2, 3], [3]);
  const buffers = tf.memory().numDataBuffers;
  const c = x.clone();
  const f = tf.cast(x, 'float32');
  assert.equal(tf.memory().numDataBuffers, buffers, 'clone or cast allocated new memory');
  x.dispose();
  assert.deepEqual(Array.from(c.dataSync()), [1.5, -2, 3]);
  assert.deepEqual(Array.from(f.dataSync()), [1.5, -2, 3]);
  const i = tf.cast(c, 'int32'); // a real conversion still converts
  assert.equal(i.dtype, 'int32');
  assert.deepEqual(Array.from(i.dataSync()), [1, -2, 3]);
  c.dispose();
  assert.deepEqual(Array.from(f.dataSync()), [1.5, -2, 3]);
  tf.dispose([f, i]);
  const s = tf.tensor(['a', 'b']).clone(); // strings: wasm's own Identity
  assert.deepEqual(s.dataSync(), ['a', 'b']);
  s.dispose();
});

for (const [shape, seed] of [[[4, 5, 6, 8], 1], [[3, 7, 3, 5], 2], [[50, 16], 3]] as [number[], number][]) {
  test(`batch norm in training [${shape}] runs as exp's fused kernels on wasm and matches tfjs' own on cpu (output, statistics, gradients)`, async () => {
    await compareBatchNormTraining(() => ensureBackend('wasm'), shape, seed);
  });
}

for (const activation of ['relu', 'relu6', 'swish'] as const) {
  test(`batch norm + ${activation} in training on wasm: exp's batch-norm kernels, then the activation apart, matching tfjs' batch norm then ${activation} on cpu`, async () => {
    await compareBatchNormTraining(() => ensureBackend('wasm'), [3, 7, 3, 5], 4, activation, false);
  });
}

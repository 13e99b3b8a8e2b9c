// The oneDNN kernels of the `native` backend against the cpu backend (the reference): table-driven,
// seeded random shapes under strides, paddings, dilations, channel multipliers (groups), fused
// activations and batch sizes; a small net's gradients; the fused batch-norm training path against
// tfjs' own; bitwise determinism. Skips, saying why,
// when the addon is not built (no libdnnl-dev at install).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../src/model/tf.ts';
import { ensureBackend } from '../../src/model/backend.ts';
import { loadAddon, registerNativeKernels, setBinaryMinElements, unavailableReason } from '../../src/model/kernels/native.ts';
import { probeNet } from '../../src/model/kernels/probe.ts';
import { backbones } from '../../src/model/backbones/index.ts';
import { Rng } from '../../src/util/rng.ts';
import { compareBatchNormTraining, relError, runKernel } from './kernel-helpers.ts';

const skip = loadAddon() ? false : `native addon not available: ${unavailableReason}`;
if (skip) console.log(`# skipping native kernel tests: ${skip}`);

type Pad = 'same' | 'valid' | number | [[number, number], [number, number], [number, number], [number, number]];
const pads: Pad[] = ['same', 'valid', 1, [[0, 0], [1, 2], [0, 1], [0, 0]]];
type Inputs = Record<string, [Float32Array, number[]]>;

function randomData(rng: Rng, shape: number[]): Float32Array {
  const a = new Float32Array(shape.reduce((x, y) => x * y, 1));
  for (let i = 0; i < a.length; i++) a[i] = rng.uniform(-1, 1);
  return a;
}

async function useNative(): Promise<void> {
  await ensureBackend('native');
  registerNativeKernels(); // idempotent: in case another backend's kernels were put back meanwhile
}

async function runOn(backend: 'cpu' | 'native', kernel: string, inputs: Inputs, attrs: object): Promise<Float32Array> {
  if (backend === 'native') await useNative(); else await ensureBackend('cpu');
  return runKernel(kernel, inputs, attrs);
}


interface Case { kernel: string; stride: number; pad: Pad; batch: number; dilation: number; mult: number;
  act?: string; bias?: boolean; round?: 'ceil' }
const cases: Case[] = [];
for (const kernel of ['Conv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter', 'DepthwiseConv2dNative',
  'DepthwiseConv2dNativeBackpropInput', 'DepthwiseConv2dNativeBackpropFilter']) {
  const depthwise = kernel.startsWith('Depthwise');
  const forward = kernel === 'Conv2D' || kernel === 'DepthwiseConv2dNative';
  for (const stride of [1, 2]) for (const pad of pads) for (const batch of [1, 3]) {
    // tfjs: dilation only with stride 1, and only the forward ops take it against cpu
    for (const dilation of forward && stride === 1 ? [1, 2] : [1]) {
      for (const mult of depthwise ? [1, 2] : [1]) cases.push({ kernel, stride, pad, batch, dilation, mult });
    }
  }
}
for (const act of ['linear', 'relu', 'relu6', 'leakyrelu', 'sigmoid', 'elu']) {
  for (const bias of [false, true]) {
    cases.push({ kernel: 'FusedConv2D', stride: bias ? 2 : 1, pad: 'same', batch: 2, dilation: 1, mult: 1, act, bias });
  }
  cases.push({ kernel: 'FusedDepthwiseConv2D', stride: 1, pad: 'valid', batch: 2, dilation: 1, mult: 2, act, bias: true });
}
cases.push({ kernel: 'Conv2D', stride: 2, pad: 1, batch: 2, dilation: 1, mult: 1, round: 'ceil' });

function convCase(c: Case, seed: number): { inputs: Inputs; attrs: object } {
  const rng = new Rng(seed);
  const int = (lo: number, hi: number) => lo + Math.floor(rng.uniform(0, hi - lo + 1));
  const depthwise = c.kernel.includes('Depthwise');
  const k = int(1, 3); // 1x1 to 3x3 filters
  const h = int(k * c.dilation + 1, 11), w = int(k * c.dilation + 1, 11), ci = int(1, 9);
  const co = depthwise ? ci * c.mult : int(1, 9);
  const xShape = [c.batch, h, w, ci];
  const fShape = depthwise ? [k, k, ci, c.mult] : [k, k, ci, co];
  const info = tf.backend_util.computeConv2DInfo(xShape as [number, number, number, number],
    fShape as [number, number, number, number], c.stride, c.dilation, c.pad as 'same', c.round, depthwise);
  const common = { strides: c.stride, pad: c.pad, dilations: c.dilation, dataFormat: 'NHWC', dimRoundingMode: c.round };
  const x: [Float32Array, number[]] = [randomData(rng, xShape), xShape];
  const filter: [Float32Array, number[]] = [randomData(rng, fShape), fShape];
  const dy: [Float32Array, number[]] = [randomData(rng, info.outShape), info.outShape];
  if (c.kernel.endsWith('BackpropInput')) return { inputs: { dy, filter }, attrs: { ...common, inputShape: xShape } };
  if (c.kernel.endsWith('BackpropFilter')) return { inputs: { x, dy }, attrs: { ...common, filterShape: fShape } };
  if (!c.act) return { inputs: { x, filter }, attrs: common };
  const inputs: Inputs = { x, filter };
  if (c.bias) inputs.bias = [randomData(rng, [co]), [co]];
  return { inputs, attrs: { ...common, activation: c.act, leakyreluAlpha: 0.3 } };
}

const name = (c: Case) => `${c.kernel} stride ${c.stride} pad ${JSON.stringify(c.pad)} batch ${c.batch}`
  + ` dilation ${c.dilation}${c.mult > 1 ? ` multiplier ${c.mult}` : ''}${c.act ? ` ${c.act}${c.bias ? '+bias' : ''}` : ''}`
  + `${c.round ? ` rounding ${c.round}` : ''}`;

cases.forEach((c, i) => {
  test(`native ${name(c)} matches cpu`, { skip }, async () => {
    const { inputs, attrs } = convCase(c, 9000 + i);
    const ref = await runOn('cpu', c.kernel, inputs, attrs);
    const got = await runOn('native', c.kernel, inputs, attrs);
    const err = relError(ref, got);
    assert.ok(err < 1e-4, `relative error ${err.toExponential(2)}`);
  });
});

interface MmCase { ta: boolean; tb: boolean; batchA: number[]; batchB: number[]; act?: string; bias?: boolean }
const mmCases: MmCase[] = [];
for (const ta of [false, true]) for (const tb of [false, true]) {
  for (const [batchA, batchB] of [[[], []], [[3], [3]], [[2, 3], [1]], [[1], [4]]]) mmCases.push({ ta, tb, batchA, batchB });
}
for (const act of ['linear', 'relu', 'relu6', 'leakyrelu', 'sigmoid', 'elu']) mmCases.push({ ta: false, tb: true, batchA: [1], batchB: [1], act, bias: true });
mmCases.push({ ta: true, tb: false, batchA: [1], batchB: [1], act: 'relu', bias: false });

mmCases.forEach((c, i) => {
  const label = `${c.act ? '_FusedMatMul' : 'BatchMatMul'} transposeA ${c.ta} transposeB ${c.tb} batch [${c.batchA}] x [${c.batchB}]`
    + (c.act ? ` ${c.act}${c.bias ? '+bias' : ''}` : '');
  test(`native ${label} matches cpu`, { skip }, async () => {
    const rng = new Rng(7000 + i);
    const int = (lo: number, hi: number) => lo + Math.floor(rng.uniform(0, hi - lo + 1));
    const m = int(1, 40), k = int(1, 40), n = int(1, 40);
    const aShape = [...c.batchA, ...(c.ta ? [k, m] : [m, k])];
    const bShape = [...c.batchB, ...(c.tb ? [n, k] : [k, n])];
    const inputs: Inputs = { a: [randomData(rng, aShape), aShape], b: [randomData(rng, bShape), bShape] };
    if (c.bias) inputs.bias = [randomData(rng, [n]), [n]];
    const kernel = c.act ? '_FusedMatMul' : 'BatchMatMul';
    const attrs = { transposeA: c.ta, transposeB: c.tb, activation: c.act, leakyreluAlpha: 0.3 };
    const err = relError(await runOn('cpu', kernel, inputs, attrs), await runOn('native', kernel, inputs, attrs));
    assert.ok(err < 1e-4, `relative error ${err.toExponential(2)}`);
  });
});

interface PoolCase { grad: boolean; filter: number; stride: number; pad: Pad; batch: number }
const poolCases: PoolCase[] = [];
// explicit: bottom/right only, as the padded pooling layer does for PyTorch's ceil_mode
const ceilPad: Pad = [[0, 0], [0, 1], [0, 1], [0, 0]];
for (const grad of [false, true]) for (const filter of [2, 3]) for (const stride of [1, 2]) {
  for (const pad of ['same', 'valid', 1, ceilPad] as Pad[]) poolCases.push({ grad, filter, stride, pad, batch: stride === 1 ? 1 : 3 });
}
poolCases.forEach((c, i) => {
  const kernel = c.grad ? 'MaxPoolGrad' : 'MaxPool';
  test(`native ${kernel} ${c.filter}x${c.filter} stride ${c.stride} pad ${JSON.stringify(c.pad)} batch ${c.batch} matches cpu`, { skip }, async () => {
    const rng = new Rng(6000 + i);
    const int = (lo: number, hi: number) => lo + Math.floor(rng.uniform(0, hi - lo + 1));
    const xShape = [c.batch, int(c.filter + 1, 12), int(c.filter + 1, 12), int(1, 9)];
    const attrs = { filterSize: c.filter, strides: c.stride, pad: c.pad };
    const x = randomData(rng, xShape);
    let inputs: Inputs = { x: [x, xShape] };
    if (c.grad) {
      await ensureBackend('cpu');
      const y = tf.maxPool(tf.tensor4d(x, xShape as [number, number, number, number]), c.filter, c.stride, c.pad as 'same');
      inputs = { dy: [randomData(rng, y.shape), y.shape], input: [x, xShape], output: [y.dataSync() as Float32Array, y.shape] };
      y.dispose();
    }
    const err = relError(await runOn('cpu', kernel, inputs, attrs), await runOn('native', kernel, inputs, attrs));
    assert.ok(err < 1e-4, `relative error ${err.toExponential(2)}`);
  });
});

for (const [shape, reps] of [[[5], [3]], [[1, 1, 1, 7], [4, 5, 6, 1]], [[2, 3], [2, 1]], [[3, 1, 2], [1, 4, 3]],
  [[2, 1, 3, 1, 2], [2, 3, 1, 2, 2]]]) {
  test(`native Tile [${shape}] by [${reps}] matches cpu`, { skip }, async () => {
    const inputs: Inputs = { x: [randomData(new Rng(shape.length), shape), shape] };
    const err = relError(await runOn('cpu', 'Tile', inputs, { reps }), await runOn('native', 'Tile', inputs, { reps }));
    assert.equal(err, 0);
  });
}

// Sum/Mean: leading axes (batch-norm statistics over N, H, W), trailing axes, negative axes,
// keepDims, middle axes (global pooling over H, W; channels over more than one 64-wide block), and
// patterns the addon leaves to wasm (not contiguous). Big enough to split over threads.
for (const [kernel, shape, axis, keepDims] of [
  ['Sum', [4, 9, 7, 5], [0, 1, 2], false], ['Mean', [4, 9, 7, 5], [0, 1, 2], true], ['Sum', [300, 17], 0, false],
  ['Mean', [6, 5, 11], [-1], false], ['Sum', [6, 5, 11], [1, 2], true], ['Mean', [3, 4, 5], [0, 1, 2], false],
  ['Sum', [3, 4, 5, 6], [1, 2], false], ['Mean', [2, 3, 4], [2, 0], false], ['Mean', [5, 7, 3, 130], [1, 2], false],
  ['Sum', [1, 6, 6, 70], [1, 2], true], ['Mean', [2, 3, 4, 5, 6], [1, 2, 3], true], ['Sum', [2, 5, 3, 4], [1, 3], false],
] as [string, number[], number | number[], boolean][]) {
  test(`native ${kernel} of [${shape}] over ${JSON.stringify(axis)} keepDims ${keepDims} matches cpu`, { skip }, async () => {
    const inputs: Inputs = { x: [randomData(new Rng(shape.length * 7 + shape[0]), shape), shape] };
    const attrs = { axis, keepDims };
    const ref = await runOn('cpu', kernel, inputs, attrs);
    const got = await runOn('native', kernel, inputs, attrs);
    const err = relError(ref, got);
    assert.ok(err < 1e-4, `relative error ${err.toExponential(2)}`);
    const out = tf.engine().runKernel(kernel, { x: tf.tensor(inputs.x[0], shape) }, attrs as tf.NamedAttrMap) as tf.Tensor;
    const cpuShape = tf.tidy(() => (kernel === 'Sum' ? tf.sum : tf.mean)(tf.zeros(shape), axis, keepDims).shape);
    assert.deepEqual(out.shape, cpuShape);
    out.dispose();
  });
}

// FusedBatchNorm as tfjs layers call it (per-channel statistics; offset/scale optional), and a
// broadcast the addon leaves to wasm (statistics per row).
for (const [label, shape, stats, withOffset, withScale] of [
  ['4-D, offset and scale', [3, 5, 6, 7], [7], true, true], ['2-D, no offset', [40, 9], [9], false, true],
  ['no scale', [2, 4, 4, 3], [1, 1, 1, 3], true, false], ['statistics per row (fallback)', [4, 6], [4, 1], true, true],
] as [string, number[], number[], boolean, boolean][]) {
  test(`native FusedBatchNorm ${label} matches cpu`, { skip }, async () => {
    const rng = new Rng(shape.length + stats.length);
    const variance = randomData(rng, stats).map((v) => v + 1.5);
    const inputs: Inputs = { x: [randomData(rng, shape), shape], mean: [randomData(rng, stats), stats],
      variance: [variance, stats] };
    if (withOffset) inputs.offset = [randomData(rng, stats), stats];
    if (withScale) inputs.scale = [randomData(rng, stats), stats];
    const attrs = { varianceEpsilon: 1e-3 };
    const err = relError(await runOn('cpu', 'FusedBatchNorm', inputs, attrs), await runOn('native', 'FusedBatchNorm', inputs, attrs));
    assert.ok(err < 1e-4, `relative error ${err.toExponential(2)}`);
  });
}

// Element-wise binary ops: full, scalar, per-channel ([C], [1,..,1,C]) and per batch and channel
// ([N,1,1,C]: squeeze-excitation) operands on either side,
// and broadcasts the addon leaves to wasm (per row, middle axes, int32). The size threshold is
// lowered to 0 so that these small shapes reach the addon; one case keeps it to check the fallback.
const binaryCases: [string, number[], number[], boolean?][] = [
  ['Multiply', [4, 5, 6, 7], [4, 5, 6, 7]], ['Multiply', [3, 5, 6, 8], [8]], ['Multiply', [1, 1, 1, 8], [3, 5, 6, 8]],
  ['RealDiv', [3, 5, 6, 8], []], ['RealDiv', [1], [9, 11]], ['Add', [2, 9, 9, 16], [1, 1, 1, 16]], ['Add', [16], [16]],
  ['Sub', [3, 4, 5], [5]], ['Sub', [], [6, 7]], ['SquaredDifference', [2, 7, 7, 6], [1, 1, 1, 6]],
  ['Sub', [1, 1, 1, 6], [6]], ['Multiply', [7, 1], [7, 9]], ['Add', [2, 3, 4], [3, 1]], ['Multiply', [5, 6], [3, 5, 6]],
  ['Multiply', [300, 64], [64], true], ['Multiply', [3, 5, 6, 8], [3, 1, 1, 8]], ['Multiply', [3, 1, 1, 8], [3, 5, 6, 8]],
  ['RealDiv', [4, 1, 1, 7], [4, 3, 2, 7]], ['Add', [2, 4, 4, 1], [2, 1, 1, 1]], ['Multiply', [3, 5, 6, 8], [1, 5, 1, 8]],
  ['Sub', [2, 3, 5], [2, 1, 5]], ['Minimum', [3, 5, 6, 8], []], ['Maximum', [8], [3, 5, 6, 8]],
  ['Minimum', [2, 4, 4, 6], [2, 1, 1, 6]],
];
for (const [kernel, aShape, bShape, keepThreshold] of binaryCases) {
  test(`native ${kernel} [${aShape}] with [${bShape}]${keepThreshold ? ' (below the size threshold)' : ''} matches cpu`, { skip }, async () => {
    const rng = new Rng(aShape.length * 13 + bShape.length);
    const b = randomData(rng, bShape);
    if (kernel === 'RealDiv') b.forEach((v, i) => { b[i] = v + Math.sign(v) * 0.5; }); // away from 0
    const inputs: Inputs = { a: [randomData(rng, aShape), aShape], b: [b, bShape] };
    const ref = await runOn('cpu', kernel, inputs, {});
    const old = setBinaryMinElements(keepThreshold ? 1e9 : 0);
    try {
      const err = relError(ref, await runOn('native', kernel, inputs, {}));
      assert.ok(err < 1e-4, `relative error ${err.toExponential(2)}`);
    } finally {
      setBinaryMinElements(old);
    }
  });
}

test('native binary ops leave int32 to wasm', { skip }, async () => {
  await useNative();
  const old = setBinaryMinElements(0);
  try {
    const out = tf.tidy(() => tf.mul(tf.tensor([[1, 2], [3, 4]], [2, 2], 'int32'), tf.tensor([5, 6], [2], 'int32')));
    assert.equal(out.dtype, 'int32');
    assert.deepEqual(Array.from(out.dataSync()), [5, 12, 15, 24]);
    out.dispose();
  } finally {
    setBinaryMinElements(old);
  }
});

test('native Sum, Mean, FusedBatchNorm, binary ops and the fused batch-norm training kernels are bitwise deterministic at a fixed thread count', { skip }, async () => {
  const rng = new Rng(19);
  const shape = [8, 28, 28, 32];
  const inputs: Inputs = { x: [randomData(rng, shape), shape] };
  const stats: Inputs = { mean: [randomData(rng, [32]), [32]], variance: [randomData(rng, [32]).map((v) => v + 2), [32]] };
  for (const run of [
    () => runOn('native', 'Sum', inputs, { axis: [0, 1, 2], keepDims: false }),
    () => runOn('native', 'Mean', inputs, { axis: [0, 1, 2], keepDims: true }),
    () => runOn('native', 'Mean', inputs, { axis: [3], keepDims: false }),
    () => runOn('native', 'FusedBatchNorm', { ...inputs, ...stats }, { varianceEpsilon: 1e-3 }),
    // above the binary ops' size threshold, so these run in the addon on all threads
    () => runOn('native', 'Multiply', { a: inputs.x, b: stats.mean }, {}),
    () => runOn('native', 'RealDiv', { a: inputs.x, b: [new Float32Array([3]), []] }, {}),
    () => runOn('native', 'Sub', { a: inputs.x, b: inputs.x }, {}),
    // exp's fused batch norm (first output: y, dx), over rows split between threads
    () => runOn('native', 'ExpBatchNormTrain', { x: inputs.x, gamma: stats.variance, beta: stats.mean }, { epsilon: 1e-5 }),
    () => runOn('native', 'ExpBatchNormTrainGrad', { dy: [randomData(new Rng(3), shape), shape], x: inputs.x, ...stats,
      gamma: stats.mean }, { epsilon: 1e-5 }),
  ]) assert.deepEqual(await run(), await run());
});

test('BatchMatMul: native when active, exp\'s wasm kernel (transposes on the heap) after switching back', { skip }, async () => {
  const { nativeKernels } = await import('../../src/model/kernels/native.ts');
  const { wasmGradKernels } = await import('../../src/model/kernels/index.ts');
  const nativeFn = nativeKernels.find((k) => k.kernelName === 'BatchMatMul')!.kernelFunc;
  const wasmFn = wasmGradKernels.find((k) => k.kernelName === 'BatchMatMul')!.kernelFunc;
  await ensureBackend('native');
  assert.equal(tf.getKernel('BatchMatMul', 'wasm')!.kernelFunc, nativeFn);
  await ensureBackend('wasm');
  assert.equal(tf.getKernel('BatchMatMul', 'wasm')!.kernelFunc, wasmFn);
  await ensureBackend('native');
  assert.equal(tf.getKernel('BatchMatMul', 'wasm')!.kernelFunc, nativeFn);
});

test('native falls back to wasm for what oneDNN does not take (PReLU)', { skip }, async () => {
  const rng = new Rng(5);
  const inputs: Inputs = { x: [randomData(rng, [2, 6, 6, 3]), [2, 6, 6, 3]], filter: [randomData(rng, [3, 3, 3, 4]), [3, 3, 3, 4]],
    preluActivationWeights: [randomData(rng, [4]), [4]] };
  const attrs = { strides: 1, pad: 'same', dilations: 1, dataFormat: 'NHWC', activation: 'prelu' };
  const err = relError(await runOn('cpu', 'FusedConv2D', inputs, attrs), await runOn('native', 'FusedConv2D', inputs, attrs));
  assert.ok(err < 1e-4, `relative error ${err.toExponential(2)}`);
});

async function probeGrads(backend: 'cpu' | 'native'): Promise<Float32Array[]> {
  if (backend === 'native') await useNative(); else await ensureBackend('cpu');
  const out = probeNet(3) as tf.Tensor[];
  const data = out.map((t) => t.dataSync() as Float32Array);
  tf.dispose(out);
  return data;
}

test('a small net (conv, depthwise, strided, pooling, dense) has the same loss and gradients on native as on cpu', { skip }, async () => {
  const ref = await probeGrads('cpu');
  const got = await probeGrads('native');
  ref.forEach((r, i) => {
    const err = relError(r, got[i]);
    assert.ok(err < 1e-4, `output ${i} (0 = loss, then gradients): relative error ${err.toExponential(2)}`);
  });
});

/** Loss and gradients of every trainable weight of resnet18 + a dense head on a 32 px batch of 4
 * (with 2, layer4's batch norm normalises 2 values per channel and amplifies rounding 100-fold). */
async function resnetGrads(backend: 'cpu' | 'native'): Promise<[string, Float32Array][]> {
  if (backend === 'native') await useNative(); else await ensureBackend('cpu');
  const input = tf.input({ shape: [32, 32, 3] });
  const features = backbones.get('resnet18').build(input, { seed: 4 });
  const pooled = tf.layers.globalAveragePooling2d({}).apply(features) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input,
    outputs: tf.layers.dense({ units: 5, kernelInitializer: tf.initializers.glorotNormal({ seed: 5 }) }).apply(pooled) as tf.SymbolicTensor });
  const x = tf.tensor(randomData(new Rng(6), [4, 32, 32, 3]), [4, 32, 32, 3]);
  const labels = tf.oneHot(tf.tensor1d([1, 3, 0, 2], 'int32'), 5);
  const { value, grads } = tf.variableGrads(() =>
    tf.losses.softmaxCrossEntropy(labels, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar);
  const out: [string, Float32Array][] = [['loss', value.dataSync() as Float32Array],
    ...Object.entries(grads).map(([k, g]) => [k, g.dataSync() as Float32Array] as [string, Float32Array])];
  tf.dispose([value, ...Object.values(grads), x, labels]);
  model.dispose();
  return out;
}

test('resnet18 (32 px, batch 4) has the same loss and weight gradients on native as on cpu', { skip }, async () => {
  const ref = await resnetGrads('cpu');
  const got = await resnetGrads('native'); // same weights in the same order; tfjs renames the second model's
  assert.equal(got.length, ref.length);
  for (const [i, [name, r]] of ref.entries()) {
    // through 20 layers and batch statistics rounding adds up: native and wasm both reach ~2e-4
    const err = relError(r, got[i][1]);
    assert.ok(err < 1e-3, `${name}: relative error ${err.toExponential(2)}`);
  }
});

test('native kernels are bitwise deterministic at a fixed thread count', { skip }, async () => {
  await useNative();
  const rng = new Rng(11);
  // big enough that oneDNN splits the work (and the weight-gradient reduction) over threads
  const x = tf.tensor(randomData(rng, [8, 28, 28, 32]), [8, 28, 28, 32]) as tf.Tensor4D;
  const w = tf.tensor(randomData(rng, [3, 3, 32, 48]), [3, 3, 32, 48]) as tf.Tensor4D;
  const once = () => tf.tidy(() => {
    const f = (...ab: tf.Tensor[]) => tf.sum(tf.square(tf.conv2d(ab[0] as tf.Tensor4D, ab[1] as tf.Tensor4D, 1, 'same')));
    return [tf.conv2d(x, w, 2, 'same'), ...tf.grads(f)([x, w])].map((t) => Array.from(t.dataSync()));
  });
  assert.deepEqual(once(), once());
  const [p1, p2] = [await probeGrads('native'), await probeGrads('native')];
  assert.deepEqual(p1.map((a) => Array.from(a)), p2.map((a) => Array.from(a)));
  tf.dispose([x, w]);
});

test('switching between native and wasm swaps the kernels on the shared wasm backend', { skip }, async () => {
  const { nativeKernels } = await import('../../src/model/kernels/native.ts');
  const { wasmGradKernels } = await import('../../src/model/kernels/index.ts');
  const name = 'Conv2DBackpropFilter';
  const nativeFn = nativeKernels.find((k) => k.kernelName === name)!.kernelFunc;
  const wasmFn = wasmGradKernels.find((k) => k.kernelName === name)!.kernelFunc;
  await ensureBackend('native');
  assert.equal(tf.getKernel(name, 'wasm')!.kernelFunc, nativeFn);
  await ensureBackend('wasm');
  assert.equal(tf.getKernel(name, 'wasm')!.kernelFunc, wasmFn, 'wasm after native runs exp\'s wasm kernels');
  assert.equal(tf.getKernel('Conv2D', 'wasm')!.kernelFunc === nativeKernels.find((k) => k.kernelName === 'Conv2D')?.kernelFunc, false);
  await ensureBackend('native');
  assert.equal(tf.getKernel(name, 'wasm')!.kernelFunc, nativeFn, 'native again re-registers its kernels');
});

for (const [shape, seed] of [[[4, 5, 6, 8], 1], [[3, 7, 3, 5], 2], [[50, 16], 3]] as [number[], number][]) {
  test(`batch norm in training [${shape}] runs as fused native kernels and matches tfjs' own on cpu (output, statistics, gradients)`, { skip }, async () => {
    await compareBatchNormTraining(useNative, shape, seed);
  });
}

for (const activation of ['relu', 'relu6', 'swish'] as const) {
  for (const [shape, seed] of [[[4, 5, 6, 8], 1], [[2, 9, 7, 33], 5]] as [number[], number][]) {
    test(`batch norm + ${activation} in training [${shape}] runs as the addon's fused kernels and matches tfjs' batch norm then ${activation} on cpu`, { skip }, async () => {
      await compareBatchNormTraining(useNative, shape, seed, activation);
    });
  }
  test(`batch norm + ${activation} in inference is one addon kernel on native and equals tfjs' batch norm then ${activation} on cpu`, { skip }, async () => {
    const { FreezableBatchNorm } = await import('../../src/model/layers/index.ts');
    const shape = [2, 9, 7, 33];
    const run = async (activate: () => Promise<unknown>) => {
      await activate();
      const rng = new Rng(6);
      const u = (n: number, lo: number, hi: number) => tf.tensor(Float32Array.from({ length: n }, () => rng.uniform(lo, hi)));
      const bn = new FreezableBatchNorm({ momentum: 0.9, epsilon: 1e-5, activation });
      bn.build(shape);
      // gamma, beta, moving mean, moving variance; outputs cross 0 and 6
      bn.setWeights([u(33, 1, 5), u(33, -1, 2), u(33, -1, 1), u(33, 0.5, 2)]);
      const x = tf.reshape(u(shape.reduce((a, b) => a * b), -4, 4), shape);
      const profile = await tf.profile(() => { (bn.apply(x) as tf.Tensor).dispose(); });
      const y = bn.apply(x) as tf.Tensor;
      const out = { y: y.dataSync() as Float32Array, kernels: profile.kernels.map((k) => k.name) };
      tf.dispose([x, y]);
      bn.weights.forEach((w) => w.dispose());
      return out;
    };
    const ref = await run(() => ensureBackend('cpu'));
    const got = await run(useNative);
    assert.deepEqual(got.kernels, ['ExpBatchNormInfer']);
    assert.ok(relError(ref.y, got.y) < 1e-5, `relative error ${relError(ref.y, got.y)}`);
  });
}

test('a frozen batch norm on native keeps tfjs\' inference path and its statistics', { skip }, async () => {
  await useNative();
  const { FreezableBatchNorm } = await import('../../src/model/layers/index.ts');
  const bn = new FreezableBatchNorm({ momentum: 0.9, epsilon: 1e-5 });
  const x = tf.randomNormal([2, 3, 3, 4], 1, 2, 'float32', 5);
  bn.apply(x, { training: true });
  bn.trainable = false;
  const before = bn.getWeights().map((w) => Array.from(w.dataSync()));
  const profile = await tf.profile(() => { (bn.apply(x, { training: true }) as tf.Tensor).dispose(); });
  assert.ok(!profile.kernels.some((k) => k.name === 'ExpBatchNormTrain'));
  assert.deepEqual(bn.getWeights().map((w) => Array.from(w.dataSync())), before);
  x.dispose();
  bn.weights.forEach((w) => w.dispose());
});

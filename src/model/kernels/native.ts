// The `native` backend: oneDNN kernels from our Node-API addon (build/Release/exp_native.node,
// built at install by scripts/build-native.js) registered for tfjs' 'wasm' backend, so every
// other op keeps running on wasm on the same tensors. The addon works in place on the wasm heap:
// we hand it the heap's ArrayBuffer and byte offsets of inputs and (already allocated) outputs.
// Kernels: convolutions (plain, depthwise and exp's grouped op, kernels/group-conv.ts, as oneDNN's
// grouped convolutions; forward with fused bias + activation, both gradients),
// BatchMatMul/_FusedMatMul, MaxPool and its gradient, Tile (batch-norm gradients tile statistics
// to full activations), Sum/Mean over leading or trailing axes and FusedBatchNorm (per channel)
// for the batch-norm statistics and gradients, and the element-wise Add/Sub/Multiply/RealDiv/
// SquaredDifference of their gradients (full, scalar or per-channel operands, from 64Ki elements),
// and exp's own fused batch-norm training forward and gradient (kernels/batch-norm-train.ts) and
// Adam/AdamW step (kernels/adam.ts), swish (kernels/swish.ts) and the end of a residual block
// (kernels/residual.ts).
// Every one beat wasm's in bench/train.ts. Cases the
// addon does not cover (NCHW, PReLU, odd bias shapes, other reduction axes, non-float32) go to the
// kernel registered before ours.
// Each entry point takes (heap, params: Float64Array) laid out as native/params.json says; `call`
// packs them by name (native-params.ts). The addon exports the layouts it was built with, and a
// build whose layouts differ from ours is refused at load ("built from other sources; run npm
// rebuild"), so the backend is unavailable as when the addon is missing, never called wrongly.
import type { KernelConfig, KernelFunc } from '@tensorflow/tfjs';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tf } from '../tf.ts';
import type { BackendWasm, TensorInfo } from './wasm-util.ts';
import { BATCH_NORM_GRAD, BATCH_NORM_INFER, BATCH_NORM_TRAIN } from './batch-norm-names.ts';
import { GROUP_CONV, GROUP_CONV_BACKPROP_FILTER, GROUP_CONV_BACKPROP_INPUT } from './group-conv.ts';
import { ADAM_UPDATE, adamScalars, type AdamAttrs } from './adam.ts';
import { RELU6, RELU6_GRAD, SWISH, SWISH_GRAD } from './swish.ts';
import { RESIDUAL_RELU, RESIDUAL_RELU_GRAD } from './residual.ts';
import { layoutMismatch, pack, type Entry, type Params } from './native-params.ts';

/** The addon: one function per entry point of native/params.json, each (heap, params) -> undefined. */
type Addon = { [E in Entry]: (heap: ArrayBuffer, params: Float64Array) => void } & {
  /** The parameter layouts it was built with (native/params.json's names per entry point). */
  layouts: unknown;
  onednnVersion: string;
  threads: number;
};

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const addonPath = join(root, 'build', 'Release', 'exp_native.node');

let addon: Addon | undefined;
/** Why the addon did not load (undefined while it has not been tried or when it loaded). */
export let unavailableReason: string | undefined;

/** Load the addon once; undefined (and `unavailableReason` set) when it is missing, broken or built from other sources. */
export function loadAddon(): Addon | undefined {
  if (addon || unavailableReason) return addon;
  if (!existsSync(addonPath)) {
    unavailableReason = `${addonPath} is not built (apt-get install libdnnl-dev && npm rebuild)`;
    return undefined;
  }
  let loaded: Addon;
  try {
    loaded = createRequire(import.meta.url)(addonPath) as Addon;
  } catch (e) {
    unavailableReason = `${addonPath} did not load: ${String(e instanceof Error ? e.message : e).split('\n')[0]}`;
    return undefined;
  }
  unavailableReason = staleAddonReason(addonPath, loaded.layouts);
  if (!unavailableReason) addon = loaded;
  return addon;
}

/** Why an addon exporting `layouts` must not be used (built from other sources), or undefined. */
export function staleAddonReason(path: string, layouts: unknown): string | undefined {
  const mismatch = layoutMismatch(layouts);
  return mismatch && `${path} was built from other sources (${mismatch}); run npm rebuild`;
}

/** Call entry point `entry` with its parameters by name (native/params.json). */
function call<E extends Entry>(backend: BackendWasm, entry: E, values: Params<E>): void {
  const params = pack(entry, values);
  addon![entry](heap(backend), params);
}

/**
 * oneDNN's convolutions and matmul give bit-identical results for the same inputs at a fixed
 * thread count (no atomics; reductions split by a static schedule); test/model/native.test.ts
 * checks it. A different OMP_NUM_THREADS can change the last bits of backward-weights sums.
 */
export const deterministic = true;

/** oneDNN version and OpenMP threads, for run records and the bench. */
export function nativeInfo(): { onednn: string; threads: number } | undefined {
  const a = loadAddon();
  return a && { onednn: a.onednnVersion, threads: a.threads };
}

type Attrs = Record<string, unknown>;
type Args = { inputs: Record<string, TensorInfo | undefined>; attrs: Attrs; backend: BackendWasm };

const ACT: Record<string, number> = { linear: 0, relu: 1, relu6: 2, leakyrelu: 3, sigmoid: 4, elu: 5 };
const CONV = { fwd: 0, bwdData: 1, bwdWeights: 2 } as const;

function byteOffset(backend: BackendWasm, t: TensorInfo): number {
  return (backend.dataIdMap.get(t.dataId) as { memoryOffset: number }).memoryOffset;
}
/** The heap as it is now: any allocation may have grown (replaced) it. */
function heap(backend: BackendWasm): ArrayBuffer {
  return (backend.wasm as unknown as { HEAPU8: Uint8Array }).HEAPU8.buffer as ArrayBuffer;
}

interface ConvCall {
  kind: number; xShape: number[]; filterShape: number[]; depthwise: boolean; attrs: Attrs;
  x: TensorInfo; w: TensorInfo; y: TensorInfo; bias?: TensorInfo; act?: number; alpha?: number;
  /** exp's grouped convolution: filter [kh, kw, cin / groups, cout] (not depthwise). */
  groups?: number;
}

function runConv(backend: BackendWasm, c: ConvCall): void {
  const a = c.attrs;
  const info = tf.backend_util.computeConv2DInfo(c.xShape as [number, number, number, number],
    c.filterShape as [number, number, number, number], a.strides as number,
    (a.dilations ?? 1) as number, a.pad as 'same', a.dimRoundingMode as 'floor' | undefined, c.depthwise);
  const { padInfo: p } = info;
  const groups = c.depthwise ? info.inChannels : c.groups ?? 1;
  const extH = (info.filterHeight - 1) * info.dilationHeight + 1;
  const extW = (info.filterWidth - 1) * info.dilationWidth + 1;
  const pb = padAfter(info.inHeight, info.outHeight, p.top, p.bottom, extH, info.strideHeight);
  const pr = padAfter(info.inWidth, info.outWidth, p.left, p.right, extW, info.strideWidth);
  call(backend, 'conv', {
    kind: c.kind, batch: info.batchSize, inH: info.inHeight, inW: info.inWidth, inC: info.inChannels,
    outH: info.outHeight, outW: info.outWidth, outC: info.outChannels, filterH: info.filterHeight,
    filterW: info.filterWidth, strideH: info.strideHeight, strideW: info.strideWidth,
    dilationH: info.dilationHeight, dilationW: info.dilationWidth, padTop: p.top, padLeft: p.left,
    padBottom: pb, padRight: pr, groups, act: c.act ?? 0, alpha: c.alpha ?? 0,
    x: byteOffset(backend, c.x), w: byteOffset(backend, c.w), bias: c.bias ? byteOffset(backend, c.bias) : -1,
    y: byteOffset(backend, c.y),
  });
}

function supported(attrs: Attrs, ...ts: (TensorInfo | undefined)[]): boolean {
  return (attrs.dataFormat === undefined || attrs.dataFormat === 'NHWC')
    && ts.every((t) => !t || (t.dtype === 'float32' && t.shape.every((d) => d > 0)));
}

/** Forward convolution (plain, depthwise, with optional fused bias and activation). */
function convForward(depthwise: boolean, fused: boolean, name: string) {
  return (args: Args): TensorInfo => {
    const { inputs: { x, filter, bias, preluActivationWeights }, attrs, backend } = args;
    const act = fused ? ACT[(attrs.activation as string | undefined) ?? 'linear'] : 0;
    if (!supported(attrs, x, filter, bias) || act === undefined || preluActivationWeights
      || (bias && (bias.shape.length !== 1 || bias.shape[0] !== outChannels(filter!, depthwise)))) {
      return fallback(name, args);
    }
    const info = tf.backend_util.computeConv2DInfo(x!.shape as [number, number, number, number],
      filter!.shape as [number, number, number, number], attrs.strides as number,
      (attrs.dilations ?? 1) as number, attrs.pad as 'same', attrs.dimRoundingMode as 'floor', depthwise);
    const y = backend.makeOutput(info.outShape, 'float32');
    runConv(backend, { kind: CONV.fwd, xShape: x!.shape, filterShape: filter!.shape, depthwise, attrs,
      x: x!, w: filter!, y, bias, act, alpha: (attrs.leakyreluAlpha as number | undefined) ?? 0.2 });
    return y;
  };
}

function outChannels(filter: TensorInfo, depthwise: boolean): number {
  return depthwise ? filter.shape[2] * filter.shape[3] : filter.shape[3];
}

/** dx from dy and the filter. */
function convBackpropInput(depthwise: boolean, name: string) {
  return (args: Args): TensorInfo => {
    const { inputs: { dy, filter }, attrs, backend } = args;
    if (!supported(attrs, dy, filter)) return fallback(name, args);
    const xShape = attrs.inputShape as number[];
    const dx = backend.makeOutput(xShape, 'float32');
    runConv(backend, { kind: CONV.bwdData, xShape, filterShape: filter!.shape, depthwise, attrs,
      x: dx, w: filter!, y: dy! });
    return dx;
  };
}

/** dW from x and dy. */
function convBackpropFilter(depthwise: boolean, name: string) {
  return (args: Args): TensorInfo => {
    const { inputs: { x, dy }, attrs, backend } = args;
    if (!supported(attrs, x, dy)) return fallback(name, args);
    const filterShape = attrs.filterShape as number[];
    const dw = backend.makeOutput(filterShape, 'float32');
    runConv(backend, { kind: CONV.bwdWeights, xShape: x!.shape, filterShape, depthwise, attrs,
      x: x!, w: dw, y: dy! });
    return dw;
  };
}

/** exp's grouped convolution (kernels/group-conv.ts): the three kernels on oneDNN's grouped
 * weights, whose [g, oc/g, ic/g, kh, kw] descriptor with strides reads tfjs' [kh, kw, ic/g, oc]
 * filter in place. There is no wasm kernel to fall back to: the layer only calls these with
 * float32 NHWC tensors, and anything else is an error. */
function groupConvCheck(name: string, xShape: number[], filterShape: number[], attrs: Attrs, ...ts: (TensorInfo | undefined)[]): number {
  const groups = attrs.groups as number;
  const [, , , cin] = xShape;
  const [, , cg, cout] = filterShape;
  if (!ts.every((t) => t && t.dtype === 'float32' && t.shape.length === 4) || xShape.length !== 4
    || filterShape.length !== 4 || !Number.isInteger(groups) || groups < 1 || cg * groups !== cin || cout % groups !== 0) {
    throw new Error(`native ${name}: needs float32 NHWC x [n,h,w,cin] and filter [kh,kw,cin/groups,cout] with cout divisible by groups; got x [${xShape}], filter [${filterShape}], groups ${groups}`);
  }
  return groups;
}

function groupConvAttrs(attrs: Attrs): Attrs {
  return { strides: attrs.strides ?? 1, dilations: attrs.dilations ?? 1, pad: attrs.pad };
}

function groupConvForward(args: Args): TensorInfo {
  const { inputs: { x, filter }, attrs, backend } = args;
  const groups = groupConvCheck(GROUP_CONV, x?.shape ?? [], filter?.shape ?? [], attrs, x, filter);
  const a = groupConvAttrs(attrs);
  const info = tf.backend_util.computeConv2DInfo(x!.shape as [number, number, number, number],
    filter!.shape as [number, number, number, number], a.strides as number, a.dilations as number, a.pad as 'same');
  const y = backend.makeOutput(info.outShape, 'float32');
  runConv(backend, { kind: CONV.fwd, xShape: x!.shape, filterShape: filter!.shape, depthwise: false, attrs: a,
    x: x!, w: filter!, y, groups });
  return y;
}

function groupConvBackpropInput(args: Args): TensorInfo {
  const { inputs: { dy, filter }, attrs, backend } = args;
  const xShape = attrs.inputShape as number[];
  const groups = groupConvCheck(GROUP_CONV_BACKPROP_INPUT, xShape, filter?.shape ?? [], attrs, dy, filter);
  const dx = backend.makeOutput(xShape, 'float32');
  runConv(backend, { kind: CONV.bwdData, xShape, filterShape: filter!.shape, depthwise: false,
    attrs: groupConvAttrs(attrs), x: dx, w: filter!, y: dy!, groups });
  return dx;
}

function groupConvBackpropFilter(args: Args): TensorInfo {
  const { inputs: { x, dy }, attrs, backend } = args;
  const filterShape = attrs.filterShape as number[];
  const groups = groupConvCheck(GROUP_CONV_BACKPROP_FILTER, x?.shape ?? [], filterShape, attrs, x, dy);
  const dw = backend.makeOutput(filterShape, 'float32');
  runConv(backend, { kind: CONV.bwdWeights, xShape: x!.shape, filterShape, depthwise: false,
    attrs: groupConvAttrs(attrs), x: x!, w: dw, y: dy!, groups });
  return dw;
}

/** BatchMatMul and _FusedMatMul (bias of shape [n] and activations other than PReLU). */
function batchMatMul(fused: boolean, name: string) {
  return (args: Args): TensorInfo => {
    const { inputs: { a, b, bias, preluActivationWeights }, attrs, backend } = args;
    const act = fused ? ACT[(attrs.activation as string | undefined) ?? 'linear'] : 0;
    if (!supported({}, a, b, bias) || act === undefined || preluActivationWeights) return fallback(name, args);
    const ta = attrs.transposeA === true, tb = attrs.transposeB === true;
    const ra = a!.shape.length, rb = b!.shape.length;
    const m = ta ? a!.shape[ra - 1] : a!.shape[ra - 2];
    const k = ta ? a!.shape[ra - 2] : a!.shape[ra - 1];
    const n = tb ? b!.shape[rb - 2] : b!.shape[rb - 1];
    const kb = tb ? b!.shape[rb - 1] : b!.shape[rb - 2];
    const batchA = a!.shape.slice(0, -2), batchB = b!.shape.slice(0, -2);
    const ba = batchA.reduce((s, d) => s * d, 1), bb = batchB.reduce((s, d) => s * d, 1);
    // batch dims broadcast only when one side has a single matrix (as wasm's own kernel)
    if (k !== kb || (ba !== bb && ba !== 1 && bb !== 1)
      || (bias && (bias.shape.length !== 1 || bias.shape[0] !== n))) {
      return fallback(name, args);
    }
    const outBatch = tf.broadcast_util.assertAndGetBroadcastShape(batchA, batchB);
    const out = backend.makeOutput([...outBatch, m, n], 'float32');
    call(backend, 'matmul', { batchA: ba, batchB: bb, m, k, n, transposeA: ta ? 1 : 0, transposeB: tb ? 1 : 0, act,
      alpha: (attrs.leakyreluAlpha as number | undefined) ?? 0.2, a: byteOffset(backend, a!), b: byteOffset(backend, b!),
      bias: bias ? byteOffset(backend, bias) : -1, c: byteOffset(backend, out) });
    return out;
  };
}

/** oneDNN wants out = (in + before + after - extent) / stride + 1 exactly; tfjs' 'ceil' rounding
 * can leave `after` inconsistent with that, so derive it from the output size then. */
function padAfter(inSize: number, outSize: number, before: number, after: number, ext: number, stride: number): number {
  return Math.floor((inSize + before + after - ext) / stride) + 1 === outSize ? after
    : (outSize - 1) * stride + ext - inSize - before;
}

/** MaxPool (grad = false) and MaxPoolGrad (grad = true; reruns the forward for oneDNN's workspace). */
function maxPool(grad: boolean, name: string) {
  return (args: Args): TensorInfo => {
    const { inputs, attrs, backend } = args;
    const x = grad ? inputs.input : inputs.x;
    if (!supported(attrs, x, inputs.dy)) return fallback(name, args);
    const info = tf.backend_util.computePool2DInfo(x!.shape as [number, number, number, number],
      attrs.filterSize as number, attrs.strides as number, 1, attrs.pad as 'same', attrs.dimRoundingMode as 'floor');
    const p = info.padInfo;
    const out = backend.makeOutput(grad ? x!.shape : info.outShape, 'float32');
    call(backend, 'maxPool', { grad: grad ? 1 : 0, batch: info.batchSize, inH: info.inHeight, inW: info.inWidth,
      channels: info.inChannels, outH: info.outHeight, outW: info.outWidth, filterH: info.filterHeight,
      filterW: info.filterWidth, strideH: info.strideHeight, strideW: info.strideWidth, padTop: p.top, padLeft: p.left,
      padBottom: padAfter(info.inHeight, info.outHeight, p.top, p.bottom, info.filterHeight, info.strideHeight),
      padRight: padAfter(info.inWidth, info.outWidth, p.left, p.right, info.filterWidth, info.strideWidth),
      x: byteOffset(backend, x!), y: grad ? byteOffset(backend, inputs.dy!) : byteOffset(backend, out),
      dx: grad ? byteOffset(backend, out) : -1 });
    return out;
  };
}

/** Tile (float32, rank 1..6): batch-norm gradients tile statistics to full activations. */
function tile(args: Args): TensorInfo {
  const { inputs: { x }, attrs, backend } = args;
  const reps = attrs.reps as number[];
  if (!supported({}, x) || x!.shape.length < 1 || x!.shape.length > 6 || reps.some((r) => r < 1)) return fallback('Tile', args);
  const out = backend.makeOutput(x!.shape.map((d, i) => d * reps[i]), 'float32');
  call(backend, 'tile', { rank: x!.shape.length, x: byteOffset(backend, x!), out: byteOffset(backend, out),
    shape: x!.shape, reps });
  return out;
}

/** Sum and Mean (float32) over leading axes (batch-norm statistics and their gradients reduce
 * NHWC tensors over N, H, W), trailing axes, or contiguous middle axes (global average pooling and
 * squeeze-excitation's gradients reduce over H, W), on 2 threads; other axis patterns fall back. */
function reduce(mean: boolean, name: string) {
  return (args: Args): TensorInfo => {
    const { inputs: { x }, attrs, backend } = args;
    if (!supported({}, x)) return fallback(name, args);
    const shape = x!.shape;
    const axes = [...new Set(tf.util.parseAxisParam(attrs.axis as number | number[], shape))].sort((a, b) => a - b);
    const r = shape.length, k = axes.length;
    const leading = axes.every((a, i) => a === i), trailing = axes.every((a, i) => a === r - k + i);
    const contiguous = axes.every((a, i) => a === axes[0] + i);
    if (k === 0 || (!leading && !trailing && !contiguous)) return fallback(name, args);
    const [outShape] = tf.backend_util.computeOutAndReduceShapes(shape, axes);
    const out = backend.makeOutput(attrs.keepDims ? tf.backend_util.expandShapeToKeepDim(outShape, axes) : outShape, 'float32');
    if (!leading && !trailing) {
      const outer = tf.util.sizeFromShape(shape.slice(0, axes[0])), mid = tf.util.sizeFromShape(shape.slice(axes[0], axes[0] + k));
      const inner = tf.util.sizeFromShape(shape.slice(axes[0] + k));
      call(backend, 'reduceMiddle', { mean: mean ? 1 : 0, outer, mid, inner,
        x: byteOffset(backend, x!), out: byteOffset(backend, out) });
      return out;
    }
    const split = leading ? k : r - k; // x seen as [outer = shape[0..split), inner = shape[split..r)]
    const outer = tf.util.sizeFromShape(shape.slice(0, split)), inner = tf.util.sizeFromShape(shape.slice(split));
    call(backend, 'reduce', { mean: mean ? 1 : 0, leading: leading ? 1 : 0, outer, inner,
      x: byteOffset(backend, x!), out: byteOffset(backend, out) });
    return out;
  };
}

/** The addon's code for a fused kernel's `activation` attribute (batch-norm-names.ts). */
const BN_ACT: Record<string, number> = { linear: 0, relu: 1, relu6: 2, swish: 3 };
function bnActivation(attrs: Record<string, unknown>, kernelName: string): number {
  const a = attrs.activation ?? 'linear';
  const code = typeof a === 'string' ? BN_ACT[a] : undefined;
  if (code === undefined) throw new Error(`${kernelName}: unknown activation ${JSON.stringify(a)}`);
  return code;
}

/** FusedBatchNorm (the inference form tfjs layers also use in training, with batch statistics):
 * mean, variance, offset and scale per channel of the last axis; other broadcasts fall back.
 * exp's ExpBatchNormInfer is the same with an activation applied in the same pass. */
function batchNormInference(kernelName: string) {
  return (args: Args): TensorInfo => {
    const { inputs: { x, mean, variance, offset, scale }, attrs, backend } = args;
    const ch = x?.shape[x.shape.length - 1] ?? 0;
    const perChannel = (t: TensorInfo | undefined) => !t || (t.shape.length >= 1
      && t.shape[t.shape.length - 1] === ch && tf.util.sizeFromShape(t.shape) === ch);
    const act = kernelName === BATCH_NORM_INFER ? bnActivation(attrs, kernelName) : 0;
    if (!supported({}, x, mean, variance, offset, scale) || !mean || !variance || x!.shape.length < 1
      || ![mean, variance, offset, scale].every(perChannel)) {
      if (act) throw new Error(`${kernelName}: needs float32 x with channels last and [C] statistics, got ${JSON.stringify(x?.shape)}`);
      return fallback('FusedBatchNorm', args);
    }
    const out = backend.makeOutput(x!.shape, 'float32');
    const at = (t: TensorInfo | undefined) => (t ? byteOffset(backend, t) : -1);
    const eps = (kernelName === BATCH_NORM_INFER ? attrs.epsilon : attrs.varianceEpsilon) as number | undefined;
    call(backend, 'batchNorm', { rows: tf.util.sizeFromShape(x!.shape) / ch, channels: ch,
      eps: eps ?? 0.001, act, x: at(x), mean: at(mean), variance: at(variance),
      offset: at(offset), scale: at(scale), y: at(out) });
    return out;
  };
}

// exp's own kernels for a batch-norm layer in training (batch statistics, batch-norm-names.ts),
// over the JS ones that plain wasm has (batch-norm-wasm.ts).
function channels(x: TensorInfo | undefined, ...perChannel: (TensorInfo | undefined)[]): number {
  const ch = x && x.shape.length >= 1 ? x.shape[x.shape.length - 1] : 0;
  if (!supported({}, x, ...perChannel) || ch === 0
    || perChannel.some((t) => t && tf.util.sizeFromShape(t.shape) !== ch)) {
    throw new Error(`native batch norm: needs float32 x with channels last and [C] statistics, got ${JSON.stringify(x?.shape)}`);
  }
  return ch;
}

function batchNormTrain(args: Args): TensorInfo[] {
  const { inputs: { x, gamma, beta }, attrs, backend } = args;
  const ch = channels(x, gamma, beta);
  const y = backend.makeOutput(x!.shape, 'float32');
  const mean = backend.makeOutput([ch], 'float32'), variance = backend.makeOutput([ch], 'float32');
  const at = (t: TensorInfo | undefined) => (t ? byteOffset(backend, t) : -1);
  call(backend, 'batchNormTrain', { rows: tf.util.sizeFromShape(x!.shape) / ch, channels: ch,
    eps: attrs.epsilon as number, act: bnActivation(attrs, BATCH_NORM_TRAIN), x: at(x), gamma: at(gamma), beta: at(beta),
    y: at(y), mean: at(mean), variance: at(variance) });
  return [y, mean, variance];
}

function batchNormGrad(args: Args): TensorInfo[] {
  const { inputs: { dy, x, mean, variance, gamma, beta }, attrs, backend } = args;
  const ch = channels(x, mean, variance, gamma, beta);
  if (!mean || !variance || !dy || !tf.util.arraysEqual(dy.shape, x!.shape) || dy.dtype !== 'float32') {
    throw new Error('native batch norm gradient: needs dy of x\'s shape, mean and variance');
  }
  const dx = backend.makeOutput(x!.shape, 'float32');
  const dgamma = backend.makeOutput([ch], 'float32'), dbeta = backend.makeOutput([ch], 'float32');
  const at = (t: TensorInfo | undefined) => (t ? byteOffset(backend, t) : -1);
  call(backend, 'batchNormGrad', { rows: tf.util.sizeFromShape(x!.shape) / ch, channels: ch,
    eps: attrs.epsilon as number, act: bnActivation(attrs, BATCH_NORM_GRAD), dy: at(dy), x: at(x), mean: at(mean),
    variance: at(variance), gamma: at(gamma), beta: at(beta), dx: at(dx), dgamma: at(dgamma), dbeta: at(dbeta) });
  return [dx, dgamma, dbeta];
}

/** Below this many output elements wasm's single-threaded loop beats the call into the addon
 * (bench/train.ts prints both per size). */
let binaryMinElements = 65536;
/** Change that threshold (the bench and tests; 0 sends every supported case to the addon); returns the old one. */
export function setBinaryMinElements(n: number): number {
  const old = binaryMinElements;
  binaryMinElements = n;
  return old;
}

/** Add, Sub, Multiply, RealDiv, SquaredDifference, Minimum, Maximum (float32; Minimum is tfjs
 * layers' relu6, min(relu(x), 6), which wasm runs slowly with a scalar) when each operand has the output's
 * shape, is a scalar, is per channel of the last axis ([C] or [1,..,1,C]) or per batch and channel
 * ([N,1,..,1,C] of an [N,..,C] output: squeeze-excitation's scale and its gradient): the batch-norm,
 * ReLU and SE element-wise chains. Other broadcasts, other dtypes and small outputs fall back. */
function binary(op: number, name: string) {
  return (args: Args): TensorInfo => {
    const { inputs: { a, b }, backend } = args;
    if (!supported({}, a, b)) return fallback(name, args);
    const outShape = tf.broadcast_util.assertAndGetBroadcastShape(a!.shape, b!.shape);
    const n = tf.util.sizeFromShape(outShape), ch = outShape[outShape.length - 1] ?? 1;
    const r = outShape.length, batch = outShape[0] ?? 1;
    // full: same element count as the output, hence (broadcasting being valid) the same layout
    const mode = (t: TensorInfo) => {
      const size = tf.util.sizeFromShape(t.shape);
      if (size === n) return 0;
      if (size === 1) return 1;
      if (size === ch && t.shape[t.shape.length - 1] === ch) return 2;
      return r >= 3 && t.shape.length === r && t.shape[0] === batch && t.shape[r - 1] === ch
        && size === batch * ch ? 3 : -1;
    };
    const am = mode(a!), bm = mode(b!);
    if (n < binaryMinElements || am < 0 || bm < 0) return fallback(name, args);
    const out = backend.makeOutput(outShape, 'float32');
    call(backend, 'binary', { op, n, channels: ch, aMode: am, bMode: bm, a: byteOffset(backend, a!),
      b: byteOffset(backend, b!), out: byteOffset(backend, out), mid: n / Math.max(1, batch * ch) });
    return out;
  };
}

/** exp's fused Adam/AdamW step for one parameter (kernels/adam.ts): [w', m', v']. */
function adamUpdate(args: Args): TensorInfo[] {
  const { inputs: { w, g, m, v }, attrs, backend } = args;
  const n = w ? tf.util.sizeFromShape(w.shape) : 0;
  if (![w, g, m, v].every((t) => t && t.dtype === 'float32' && tf.util.sizeFromShape(t.shape) === n)) {
    throw new Error(`native ${ADAM_UPDATE}: needs float32 w, g, m, v of one size, got ${[w, g, m, v].map((t) => t && `${t.dtype} [${t.shape}]`)}`);
  }
  const s = adamScalars(attrs as unknown as AdamAttrs);
  const outs = [w!, m!, v!].map((t) => backend.makeOutput(t.shape, 'float32'));
  if (n > 0) {
    const [wOut, mOut, vOut] = outs.map((t) => byteOffset(backend, t));
    call(backend, 'adam', { n, b1: s.b1, c1: s.c1, b2: s.b2, c2: s.c2, sqrtBc2: s.sqrtBc2, eps: s.eps, step: s.step,
      wdMode: s.wdMode, wdFactor: s.wdFactor, w: byteOffset(backend, w!), g: byteOffset(backend, g!),
      m: byteOffset(backend, m!), v: byteOffset(backend, v!), wOut, mOut, vOut });
  }
  return outs;
}

/** exp's fused swish or relu6 (kind 1) and its gradient (kernels/swish.ts). */
function swishKernel(grad: boolean, kind = 0) {
  return (args: Args): TensorInfo => {
    const { inputs: { x, dy }, backend } = args;
    if (!x || x.dtype !== 'float32' || (grad && (!dy || dy.dtype !== 'float32' || !tf.util.arraysEqual(dy.shape, x.shape)))) {
      throw new Error(`native ${[[SWISH, SWISH_GRAD], [RELU6, RELU6_GRAD]][kind][grad ? 1 : 0]}: needs float32 x${grad ? ' and dy of its shape' : ''}`);
    }
    const out = backend.makeOutput(x.shape, 'float32');
    const n = tf.util.sizeFromShape(x.shape);
    if (n > 0) {
      call(backend, 'swish', { grad: grad ? 1 : 0, n, x: byteOffset(backend, x),
        dy: grad ? byteOffset(backend, dy!) : -1, out: byteOffset(backend, out), kind });
    }
    return out;
  };
}

/** exp's fused end of a residual block, relu(x * s + r), and its gradients (kernels/residual.ts). */
function residualShape(name: string, x: TensorInfo | undefined, s: TensorInfo | undefined, ...same: (TensorInfo | undefined)[]): { n: number; ch: number; mid: number } {
  const ok = x && x.dtype === 'float32' && x.shape.length === 4 && same.every((t) => t && t.dtype === 'float32' && tf.util.arraysEqual(t.shape, x.shape))
    && (!s || (s.dtype === 'float32' && tf.util.arraysEqual(s.shape, [x.shape[0], 1, 1, x.shape[3]])));
  if (!ok) throw new Error(`native ${name}: needs float32 [N,H,W,C] tensors of one shape and a gate [N,1,1,C]; got ${[x, ...same, s].map((t) => t ? `[${t.shape}]` : '-').join(', ')}`);
  const [N, H, W, C] = x!.shape;
  return { n: N * H * W * C, ch: C, mid: H * W };
}

function residualForward(args: Args): TensorInfo {
  const { inputs: { x, r, s }, backend } = args;
  const { n, ch, mid } = residualShape(RESIDUAL_RELU, x, s, r);
  const y = backend.makeOutput(x!.shape, 'float32');
  if (n > 0) {
    call(backend, 'residual', { grad: 0, n, channels: ch, mid, x: byteOffset(backend, x!), s: s ? byteOffset(backend, s) : -1,
      r: byteOffset(backend, r!), y: byteOffset(backend, y), dy: -1, dr: -1, dx: -1, ds: -1 });
  }
  return y;
}

function residualBackward(args: Args): TensorInfo[] {
  const { inputs: { dy, y, x, s }, backend } = args;
  const { n, ch, mid } = residualShape(RESIDUAL_RELU_GRAD, y, s, dy, ...(s ? [x] : []));
  const g = backend.makeOutput(y!.shape, 'float32');
  const dx = s ? backend.makeOutput(y!.shape, 'float32') : null;
  const ds = s ? backend.makeOutput(s.shape, 'float32') : null;
  if (n > 0) {
    call(backend, 'residual', { grad: 1, n, channels: ch, mid, x: s ? byteOffset(backend, x!) : -1, s: s ? byteOffset(backend, s) : -1,
      r: -1, y: byteOffset(backend, y!), dy: byteOffset(backend, dy!), dr: byteOffset(backend, g),
      dx: dx ? byteOffset(backend, dx) : -1, ds: ds ? byteOffset(backend, ds) : -1 });
  }
  return dx && ds ? [g, dx, ds] : [g];
}

/** The kernels that were registered before ours: the fallback, and what unregister restores. */
const previous = new Map<string, KernelConfig | undefined>();

function fallback(name: string, args: Args): TensorInfo {
  const k = previous.get(name);
  if (!k) throw new Error(`native ${name}: this case is not supported and wasm has no ${name} kernel`);
  const out = k.kernelFunc(args as unknown as Parameters<KernelFunc>[0]);
  return Array.isArray(out) ? out[0] : out;
}

const kernel = (name: string, f: (args: Args) => TensorInfo | TensorInfo[]): KernelConfig =>
  ({ kernelName: name, backendName: 'wasm', kernelFunc: f as unknown as KernelFunc });

export const nativeKernels: KernelConfig[] = [
  kernel('Conv2D', convForward(false, false, 'Conv2D')),
  kernel('FusedConv2D', convForward(false, true, 'FusedConv2D')),
  kernel('Conv2DBackpropInput', convBackpropInput(false, 'Conv2DBackpropInput')),
  kernel('Conv2DBackpropFilter', convBackpropFilter(false, 'Conv2DBackpropFilter')),
  kernel('DepthwiseConv2dNative', convForward(true, false, 'DepthwiseConv2dNative')),
  kernel('FusedDepthwiseConv2D', convForward(true, true, 'FusedDepthwiseConv2D')),
  kernel('DepthwiseConv2dNativeBackpropInput', convBackpropInput(true, 'DepthwiseConv2dNativeBackpropInput')),
  kernel('DepthwiseConv2dNativeBackpropFilter', convBackpropFilter(true, 'DepthwiseConv2dNativeBackpropFilter')),
  kernel(GROUP_CONV, groupConvForward),
  kernel(GROUP_CONV_BACKPROP_INPUT, groupConvBackpropInput),
  kernel(GROUP_CONV_BACKPROP_FILTER, groupConvBackpropFilter),
  kernel('BatchMatMul', batchMatMul(false, 'BatchMatMul')),
  kernel('_FusedMatMul', batchMatMul(true, '_FusedMatMul')),
  kernel('MaxPool', maxPool(false, 'MaxPool')),
  kernel('MaxPoolGrad', maxPool(true, 'MaxPoolGrad')),
  kernel('Tile', tile),
  kernel('Sum', reduce(false, 'Sum')),
  kernel('Mean', reduce(true, 'Mean')),
  kernel('FusedBatchNorm', batchNormInference('FusedBatchNorm')),
  kernel(BATCH_NORM_INFER, batchNormInference(BATCH_NORM_INFER)),
  kernel('Add', binary(0, 'Add')),
  kernel('Sub', binary(1, 'Sub')),
  kernel('Multiply', binary(2, 'Multiply')),
  kernel('RealDiv', binary(3, 'RealDiv')),
  kernel('SquaredDifference', binary(4, 'SquaredDifference')),
  kernel('Minimum', binary(5, 'Minimum')),
  kernel('Maximum', binary(6, 'Maximum')),
  kernel(BATCH_NORM_TRAIN, batchNormTrain),
  kernel(BATCH_NORM_GRAD, batchNormGrad),
  kernel(ADAM_UPDATE, adamUpdate),
  kernel(SWISH, swishKernel(false)),
  kernel(SWISH_GRAD, swishKernel(true)),
  kernel(RELU6, swishKernel(false, 1)),
  kernel(RELU6_GRAD, swishKernel(true, 1)),
  kernel(RESIDUAL_RELU, residualForward),
  kernel(RESIDUAL_RELU_GRAD, residualBackward),
];

/**
 * Register the oneDNN kernels for 'wasm' (over wasm's own and exp's wasm gradient kernels).
 * Idempotent. False when the addon is missing or broken (`unavailableReason` says why).
 */
export function registerNativeKernels(): boolean {
  if (!loadAddon()) return false;
  for (const k of nativeKernels) {
    const current = tf.getKernel(k.kernelName, 'wasm');
    if (current?.kernelFunc === k.kernelFunc) continue;
    previous.set(k.kernelName, current);
    if (current) tf.unregisterKernel(k.kernelName, 'wasm');
    tf.registerKernel(k);
  }
  return true;
}

/** Put back the kernels ours replaced (plain wasm again, e.g. when a run switches backend). */
export function unregisterNativeKernels(): void {
  for (const k of nativeKernels) {
    if (tf.getKernel(k.kernelName, 'wasm')?.kernelFunc !== k.kernelFunc) continue;
    tf.unregisterKernel(k.kernelName, 'wasm');
    const before = previous.get(k.kernelName);
    if (before) tf.registerKernel(before);
  }
}

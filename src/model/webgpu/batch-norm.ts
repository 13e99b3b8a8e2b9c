// exp's fused batch-norm training kernels (src/model/kernels/batch-norm-names.ts: forward {x,
// gamma, beta} -> [y, mean, variance], gradient {dy, x, mean, variance, gamma} -> [dx, dgamma,
// dbeta], attrs {epsilon}, x seen as [rows, C]) in WGSL. With them the layer's training pass is
// four dispatches forward and four backward, where tfjs' chain (moments, batchNorm and their
// gradients op by op) runs about twenty kernels per layer and step.
// Per-channel sums go in two steps: partial sums over chunks of rows (one workgroup per chunk and
// run of channels; lanes side by side along the channels so reads are contiguous), then one
// invocation per channel adding the chunks in order. No atomics: the same inputs give the same
// sums every time. The forward sums x - x[0, c] and its square (shifting by a sample of the
// channel keeps E[x^2] - E[x]^2 from cancelling when the mean is large next to the spread).
import type { KernelConfig, KernelFunc } from '@tensorflow/tfjs';
import { tf } from '../tf.ts';
import { BATCH_NORM_GRAD, BATCH_NORM_TRAIN, refuseFusedActivation } from '../kernels/batch-norm-names.ts';
import { flatDispatch, vec, WORKGROUP_INDEX, zero, type Program, type WebgpuBackendLike } from './program.ts';

const WG = 64;
/** rows one workgroup sums (at most): enough chunks to fill a GPU, few enough to add cheaply */
const CHUNK_ROWS = 1024;

interface Layout {
  rows: number; ch: number; comp: number;
  /** channel groups (of comp channels) side by side in a workgroup, and rows at once */
  lanesC: number; lanesR: number;
  chunks: number; chunkRows: number;
}

function layout(shape: number[]): Layout {
  const ch = shape[shape.length - 1];
  const rows = tf.util.sizeFromShape(shape) / ch;
  const comp = ch % 4 === 0 ? 4 : 1;
  const groups = ch / comp;
  const lanesC = Math.min(WG, groups);
  const lanesR = Math.floor(WG / lanesC);
  const chunks = Math.max(1, Math.min(256, Math.ceil(rows / CHUNK_ROWS)));
  return { rows, ch, comp, lanesC, lanesR, chunks, chunkRows: Math.ceil(rows / chunks) };
}

/**
 * Partial sums [2, chunks, C]: of (x - x[0, c]) and its square ('stats'), or of dy and
 * dy * (x - mean) ('grad').
 */
function partialsProgram(l: Layout, kind: 'stats' | 'grad'): Program {
  const T = vec(l.comp);
  const colGroups = Math.ceil(l.ch / l.comp / l.lanesC);
  const read = kind === 'stats'
    ? 'let v = x[r * groups + q] - x[q]; a1 += v; a2 += v * v;'
    : 'let d = dy[r * groups + q]; a1 += d; a2 += d * (x[r * groups + q] - mean[q]);';
  return {
    outputShape: [2, l.chunks, l.ch], shaderKey: `expBnPartials_${kind}_${l.comp}_${l.lanesC}`,
    dispatchLayout: { x: [0, 1, 2] }, dispatch: [colGroups * l.chunks, 1, 1],
    variableNames: kind === 'stats' ? ['x'] : ['dy', 'x', 'mean'], variableComponents: kind === 'stats' ? [l.comp] : [l.comp, l.comp, l.comp],
    outputComponent: l.comp, workgroupSize: [WG, 1, 1], size: false,
    uniforms: 'rows : i32, chunkRows : i32, chunks : i32, colGroups : i32,',
    getUserCode: () => `
  var<workgroup> s1 : array<${T}, ${WG}>;
  var<workgroup> s2 : array<${T}, ${WG}>;
  fn main(index : i32) {
    let groups = uniforms.outShape[2] / ${l.comp};
    let tile = ${WORKGROUP_INDEX};
    let chunk = tile / uniforms.colGroups;
    let lane = i32(localIndex);
    let lc = lane % ${l.lanesC};
    let lr = lane / ${l.lanesC};
    let q = (tile % uniforms.colGroups) * ${l.lanesC} + lc;
    // no early return: every lane must reach the barriers
    let inside = chunk < uniforms.chunks && q < groups && lr < ${l.lanesR};
    let r0 = chunk * uniforms.chunkRows;
    let r1 = select(r0, min(uniforms.rows, r0 + uniforms.chunkRows), inside);
    var a1 = ${zero(l.comp)};
    var a2 = ${zero(l.comp)};
    for (var r = r0 + lr; r < r1; r += ${l.lanesR}) {
      ${read}
    }
    s1[lane] = a1;
    s2[lane] = a2;
    workgroupBarrier();
    if (lr == 0 && inside) {
      // the row lanes of this channel group, in order
      for (var k = 1; k < ${l.lanesR}; k++) {
        a1 += s1[k * ${l.lanesC} + lc];
        a2 += s2[k * ${l.lanesC} + lc];
      }
      result[chunk * groups + q] = a1;
      result[(uniforms.chunks + chunk) * groups + q] = a2;
    }
  }`,
  };
}

/** One channel's total over the chunks, turned into mean or variance (stats), dbeta or dgamma (grad). */
function finishProgram(l: Layout, kind: 'stats' | 'grad', which: 0 | 1): Program {
  const finish = kind === 'stats'
    ? (which === 0 ? 'result[c] = x[c] + t1 / n;' : 'let m = t1 / n; result[c] = max(0.0, t2 / n - m * m);')
    : (which === 0 ? 'result[c] = t1;' : 'result[c] = t2 * inverseSqrt(variance[c] + uniforms.epsilon);');
  const second = kind === 'stats' ? 'x' : 'variance';
  const needsSecond = (kind === 'stats') === (which === 0);
  return {
    outputShape: [l.ch], shaderKey: `expBnFinish_${kind}_${which}`, dispatchLayout: { x: [0] },
    // only the inputs the WGSL reads: the pipeline's layout leaves out unused bindings
    dispatch: flatDispatch([l.ch], 1), variableNames: needsSecond ? ['partials', second] : ['partials'],
    variableComponents: needsSecond ? [1, 1] : [1], outputComponent: 1, workgroupSize: [64, 1, 1], size: true,
    uniforms: 'chunks : i32, n : f32, epsilon : f32,',
    getUserCode: () => `
  fn main(index : i32) {
    if (index >= uniforms.size) { return; }
    let c = index;
    let C = uniforms.size;
    var t1 = 0.0;
    var t2 = 0.0;
    for (var k = 0; k < uniforms.chunks; k++) {
      t1 += partials[k * C + c];
      t2 += partials[(uniforms.chunks + k) * C + c];
    }
    let n = uniforms.n;
    ${finish}
  }`,
  };
}

/** y = (x - mean) * gamma / sqrt(variance + eps) + beta, or the input gradient (grad); `affine`:
 * gamma (and beta) are given. */
function applyProgram(l: Layout, kind: 'stats' | 'grad', affine: boolean): Program {
  const names = kind === 'stats' ? ['x', 'mean', 'variance'] : ['dy', 'x', 'mean', 'variance', 'dbeta', 'dgamma'];
  if (affine) names.push(...(kind === 'stats' ? ['gamma', 'beta'] : ['gamma']));
  const gamma = affine ? 'gamma[q]' : '1.0';
  const body = kind === 'stats'
    ? `let s = ${gamma} * inverseSqrt(variance[q] + uniforms.epsilon);
    result[index] = (x[index] - mean[q]) * s + ${affine ? 'beta[q]' : '0.0'};`
    : `let rstd = inverseSqrt(variance[q] + uniforms.epsilon);
    result[index] = ${gamma} * rstd * (dy[index] - dbeta[q] / uniforms.n - (x[index] - mean[q]) * (dgamma[q] * rstd / uniforms.n));`;
  return {
    outputShape: [l.rows, l.ch], shaderKey: `expBnApply_${kind}_${l.comp}_${affine}`, dispatchLayout: { x: [0, 1] },
    dispatch: flatDispatch([l.rows, l.ch], l.comp), variableNames: names, variableComponents: names.map(() => l.comp),
    outputComponent: l.comp, workgroupSize: [64, 1, 1], size: true, uniforms: 'n : f32, epsilon : f32,',
    getUserCode: () => `
  fn main(index : i32) {
    if (index >= uniforms.size) { return; }
    let q = index % (uniforms.outShape[1] / ${l.comp});
    ${body}
  }`,
  };
}

type Args = { inputs: Record<string, tf.TensorInfo | undefined>; attrs: Record<string, unknown>; backend: WebgpuBackendLike & {
  disposeData(id: object): void;
} };

function check(name: string, x: tf.TensorInfo | undefined, ...perChannel: (tf.TensorInfo | undefined)[]): tf.TensorInfo {
  const ch = x?.shape[x.shape.length - 1] ?? 0;
  const ok = x && x.shape.length >= 2 && ch > 0 && [x, ...perChannel].every((t) => !t || t.dtype === 'float32')
    && perChannel.every((t) => !t || tf.util.sizeFromShape(t.shape) === ch);
  if (!ok) throw new Error(`${name} on webgpu: needs float32 x with channels last and [C] operands, got [${x?.shape}]`);
  return x!;
}

const flat = (t: tf.TensorInfo, l: Layout): tf.TensorInfo => ({ ...t, shape: [l.rows, l.ch] });
const vecOf = (t: tf.TensorInfo): tf.TensorInfo => ({ ...t, shape: [tf.util.sizeFromShape(t.shape)] });

function train({ inputs: { x: x0, gamma, beta }, attrs, backend }: Args): tf.TensorInfo[] {
  const x = check(BATCH_NORM_TRAIN, x0, gamma, beta);
  refuseFusedActivation(BATCH_NORM_TRAIN, 'webgpu', attrs);
  const l = layout(x.shape);
  const eps = attrs.epsilon as number;
  const xf = flat(x, l);
  const parts = backend.runWebGPUProgram(partialsProgram(l, 'stats'), [xf], 'float32', [
    { type: 'int32', data: [l.rows] }, { type: 'int32', data: [l.chunkRows] }, { type: 'int32', data: [l.chunks] },
    { type: 'int32', data: [Math.ceil(l.ch / l.comp / l.lanesC)] }]);
  const fin = [{ type: 'int32' as const, data: [l.chunks] }, { type: 'float32' as const, data: [l.rows] }, { type: 'float32' as const, data: [eps] }];
  const mean = backend.runWebGPUProgram(finishProgram(l, 'stats', 0), [parts, xf], 'float32', fin);
  const variance = backend.runWebGPUProgram(finishProgram(l, 'stats', 1), [parts], 'float32', fin);
  backend.disposeData(parts.dataId);
  const affine = !!gamma && !!beta;
  const ins = [xf, mean, variance, ...(affine ? [vecOf(gamma!), vecOf(beta!)] : [])];
  const y = backend.runWebGPUProgram(applyProgram(l, 'stats', affine), ins, 'float32',
    [{ type: 'float32', data: [l.rows] }, { type: 'float32', data: [eps] }]);
  return [{ ...y, shape: x.shape }, mean, variance];
}

function grad({ inputs: { dy, x: x0, mean, variance, gamma }, attrs, backend }: Args): tf.TensorInfo[] {
  const x = check(BATCH_NORM_GRAD, x0, mean, variance, gamma);
  refuseFusedActivation(BATCH_NORM_GRAD, 'webgpu', attrs);
  if (!dy || !mean || !variance || !tf.util.arraysEqual(dy.shape, x.shape)) {
    throw new Error(`${BATCH_NORM_GRAD} on webgpu: needs dy of x's shape, mean and variance`);
  }
  const l = layout(x.shape);
  const eps = attrs.epsilon as number;
  const [dyf, xf, m, v] = [flat(dy, l), flat(x, l), vecOf(mean), vecOf(variance)];
  const parts = backend.runWebGPUProgram(partialsProgram(l, 'grad'), [dyf, xf, m], 'float32', [
    { type: 'int32', data: [l.rows] }, { type: 'int32', data: [l.chunkRows] }, { type: 'int32', data: [l.chunks] },
    { type: 'int32', data: [Math.ceil(l.ch / l.comp / l.lanesC)] }]);
  const fin = [{ type: 'int32' as const, data: [l.chunks] }, { type: 'float32' as const, data: [l.rows] }, { type: 'float32' as const, data: [eps] }];
  const dbeta = backend.runWebGPUProgram(finishProgram(l, 'grad', 0), [parts], 'float32', fin);
  const dgamma = backend.runWebGPUProgram(finishProgram(l, 'grad', 1), [parts, v], 'float32', fin);
  backend.disposeData(parts.dataId);
  const ins = [dyf, xf, m, v, dbeta, dgamma, ...(gamma ? [vecOf(gamma)] : [])];
  const dx = backend.runWebGPUProgram(applyProgram(l, 'grad', !!gamma), ins, 'float32',
    [{ type: 'float32', data: [l.rows] }, { type: 'float32', data: [eps] }]);
  return [{ ...dx, shape: x.shape }, dgamma, dbeta];
}

export const batchNormWebgpuKernels: KernelConfig[] = [
  { kernelName: BATCH_NORM_TRAIN, backendName: 'webgpu', kernelFunc: train as unknown as KernelFunc },
  { kernelName: BATCH_NORM_GRAD, backendName: 'webgpu', kernelFunc: grad as unknown as KernelFunc },
];

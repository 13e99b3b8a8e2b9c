// The fused batch-norm training kernels (see batch-norm-train.ts) for plain wasm: one pass in JS
// over the wasm heap for the per-channel sums (float64), one for the output. tfjs' own chain runs a
// Tile, Sums over transposes and a dozen element-wise kernels per layer, single-threaded (about a
// third of a resnet18 step on wasm). Same formulas as the native addon's (native/batchnorm.cc); the
// native backend registers its kernels over these. They do not fuse an activation: on plain wasm
// the layer applies it after them with wasm's own SIMD kernels, faster than a JS loop over the same
// values (efficientnet_b0's swish fused in JS trained at 6 images/s against 10 apart).
import type { KernelConfig, KernelFunc } from '@tensorflow/tfjs';
import { tf } from '../tf.ts';
import { f32Heap, off } from './conv2d-grad.ts';
import { BATCH_NORM_GRAD, BATCH_NORM_TRAIN, refuseFusedActivation } from './batch-norm-names.ts';
import type { BackendWasm, TensorInfo } from './wasm-util.ts';

type Args = { inputs: Record<string, TensorInfo | undefined>; attrs: Record<string, unknown>; backend: BackendWasm };

/** Channels of x (last axis), checking the per-channel operands. */
export function batchNormChannels(x: TensorInfo | undefined, ...perChannel: (TensorInfo | undefined)[]): number {
  const ch = x && x.shape.length >= 1 ? x.shape[x.shape.length - 1] : 0;
  const ok = [x, ...perChannel].every((t) => !t || t.dtype === 'float32')
    && ch > 0 && perChannel.every((t) => !t || tf.util.sizeFromShape(t.shape) === ch);
  if (!ok) throw new Error(`batch norm kernels: need float32 x with channels last and [C] operands, got ${JSON.stringify(x?.shape)}`);
  return ch;
}

function train({ inputs: { x, gamma, beta }, attrs, backend }: Args): TensorInfo[] {
  refuseFusedActivation(BATCH_NORM_TRAIN, 'wasm', attrs);
  const ch = batchNormChannels(x, gamma, beta);
  const rows = tf.util.sizeFromShape(x!.shape) / ch;
  const eps = attrs.epsilon as number;
  const y = backend.makeOutput(x!.shape, 'float32');
  const mean = backend.makeOutput([ch], 'float32'), variance = backend.makeOutput([ch], 'float32');
  const heap = f32Heap(backend); // after the last allocation
  const xo = off(backend, x!), yo = off(backend, y);
  const s1 = new Float64Array(ch), s2 = new Float64Array(ch);
  for (let r = 0, i = xo; r < rows; r++) {
    for (let c = 0; c < ch; c++, i++) {
      const v = heap[i];
      s1[c] += v;
      s2[c] += v * v;
    }
  }
  const a = new Float32Array(ch), b = new Float32Array(ch);
  const mo = off(backend, mean), vo = off(backend, variance);
  const go = gamma ? off(backend, gamma) : -1, bo = beta ? off(backend, beta) : -1;
  for (let c = 0; c < ch; c++) {
    const m = s1[c] / rows, v = Math.max(0, s2[c] / rows - m * m);
    heap[mo + c] = m;
    heap[vo + c] = v;
    const scale = (go >= 0 ? heap[go + c] : 1) / Math.sqrt(v + eps);
    a[c] = scale;
    b[c] = (bo >= 0 ? heap[bo + c] : 0) - m * scale;
  }
  for (let r = 0, i = 0; r < rows; r++) {
    for (let c = 0; c < ch; c++, i++) heap[yo + i] = heap[xo + i] * a[c] + b[c];
  }
  return [y, mean, variance];
}

function grad({ inputs: { dy, x, mean, variance, gamma }, attrs, backend }: Args): TensorInfo[] {
  refuseFusedActivation(BATCH_NORM_GRAD, 'wasm', attrs);
  const ch = batchNormChannels(x, mean, variance, gamma);
  if (!dy || !mean || !variance || !tf.util.arraysEqual(dy.shape, x!.shape)) {
    throw new Error('batch norm gradient: needs dy of x\'s shape, mean and variance');
  }
  const rows = tf.util.sizeFromShape(x!.shape) / ch;
  const eps = attrs.epsilon as number;
  const dx = backend.makeOutput(x!.shape, 'float32');
  const dgamma = backend.makeOutput([ch], 'float32'), dbeta = backend.makeOutput([ch], 'float32');
  const heap = f32Heap(backend);
  const dyo = off(backend, dy), xo = off(backend, x!), dxo = off(backend, dx);
  const m = heap.slice(off(backend, mean), off(backend, mean) + ch);
  const s1 = new Float64Array(ch), s2 = new Float64Array(ch);
  for (let r = 0, i = 0; r < rows; r++) {
    for (let c = 0; c < ch; c++, i++) {
      const d = heap[dyo + i];
      s1[c] += d;
      s2[c] += d * (heap[xo + i] - m[c]);
    }
  }
  const a = new Float32Array(ch), b = new Float32Array(ch), k = new Float32Array(ch);
  const vo = off(backend, variance), go = gamma ? off(backend, gamma) : -1;
  const gg = off(backend, dgamma), gb = off(backend, dbeta);
  for (let c = 0; c < ch; c++) {
    const rstd = 1 / Math.sqrt(heap[vo + c] + eps);
    heap[gb + c] = s1[c];
    heap[gg + c] = s2[c] * rstd;
    a[c] = (go >= 0 ? heap[go + c] : 1) * rstd;
    b[c] = s1[c] / rows;
    k[c] = s2[c] / rows * rstd * rstd;
  }
  for (let r = 0, i = 0; r < rows; r++) {
    for (let c = 0; c < ch; c++, i++) heap[dxo + i] = a[c] * (heap[dyo + i] - b[c] - (heap[xo + i] - m[c]) * k[c]);
  }
  return [dx, dgamma, dbeta];
}

export const batchNormWasmKernels: KernelConfig[] = [
  { kernelName: BATCH_NORM_TRAIN, backendName: 'wasm', kernelFunc: train as unknown as KernelFunc },
  { kernelName: BATCH_NORM_GRAD, backendName: 'wasm', kernelFunc: grad as unknown as KernelFunc },
];

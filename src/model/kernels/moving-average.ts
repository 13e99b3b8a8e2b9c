// Batch norm's moving-average update of its two statistics in one kernel call on the wasm heap
// (wasm and native): moving - (moving - batch) * (1 - momentum) for the mean and the variance,
// each step rounded to float32 as tfjs' Sub, Multiply and Sub kernels round it, so the values are
// theirs bit for bit. tfjs' form is three kernels, a scalar upload and two tidy scopes per
// statistic: about 320 of a se_resnext50 step's 2,400 kernel calls, each on a few hundred values.
// Other backends keep that form.
import type { KernelConfig, KernelFunc } from '@tensorflow/tfjs';
import { tf } from '../tf.ts';
import { f32Heap, off } from './conv2d-grad.ts';
import type { BackendWasm, TensorInfo } from './wasm-util.ts';

export const MOVING_AVERAGE = 'ExpMovingAverage';

function movingAverageKernel({ inputs: { movingMean, mean, movingVariance, variance }, attrs, backend }:
  { inputs: Record<string, TensorInfo | undefined>; attrs: Record<string, unknown>; backend: BackendWasm }): TensorInfo[] {
  const ts = [movingMean, mean, movingVariance, variance];
  const n = movingMean ? tf.util.sizeFromShape(movingMean.shape) : -1;
  if (!ts.every((t) => t && t.dtype === 'float32' && tf.util.sizeFromShape(t.shape) === n)) {
    throw new Error(`${MOVING_AVERAGE}: needs four float32 tensors of one size, got ${ts.map((t) => t && `${t.dtype} [${t.shape}]`)}`);
  }
  const outs = [backend.makeOutput(movingMean!.shape, 'float32'), backend.makeOutput(movingVariance!.shape, 'float32')];
  const heap = f32Heap(backend); // after the last allocation
  const decay = Math.fround(attrs.decay as number); // tfjs makes 1 - momentum a float32 scalar
  for (const [moving, value, out] of [[movingMean!, mean!, outs[0]], [movingVariance!, variance!, outs[1]]] as const) {
    const mo = off(backend, moving), vo = off(backend, value), oo = off(backend, out);
    for (let i = 0; i < n; i++) {
      const m = heap[mo + i];
      heap[oo + i] = m - Math.fround(Math.fround(m - heap[vo + i]) * decay);
    }
  }
  return outs;
}

export const movingAverageKernels: KernelConfig[] = [
  { kernelName: MOVING_AVERAGE, backendName: 'wasm', kernelFunc: movingAverageKernel as unknown as KernelFunc },
];

/**
 * The updated moving statistics, moving - (moving - batch) * (1 - momentum) each: one kernel where
 * the backend has it, tfjs' Sub/Multiply/Sub otherwise. The caller writes them to the variables.
 */
export function movingAverages(movingMean: tf.Tensor, mean: tf.Tensor, movingVariance: tf.Tensor, variance: tf.Tensor,
  momentum: number): [tf.Tensor, tf.Tensor] {
  const all = [movingMean, mean, movingVariance, variance];
  if (tf.getKernel(MOVING_AVERAGE, tf.getBackend()) && all.every((t) => t.dtype === 'float32')) {
    const [m, v] = tf.engine().runKernel(MOVING_AVERAGE, { movingMean, mean, movingVariance, variance },
      { decay: 1 - momentum }) as tf.Tensor[];
    return [m, v];
  }
  return tf.tidy(() => [
    tf.sub(movingMean, tf.mul(tf.sub(movingMean, mean), 1 - momentum)),
    tf.sub(movingVariance, tf.mul(tf.sub(movingVariance, variance), 1 - momentum)),
  ]);
}

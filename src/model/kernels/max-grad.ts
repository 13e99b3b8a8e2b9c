// The gradient of Max and Min (global max pooling in the concat head, tf.max/tf.min) in one pass
// on the wasm heap. tfjs differentiates them as dy * cast(equal(x, y)) with y and dy in x's rank
// (reduced axes kept as 1): wasm runs that broadcasting Equal element by element through its
// general index loop, 32 ms for a se_resnext50 head's 16x4x4x2048 features, a tenth of the model's
// step beside convolutions 400 times its work. ExpReduceMaxGrad {x, y, dy} computes the same
// product per element (dy * 1 where x equals its reduced value, dy * 0 elsewhere, ties all
// receiving dy as in tfjs), so the values are tfjs' bit for bit, -0 and NaN included. Backends
// without the kernel (cpu, webgpu) keep tfjs' formula. (Neither form has a second derivative:
// tfjs has no gradient for Equal.)
import type { KernelConfig, KernelFunc } from '@tensorflow/tfjs';
import { tf } from '../tf.ts';
import { f32Heap, off } from './conv2d-grad.ts';
import type { BackendWasm, TensorInfo } from './wasm-util.ts';

export const REDUCE_MAX_GRAD = 'ExpReduceMaxGrad';

/**
 * dx[i] = dy[r(i)] * (x[i] == y[r(i)] ? 1 : 0), r(i) the index of i's reduced element: y and dy
 * have x's rank with 1 on the reduced axes.
 */
function reduceMaxGrad({ inputs: { x, y, dy }, backend }: { inputs: Record<string, TensorInfo | undefined>; backend: BackendWasm }): TensorInfo {
  const shape = x!.shape;
  const rank = shape.length;
  const ok = [x, y, dy].every((t) => t && t.dtype === 'float32') && y!.shape.length === rank
    && tf.util.arraysEqual(y!.shape, dy!.shape) && y!.shape.every((d, i) => d === 1 || d === shape[i]);
  if (!ok) {
    throw new Error(`${REDUCE_MAX_GRAD}: needs float32 x and y, dy of x's rank with reduced axes 1, got `
      + `x [${x?.shape}] y [${y?.shape}] dy [${dy?.shape}]`);
  }
  const dx = backend.makeOutput(shape, 'float32');
  const n = tf.util.sizeFromShape(shape);
  if (n === 0) return dx;
  const heap = f32Heap(backend); // after the last allocation
  const xo = off(backend, x!), yo = off(backend, y!), go = off(backend, dy!), oo = off(backend, dx);
  // the reduced tensor's stride along each of x's axes (0 where the axis is reduced)
  const ys = (rank ? [...tf.util.computeStrides(y!.shape), 1] : []).map((s, i) => (y!.shape[i] === 1 ? 0 : s));
  const inner = rank ? shape[rank - 1] : 1, innerStride = rank ? ys[rank - 1] : 0;
  const idx = new Array<number>(Math.max(rank - 1, 0)).fill(0);
  let base = 0; // reduced index of the current row's first element
  for (let i = 0; i < n; i += inner) {
    for (let j = 0, r = base; j < inner; j++, r += innerStride) {
      const g = heap[go + r];
      heap[oo + i + j] = g * (heap[xo + i + j] === heap[yo + r] ? 1 : 0);
    }
    // next row: odometer over the outer axes
    for (let a = rank - 2; a >= 0; a--) {
      idx[a]++;
      base += ys[a];
      if (idx[a] < shape[a]) break;
      base -= ys[a] * shape[a];
      idx[a] = 0;
    }
  }
  return dx;
}

export const maxGradKernels: KernelConfig[] = [
  { kernelName: REDUCE_MAX_GRAD, backendName: 'wasm', kernelFunc: reduceMaxGrad as unknown as KernelFunc },
];

/** tfjs' Max/Min gradient with y and dy reshaped to x's rank, through the kernel where the backend has it. */
function minMaxGrad(kernelName: 'Max' | 'Min'): tf.GradConfig {
  return {
    kernelName,
    inputsToSave: ['x'],
    outputsToSave: [true],
    gradFunc: (dyIn: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs?: tf.NamedAttrMap) => {
      const [x, yIn] = saved;
      const dy0 = Array.isArray(dyIn) ? dyIn[0] : dyIn;
      // Max names its axes reductionIndices, Min axis
      const axes = tf.util.parseAxisParam((kernelName === 'Max' ? attrs!.reductionIndices : attrs!.axis) as number | number[], x.shape);
      const kept = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
      return {
        x: () => {
          const y = tf.reshape(yIn, kept), dy = tf.reshape(dy0, kept);
          if (tf.getKernel(REDUCE_MAX_GRAD, tf.getBackend()) && x.dtype === 'float32' && dy.dtype === 'float32') {
            return tf.engine().runKernel(REDUCE_MAX_GRAD, { x, y, dy }, {}) as tf.Tensor;
          }
          return tf.mul(dy, tf.cast(tf.equal(x, y), dy.dtype));
        },
      };
    },
  };
}

export const minMaxGradConfigs = [minMaxGrad('Max'), minMaxGrad('Min')];

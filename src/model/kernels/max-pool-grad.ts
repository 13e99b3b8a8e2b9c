// MaxPoolGrad for wasm (NHWC float32). wasm's own kernel gets padded windows wrong when the inputs
// are negative: it lets a padded position win (as if it held 0) and drops that window's gradient,
// while its forward MaxPool, the cpu backend and PyTorch skip padded positions. exp's padded
// pooling layer (layers/max-pool.ts) relies on those semantics, so this kernel follows the cpu
// backend exactly: each output's gradient goes to the first maximum of its window (row-major) among
// positions inside the input. One pass over the windows in JS on the wasm heap (the native backend
// replaces it with oneDNN's).
import type { KernelConfig, KernelFunc } from '@tensorflow/tfjs';
import { tf } from '../tf.ts';
import { f32Heap, off } from './conv2d-grad.ts';
import { alloc, type BackendWasm, type TensorInfo } from './wasm-util.ts';

type Args = { inputs: Record<string, TensorInfo>; attrs: Record<string, unknown>; backend: BackendWasm };

function maxPoolGrad({ inputs: { dy, input }, attrs, backend }: Args): TensorInfo {
  const info = tf.backend_util.computePool2DInfo(input.shape as [number, number, number, number],
    attrs.filterSize as number, attrs.strides as number, 1, attrs.pad as 'same', attrs.dimRoundingMode as 'floor');
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: c, outHeight: oh, outWidth: ow,
    filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw, padInfo: { top, left } } = info;
  const dx = alloc(backend, input.shape, true);
  const heap = f32Heap(backend); // after the last allocation
  const xOff = off(backend, input), dyOff = off(backend, dy), dxOff = off(backend, dx);
  // per output pixel, the window's positions in row-major order, all channels at once
  const best = new Float32Array(c), at = new Int32Array(c);
  for (let b = 0; b < n; b++) for (let i = 0; i < oh; i++) {
    const y0 = Math.max(0, i * sh - top), y1 = Math.min(h, i * sh - top + kh);
    for (let j = 0; j < ow; j++) {
      const x0 = Math.max(0, j * sw - left), x1 = Math.min(w, j * sw - left + kw);
      if (y0 >= y1 || x0 >= x1) continue;
      at.fill(-1);
      for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) {
        const p = ((b * h + y) * w + x) * c;
        for (let ch = 0; ch < c; ch++) {
          const v = heap[xOff + p + ch];
          if (v > best[ch] || at[ch] < 0) { best[ch] = v; at[ch] = p + ch; }
        }
      }
      const g = dyOff + ((b * oh + i) * ow + j) * c;
      for (let ch = 0; ch < c; ch++) heap[dxOff + at[ch]] += heap[g + ch];
    }
  }
  return dx;
}

export const maxPoolGradKernels: KernelConfig[] = [
  { kernelName: 'MaxPoolGrad', backendName: 'wasm', kernelFunc: maxPoolGrad as unknown as KernelFunc },
];

// Our kernels for the wasm backend: the gradients it lacks (tfjs issue #8474) and a faster
// Conv2DBackpropInput. Registered by backend.ts when wasm is selected.
import type { KernelConfig } from '@tensorflow/tfjs';
import { tf } from '../tf.ts';
import { conv2dGradKernels } from './conv2d_grad.ts';
import { depthwiseGradKernels } from './depthwise_grad.ts';
import { batchMatMulT } from './matmul_t.ts';
import { segmentSumKernels } from './segment_sum.ts';

/** wasm's own kernels that ours replaced (Conv2DBackpropInput, BatchMatMul), kept for
 * bench/kernels.ts and for BatchMatMul, which calls wasm's own on its fast path. */
export const replacedWasmKernels = new Map<string, KernelConfig>();

export const wasmGradKernels: KernelConfig[] = [...conv2dGradKernels, ...depthwiseGradKernels, ...segmentSumKernels,
  batchMatMulT(() => replacedWasmKernels.get('BatchMatMul'))];

/** Register (or re-register after someone replaced them) our wasm kernels. Idempotent. */
export function registerWasmGradKernels(): string[] {
  for (const k of wasmGradKernels) {
    const current = tf.getKernel(k.kernelName, 'wasm');
    if (current?.kernelFunc === k.kernelFunc) continue;
    // replacing wasm's own kernel: unregister first, which registerKernel would warn about
    if (current) {
      if (!replacedWasmKernels.has(k.kernelName)) replacedWasmKernels.set(k.kernelName, current);
      tf.unregisterKernel(k.kernelName, 'wasm');
    }
    tf.registerKernel(k);
  }
  return wasmGradKernels.map((k) => k.kernelName);
}

// Our kernels for the wasm backend: the gradients it lacks (tfjs issue #8474), a faster
// Conv2DBackpropInput, a MaxPoolGrad that skips padded positions (max-pool-grad.ts), Max/Min's
// gradient in one pass (max-grad.ts), the fused batch-norm training kernels (batch-norm-wasm.ts),
// batch norm's moving-average update in one call (moving-average.ts), and Identity/Cast that share
// memory instead of copying (share.ts).
// Registered by backend.ts when wasm (or native, which runs on wasm) is selected.
import type { KernelConfig } from '@tensorflow/tfjs';
import { tf } from '../tf.ts';
import { conv2dGradKernels } from './conv2d-grad.ts';
import { depthwiseGradKernels } from './depthwise-grad.ts';
import { batchMatMulT } from './matmul-t.ts';
import { batchNormWasmKernels } from './batch-norm-wasm.ts';
import { maxPoolGradKernels } from './max-pool-grad.ts';
import { maxGradKernels } from './max-grad.ts';
import { movingAverageKernels } from './moving-average.ts';
import { segmentSumKernels } from './segment-sum.ts';
import { shareKernels } from './share.ts';

/** wasm's own kernels that ours replaced (Conv2DBackpropInput, BatchMatMul, MaxPoolGrad, Identity, Cast), kept
 * for bench/kernels.ts, for BatchMatMul, which calls wasm's own on its fast path, and for
 * Identity/Cast, which leave strings and real conversions to wasm's. */
export const replacedWasmKernels = new Map<string, KernelConfig>();

export const wasmGradKernels: KernelConfig[] = [...conv2dGradKernels, ...depthwiseGradKernels, ...segmentSumKernels,
  ...maxPoolGradKernels, ...maxGradKernels, ...movingAverageKernels, ...batchNormWasmKernels,
  batchMatMulT(() => replacedWasmKernels.get('BatchMatMul')),
  ...shareKernels((name) => replacedWasmKernels.get(name))];

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

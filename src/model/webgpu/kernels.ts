// exp's kernels for tfjs' webgpu backend: the grouped convolution and its gradients
// (group-conv.ts) and the fused batch-norm training op (batch-norm.ts). Registered by index.ts when the webgpu backend loads.
import type { KernelConfig } from '@tensorflow/tfjs';
import { tf } from '../tf.ts';
import { batchNormWebgpuKernels } from './batch-norm.ts';
import { groupConvKernels } from './group-conv.ts';

export const webgpuKernels: KernelConfig[] = [...groupConvKernels, ...batchNormWebgpuKernels];

/** Register exp's webgpu kernels. Idempotent. */
export function registerWebgpuKernels(): string[] {
  for (const k of webgpuKernels) {
    const current = tf.getKernel(k.kernelName, 'webgpu');
    if (current?.kernelFunc === k.kernelFunc) continue;
    if (current) tf.unregisterKernel(k.kernelName, 'webgpu');
    tf.registerKernel(k);
  }
  return webgpuKernels.map((k) => k.kernelName);
}

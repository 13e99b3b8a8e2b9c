// exp's fused Adam/AdamW step as one kernel per parameter, for the backends that register it
// (native: the oneDNN addon's element-wise loop, native.ts). Inputs {w, g, m, v} (float32, one
// shape), attrs {beta1, beta2, epsilon, lr, step, weightDecay, decoupled}; outputs [w', m', v'] by
// PyTorch's rule as optimizers.ts writes it with ops:
//   (AdamW: w *= 1 - lr*wd; Adam: g += wd*w)
//   m' = b1*m + (1-b1)*g;  v' = b2*v + (1-b2)*g^2
//   w' = w - lr/bc1 * m' / (sqrt(v')/sqrt(bc2) + eps), bc_i = 1 - b_i^step
// Elsewhere the optimizer runs that chain of about twelve kernels per parameter.
import { tf } from '../tf.ts';

export const ADAM_UPDATE = 'ExpAdamUpdate';

export interface AdamAttrs {
  beta1: number; beta2: number; epsilon: number; lr: number; step: number;
  weightDecay: number; decoupled: boolean;
}

/** Whether the active backend has the fused Adam kernel. */
export function fusedAdamAvailable(): boolean {
  return !!tf.getKernel(ADAM_UPDATE, tf.getBackend());
}

/** The scalars of one step, as the op chain rounds them (float32 scalars from doubles). */
export function adamScalars(a: AdamAttrs): { b1: number; c1: number; b2: number; c2: number; sqrtBc2: number;
  eps: number; step: number; wdMode: number; wdFactor: number } {
  const bc1 = 1 - Math.pow(a.beta1, a.step), bc2 = 1 - Math.pow(a.beta2, a.step);
  const wdMode = a.weightDecay === 0 ? 0 : a.decoupled ? 2 : 1;
  return { b1: a.beta1, c1: 1 - a.beta1, b2: a.beta2, c2: 1 - a.beta2, sqrtBc2: Math.sqrt(bc2), eps: a.epsilon,
    step: a.lr / bc1, wdMode, wdFactor: wdMode === 2 ? 1 - a.lr * a.weightDecay : a.weightDecay };
}

/** [w', m', v'] through the fused kernel; undefined where the backend lacks it or a tensor is not float32. */
export function fusedAdamUpdate(w: tf.Tensor, g: tf.Tensor, m: tf.Tensor, v: tf.Tensor, a: AdamAttrs): tf.Tensor[] | undefined {
  if (!fusedAdamAvailable() || [w, g, m, v].some((t) => t.dtype !== 'float32')) return undefined;
  return tf.engine().runKernel(ADAM_UPDATE, { w, g, m, v }, a as unknown as tf.NamedAttrMap) as tf.Tensor[];
}

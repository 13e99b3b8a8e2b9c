// Names of exp's fused batch-norm kernels (batch-norm-train.ts uses them; wasm registers JS
// versions of the training pair, batch-norm-wasm.ts, and the native backend the addon's,
// native.ts; only the addon's apply an activation). The training forward takes {x, gamma, beta} and returns [y, mean, variance]; its
// gradient takes {dy, x, mean, variance, gamma, beta} and returns [dx, dgamma, dbeta]; both have
// attrs {epsilon, activation?}, x is seen as [rows, C] over its last axis, and gamma/beta are [C]
// (optional). `activation` (relu, relu6 or swish; absent: none) is applied to the normalised value
// in the same pass, and the gradient goes through it (recomputing the normalised value from x).
// The inference form (native only) takes {x, mean, variance, offset, scale} with attrs {epsilon,
// activation?}: tfjs' FusedBatchNorm followed by the activation, in one pass.
export const BATCH_NORM_TRAIN = 'ExpBatchNormTrain';
export const BATCH_NORM_GRAD = 'ExpBatchNormTrainGrad';
export const BATCH_NORM_INFER = 'ExpBatchNormInfer';

/** The activations the fused kernels apply. */
export type BatchNormActivation = 'relu' | 'relu6' | 'swish';
export const BATCH_NORM_ACTIVATIONS: readonly BatchNormActivation[] = ['relu', 'relu6', 'swish'];

/** For the training kernels that do not fuse an activation (plain wasm's JS ones, webgpu's): the
 * layer applies it after them there, so an `activation` attribute is a caller's mistake. */
export function refuseFusedActivation(kernel: string, backend: string, attrs: Record<string, unknown>): void {
  if (attrs.activation !== undefined) throw new Error(`${kernel} on ${backend}: no fused activation (${String(attrs.activation)})`);
}

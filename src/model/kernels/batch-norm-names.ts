// Names of exp's fused batch-norm training kernels (batch-norm-train.ts uses them; wasm registers
// JS versions, batch-norm-wasm.ts, and the native backend the addon's, native.ts). The forward
// takes {x, gamma, beta} and returns [y, mean, variance]; the gradient takes {dy, x, mean,
// variance, gamma} and returns [dx, dgamma, dbeta]; both have attrs {epsilon}, x is seen as
// [rows, C] over its last axis, and gamma/beta are [C] (optional).
export const BATCH_NORM_TRAIN = 'ExpBatchNormTrain';
export const BATCH_NORM_GRAD = 'ExpBatchNormTrainGrad';

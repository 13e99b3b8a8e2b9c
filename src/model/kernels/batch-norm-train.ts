// Batch normalisation in training as one op with its own gradient, on wasm and native: the
// forward (statistics + normalisation) and the gradient (through x, gamma and beta, the batch
// statistics included) are one kernel each (batch-norm-names.ts; JS on the wasm heap in
// batch-norm-wasm.ts, the oneDNN addon's in native.ts). tfjs' layer builds the same from moments
// and batchNorm and differentiates it op by op: about twenty kernels, tape entries and saved
// tensors per layer and step. Backends without the kernels (cpu, tensorflow) keep tfjs' path (the
// layer falls back when this returns undefined); the kernel tests compare the two.
import { tf } from '../tf.ts';
import { BATCH_NORM_GRAD, BATCH_NORM_INFER, BATCH_NORM_TRAIN, type BatchNormActivation } from './batch-norm-names.ts';

/** Whether the fused kernels are registered for the active backend (wasm, native). */
export function fusedBatchNormAvailable(): boolean {
  const b = tf.getBackend();
  return !!tf.getKernel(BATCH_NORM_TRAIN, b) && !!tf.getKernel(BATCH_NORM_GRAD, b);
}

/** Whether the fused training kernels here also apply an activation: the addon's (native) do;
 * plain wasm's JS ones and webgpu's do not, and the layer applies the activation after them. */
export function fusedActivationAvailable(): boolean {
  return fusedBatchNormAvailable() && fusedBatchNormInferenceAvailable();
}

/**
 * y = act((x - mean) / sqrt(variance + epsilon) * gamma + beta) over the last axis, with the
 * batch's mean and biased variance, which `onStats` receives (inside the op: for the moving
 * averages; they carry no gradient); `activation` only where fusedActivationAvailable(). Undefined
 * when the fused kernels are not available here or x is not float32.
 */
export function fusedBatchNormTraining(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, epsilon: number,
  onStats: (mean: tf.Tensor, variance: tf.Tensor) => void, activation?: BatchNormActivation): tf.Tensor | undefined {
  if (!fusedBatchNormAvailable() || x.dtype !== 'float32' || x.rank < 2) return undefined;
  if (activation && !fusedActivationAvailable()) throw new Error(`${BATCH_NORM_TRAIN} on ${tf.getBackend()}: no fused activation`);
  const attrs: Record<string, number | string> = { epsilon };
  if (activation) attrs.activation = activation;
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xi, g, b] = args as tf.Tensor[];
    const save = args[3] as tf.GradSaveFunc;
    const [y, mean, variance] = tf.engine().runKernel(BATCH_NORM_TRAIN, { x: xi, gamma: g, beta: b },
      attrs) as tf.Tensor[];
    onStats(mean, variance);
    save([xi, mean, variance, g, b]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sx, sm, sv, sg, sb] = saved;
        return tf.engine().runKernel(BATCH_NORM_GRAD, { dy, x: sx, mean: sm, variance: sv, gamma: sg, beta: sb },
          attrs) as tf.Tensor[];
      },
    };
  });
  return op(x, gamma, beta);
}

/** Whether this backend has the one-pass inference form with an activation (native). */
export function fusedBatchNormInferenceAvailable(): boolean {
  return !!tf.getKernel(BATCH_NORM_INFER, tf.getBackend());
}

/** act(batchNorm(x)) with the moving statistics in one pass (no gradient: for inference only). */
export function fusedBatchNormInference(x: tf.Tensor, mean: tf.Tensor, variance: tf.Tensor, offset: tf.Tensor | undefined,
  scale: tf.Tensor | undefined, epsilon: number, activation: BatchNormActivation): tf.Tensor {
  const inputs: Record<string, tf.Tensor> = { x, mean, variance };
  if (offset) inputs.offset = offset;
  if (scale) inputs.scale = scale;
  return tf.engine().runKernel(BATCH_NORM_INFER, inputs, { epsilon, activation }) as tf.Tensor;
}

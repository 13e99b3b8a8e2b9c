// Batch normalisation in training as one op with its own gradient, on wasm and native: the
// forward (statistics + normalisation) and the gradient (through x, gamma and beta, the batch
// statistics included) are one kernel each (batch-norm-names.ts; JS on the wasm heap in
// batch-norm-wasm.ts, the oneDNN addon's in native.ts). tfjs' layer builds the same from moments
// and batchNorm and differentiates it op by op: about twenty kernels, tape entries and saved
// tensors per layer and step. Backends without the kernels (cpu, tensorflow) keep tfjs' path (the
// layer falls back when this returns undefined); the kernel tests compare the two.
import { tf } from '../tf.ts';
import { BATCH_NORM_GRAD, BATCH_NORM_TRAIN } from './batch-norm-names.ts';

/** Whether the fused kernels are registered for the active backend (wasm, native). */
export function fusedBatchNormAvailable(): boolean {
  const b = tf.getBackend();
  return !!tf.getKernel(BATCH_NORM_TRAIN, b) && !!tf.getKernel(BATCH_NORM_GRAD, b);
}

/**
 * y = (x - mean) / sqrt(variance + epsilon) * gamma + beta over the last axis, with the batch's
 * mean and biased variance, which `onStats` receives (inside the op: for the moving averages; they
 * carry no gradient). Undefined when the fused kernels are not available here or x is not float32.
 */
export function fusedBatchNormTraining(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, epsilon: number,
  onStats: (mean: tf.Tensor, variance: tf.Tensor) => void): tf.Tensor | undefined {
  if (!fusedBatchNormAvailable() || x.dtype !== 'float32' || x.rank < 2) return undefined;
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xi, g, b] = args as tf.Tensor[];
    const save = args[3] as tf.GradSaveFunc;
    const [y, mean, variance] = tf.engine().runKernel(BATCH_NORM_TRAIN, { x: xi, gamma: g, beta: b },
      { epsilon }) as tf.Tensor[];
    onStats(mean, variance);
    save([xi, mean, variance, g]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sx, sm, sv, sg] = saved;
        return tf.engine().runKernel(BATCH_NORM_GRAD, { dy, x: sx, mean: sm, variance: sv, gamma: sg },
          { epsilon }) as tf.Tensor[];
      },
    };
  });
  return op(x, gamma, beta);
}

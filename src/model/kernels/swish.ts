// exp's fused swish (SiLU, EfficientNet's activation) as one op with its own gradient, for the
// backends that register its kernels (native: the oneDNN addon's element-wise loop, native.ts):
// ExpSwish {x} -> y = x * sigmoid(x); ExpSwishGrad {dy, x} -> dx = dy * s * (1 + x * (1 - s)),
// s = sigmoid(x). Elsewhere tfjs' composite (Sigmoid, Multiply and their gradients: about seven
// element-wise kernels over the activation per layer and step).
import { tf } from '../tf.ts';

export const SWISH = 'ExpSwish';
export const SWISH_GRAD = 'ExpSwishGrad';

/** Whether the active backend has both swish kernels. */
export function fusedSwishAvailable(): boolean {
  const b = tf.getBackend();
  return !!tf.getKernel(SWISH, b) && !!tf.getKernel(SWISH_GRAD, b);
}

/** x * sigmoid(x), through the fused kernels where the backend has them. */
export function swish(x: tf.Tensor): tf.Tensor {
  if (!fusedSwishAvailable() || x.dtype !== 'float32') return tf.tidy(() => tf.mul(x, tf.sigmoid(x)));
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const xi = args[0] as tf.Tensor;
    (args[1] as tf.GradSaveFunc)([xi]);
    return {
      value: tf.engine().runKernel(SWISH, { x: xi }, {}) as tf.Tensor,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.engine().runKernel(SWISH_GRAD, { dy, x: saved[0] }, {}) as tf.Tensor,
    };
  });
  return op(x);
}

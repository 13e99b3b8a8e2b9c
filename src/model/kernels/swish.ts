// exp's fused swish (SiLU, EfficientNet's activation) as one op with its own gradient, for the
// backends that register its kernels (native: the oneDNN addon's element-wise loop, native.ts):
// ExpSwish {x} -> y = x * sigmoid(x); ExpSwishGrad {dy, x} -> dx = dy * s * (1 + x * (1 - s)),
// s = sigmoid(x). Elsewhere tfjs' composite (Sigmoid, Multiply and their gradients: about seven
// element-wise kernels over the activation per layer and step).
import { tf } from '../tf.ts';

export const SWISH = 'ExpSwish';
export const SWISH_GRAD = 'ExpSwishGrad';
/** relu6 the same way: ExpRelu6 {x} -> clip(x, 0, 6); ExpRelu6Grad {dy, x} -> dy where 0 < x < 6
 * (the gradient of tfjs layers' min(6, relu(x)), whose Minimum and Greater masks wasm runs slowly). */
export const RELU6 = 'ExpRelu6';
export const RELU6_GRAD = 'ExpRelu6Grad';

/** Whether the active backend has both swish kernels. */
export function fusedSwishAvailable(): boolean {
  const b = tf.getBackend();
  return !!tf.getKernel(SWISH, b) && !!tf.getKernel(SWISH_GRAD, b);
}

/** Whether the active backend has both relu6 kernels. */
export function fusedRelu6Available(): boolean {
  const b = tf.getBackend();
  return !!tf.getKernel(RELU6, b) && !!tf.getKernel(RELU6_GRAD, b);
}

/** An element-wise op whose gradient kernel takes {dy, x}. */
function unary(x: tf.Tensor, forward: string, backward: string): tf.Tensor {
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const xi = args[0] as tf.Tensor;
    (args[1] as tf.GradSaveFunc)([xi]);
    return {
      value: tf.engine().runKernel(forward, { x: xi }, {}) as tf.Tensor,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.engine().runKernel(backward, { dy, x: saved[0] }, {}) as tf.Tensor,
    };
  });
  return op(x);
}

/** x * sigmoid(x), through the fused kernels where the backend has them. */
export function swish(x: tf.Tensor): tf.Tensor {
  if (!fusedSwishAvailable() || x.dtype !== 'float32') return tf.tidy(() => tf.mul(x, tf.sigmoid(x)));
  return unary(x, SWISH, SWISH_GRAD);
}

/** min(6, relu(x)) as tfjs layers' relu6, through the fused kernels where the backend has them. */
export function relu6(x: tf.Tensor): tf.Tensor {
  if (!fusedRelu6Available() || x.dtype !== 'float32') return tf.tidy(() => tf.minimum(6, tf.relu(x)));
  return unary(x, RELU6, RELU6_GRAD);
}

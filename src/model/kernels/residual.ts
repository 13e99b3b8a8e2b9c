// exp's fused end of a residual block, y = relu(x * s + r): the block's output x (times its
// squeeze-excitation gate s, [N,1,1,C], in SE-ResNeXt), plus the shortcut r, through a ReLU. On
// native one kernel does it in one pass over the activation (ExpResidualRelu) and one more computes
// all its gradients (ExpResidualReluGrad: g = dy * step(y) for r, g * s for x and the sum of g * x
// over each image for s), where tfjs' composite runs Multiply, Add, Relu forward and Step, Cast,
// two Multiply and a Sum backward, each a pass over the block's output. The values are the
// composite's bit for bit on native (the same float32 products and sums, the gate's sum in double
// as native's Sum), and elsewhere it is the composite.
import { tf } from '../tf.ts';

export const RESIDUAL_RELU = 'ExpResidualRelu';
export const RESIDUAL_RELU_GRAD = 'ExpResidualReluGrad';

/** Whether the active backend has both kernels. */
export function fusedResidualAvailable(): boolean {
  const b = tf.getBackend();
  return !!tf.getKernel(RESIDUAL_RELU, b) && !!tf.getKernel(RESIDUAL_RELU_GRAD, b);
}

/** tfjs' ops for the same value (and, through their gradients, the same gradients). */
function composite(x: tf.Tensor, r: tf.Tensor, s?: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.relu(tf.add(s ? tf.mul(x, s) : x, r)));
}

/**
 * relu(x * s + r), or relu(x + r) without s. x and r are [N,H,W,C] float32, s [N,1,1,C]; anything
 * else (or a backend without the kernels) runs the composite.
 */
export function residualRelu(x: tf.Tensor, r: tf.Tensor, s?: tf.Tensor): tf.Tensor {
  const fits = x.rank === 4 && tf.util.arraysEqual(x.shape, r.shape) && x.dtype === 'float32' && r.dtype === 'float32'
    && (!s || (s.dtype === 'float32' && tf.util.arraysEqual(s.shape, [x.shape[0], 1, 1, x.shape[3]] as number[])));
  if (!fits || !fusedResidualAvailable()) return composite(x, r, s);
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const save = args.pop() as tf.GradSaveFunc;
    const [xi, ri, si] = args as tf.Tensor[];
    const y = tf.engine().runKernel(RESIDUAL_RELU, si ? { x: xi, r: ri, s: si } : { x: xi, r: ri }, {}) as tf.Tensor;
    save(si ? [y, xi, si] : [y]); // without a gate the gradient needs only y
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [yv, xv, sv] = saved;
        if (!sv) {
          const [g] = tf.engine().runKernel(RESIDUAL_RELU_GRAD, { dy, y: yv }, {}) as tf.Tensor[];
          return [g, g];
        }
        const [g, dx, ds] = tf.engine().runKernel(RESIDUAL_RELU_GRAD, { dy, y: yv, x: xv, s: sv }, {}) as tf.Tensor[];
        return [dx, g, ds];
      },
    };
  });
  return s ? op(x, r, s) : op(x, r);
}

// The gradient of Relu from its output instead of its input. tfjs saves x for dy * step(x); but
// y = relu(x) is positive exactly where x is, so dy * step(y) is the same product, and y is what
// the next layer saves anyway (the next convolution's input). Saving y instead lets x go once the
// forward pass ends: in a residual network x is each block's sum before its ReLU, a whole
// activation per block (a tenth of a se_resnext50 step's peak memory at 224 px). The values are
// tfjs' bit for bit wherever x is not NaN.
import { tf } from '../tf.ts';

export const reluGradConfig: tf.GradConfig = {
  kernelName: 'Relu',
  outputsToSave: [true],
  gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
    const [y] = saved;
    const g = Array.isArray(dy) ? dy[0] : dy;
    return { x: () => tf.mul(g, tf.cast(tf.step(y), 'float32')) };
  },
};

// The gradient of Mean (global average pooling, squeeze-excitation's pool, tf.mean) without
// tfjs' full-size intermediates. tfjs differentiates mean(x, axes) as
// (reshape(dy) * ones(x.shape)) / n: a Fill, a Multiply and a RealDiv over the whole input
// (se_resnext50 pools 16 activations of up to 16x56x56x256 per step). Here: dy / n on the small
// reduced shape, then one broadcast (Tile) to x's shape. Each element is dy / n either way
// (dy * 1 is dy exactly), so the values are tfjs' bit for bit on every backend.
import { tf } from '../tf.ts';

export const meanGradConfig: tf.GradConfig = {
  kernelName: 'Mean',
  inputsToSave: ['x'], // for its shape, as tfjs' own
  gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs?: tf.NamedAttrMap) => {
    const [x] = saved;
    const g = Array.isArray(dy) ? dy[0] : dy;
    const axes = tf.util.parseAxisParam(attrs!.axis as number | number[], x.shape);
    const expanded = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
    const n = axes.reduce((p, a) => p * x.shape[a], 1);
    return { x: () => tf.broadcastTo(tf.div(tf.reshape(g, expanded), n), x.shape) };
  },
};

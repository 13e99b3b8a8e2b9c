// Which kernels does training need that a backend lacks? Runs a function (a forward and backward
// pass) on a reference backend under tf.profile, then checks every kernel it used against the
// target backend's registry. Finds all missing kernels in one go, where running on the target
// itself would stop at the first.
import { tf } from '../tf.ts';

export async function missingKernels(fn: () => tf.TensorContainer, target: string,
  reference = 'cpu'): Promise<string[]> {
  const before = tf.getBackend();
  await tf.setBackend(reference);
  try {
    const info = await tf.profile(() => fn());
    // profile also lists custom-gradient scopes (e.g. softmaxCrossEntropy__op): not kernels
    const used = new Set(info.kernels.map((k) => k.name).filter((n) => tf.getKernel(n, reference)));
    return [...used].filter((name) => !tf.getKernel(name, target)).sort();
  } finally {
    if (before) await tf.setBackend(before);
  }
}

/** A small conv net touching every op exp's backbones and heads train with: conv (strided, with
 * 'same' and numeric padding; tfjs has no gradient for dilated conv), depthwise conv, batch norm, relu, relu6, sigmoid (squeeze-excite), max/avg pooling,
 * concat, dropout, dense, softmax cross-entropy; returns the loss and its gradients. */
export function probeNet(seed = 1): tf.TensorContainer {
  return tf.tidy(() => {
    const x = tf.randomNormal([2, 12, 12, 3], 0, 1, 'float32', seed);
    const labels = tf.oneHot(tf.tensor1d([1, 3], 'int32'), 5);
    const p = {
      w1: tf.randomNormal([3, 3, 3, 8], 0, 0.3, 'float32', seed + 1),
      g1: tf.ones([8]), b1: tf.zeros([8]),
      wd: tf.randomNormal([3, 3, 8, 1], 0, 0.3, 'float32', seed + 2),
      w2: tf.randomNormal([3, 3, 8, 8], 0, 0.3, 'float32', seed + 3),
      w3: tf.randomNormal([1, 1, 16, 8], 0, 0.3, 'float32', seed + 4),
      wse: tf.randomNormal([8, 8], 0, 0.3, 'float32', seed + 5),
      wf: tf.randomNormal([16, 5], 0, 0.3, 'float32', seed + 6),
    };
    const loss = (v: Record<string, tf.Tensor>) => {
      let h: tf.Tensor = tf.conv2d(x as tf.Tensor4D, v.w1 as tf.Tensor4D, 1, 'same');
      const { mean, variance } = tf.moments(h, [0, 1, 2]);
      h = tf.relu(tf.batchNorm(h, mean, variance, v.b1 as tf.Tensor1D, v.g1 as tf.Tensor1D, 1e-3));
      h = tf.maxPool(h as tf.Tensor4D, 3, 2, 1); // PyTorch-style numeric padding, as the backbones'
      const d = tf.relu6(tf.depthwiseConv2d(h as tf.Tensor4D, v.wd as tf.Tensor4D, 1, 'same'));
      const c = tf.conv2d(d, v.w2 as tf.Tensor4D, 2, 1);
      const wide = tf.conv2d(h as tf.Tensor4D, v.w2 as tf.Tensor4D, 1, 'same');
      const cat = tf.concat([c, tf.avgPool(wide, 2, 2, 'same')], 3);
      let y: tf.Tensor4D = tf.conv2d(cat, v.w3 as tf.Tensor4D, 1, 'valid');
      const se = tf.sigmoid(tf.matMul(tf.mean(y, [1, 2]), v.wse as tf.Tensor2D));
      y = tf.mul(y, tf.reshape(se, [2, 1, 1, 8]));
      const pooled = tf.concat([tf.mean(y, [1, 2]), tf.max(y, [1, 2])], 1);
      const logits = tf.matMul(tf.dropout(pooled, 0.2, undefined, seed), v.wf as tf.Tensor2D);
      return tf.losses.softmaxCrossEntropy(labels, logits) as tf.Scalar;
    };
    const names = Object.keys(p);
    const { value, grads } = tf.valueAndGrads((...ts: tf.Tensor[]) =>
      loss(Object.fromEntries(names.map((n, i) => [n, ts[i]]))))(names.map((n) => p[n as keyof typeof p]));
    return [value, ...grads];
  });
}

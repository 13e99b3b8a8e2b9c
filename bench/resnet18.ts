// The benchmarks' training model: a backbone from exp's registry (resnet18 by default:
// torchvision's architecture, NHWC) + global average pooling + a 1000-way dense layer, as the
// PyTorch peers (bench/train_peer.py, bench/backbones_peer.py) train the same architecture. The
// output is named as exp's loop expects a level's logits.
import { backbones } from '../src/model/backbones/index.ts';
import { tf } from '../src/model/tf.ts';
import { createOptimizer } from '../src/model/optimizers.ts';
import { variableGrads } from '../src/model/backprop.ts';
import { applyRecomputing } from '../src/model/recompute.ts';

export function classifier(backbone: string, size: number, classes = 1000): tf.LayersModel {
  const input = tf.input({ shape: [size, size, 3] });
  const features = backbones.get(backbone).build(input, { seed: 1 });
  const pooled = tf.layers.globalAveragePooling2d({}).apply(features) as tf.SymbolicTensor;
  const logits = tf.layers.dense({ units: classes, name: 'logits_species' }).apply(pooled) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: logits });
}

export function resnet18Classifier(size: number): tf.LayersModel {
  return classifier('resnet18', size);
}

/** One training step as exp's loop takes it: softmax cross-entropy, gradients over the trainable
 * weights by exp's variableGrads (src/model/backprop.ts), exp's Adam (lr 1e-3, PyTorch's rule: the optimizer of `exp run`). Returns the
 * step (it reads the loss back, so the step is finished) and a dispose for the optimizer.
 * `recompute`: the forward as train.recompute runs it (src/model/recompute.ts). */
export function expAdamStep(model: tf.LayersModel, x: tf.Tensor, y: tf.Tensor, recompute = false): { step: () => number; dispose: () => void } {
  const optimizer = createOptimizer({ name: 'adam', lr: 1e-3 });
  const params = model.trainableWeights.map((w) => ({ key: w.originalName, variable: w.read() as tf.Variable }));
  const step = () => {
    const { value, grads } = variableGrads(() => tf.losses.softmaxCrossEntropy(y,
      (recompute ? applyRecomputing(model, x) : model.apply(x, { training: true })) as tf.Tensor) as tf.Scalar,
    params.map((p) => p.variable));
    optimizer.apply(params, params.map((p) => grads[p.variable.name]));
    const loss = value.dataSync()[0];
    tf.dispose([value, ...Object.values(grads)]);
    return loss;
  };
  return { step, dispose: () => optimizer.dispose() };
}

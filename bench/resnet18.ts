// The benchmarks' training model: a backbone from exp's registry (resnet18 by default:
// torchvision's architecture, NHWC) + global average pooling + a 1000-way dense layer, as the
// PyTorch peers (bench/train_peer.py, bench/backbones_peer.py) train the same architecture. The
// output is named as exp's loop expects a level's logits.
import { backbones } from '../src/model/backbones/index.ts';
import { tf } from '../src/model/tf.ts';

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

// The benchmarks' training model: resnet18 from exp's backbone registry (torchvision's architecture,
// NHWC) + global average pooling + a 1000-way dense layer, as PyTorch's peer (bench/train_peer.py)
// trains torchvision's resnet18. The output is named as exp's loop expects a level's logits.
import { backbones } from '../src/model/backbones/index.ts';
import { tf } from '../src/model/tf.ts';

export function resnet18Classifier(size: number): tf.LayersModel {
  const input = tf.input({ shape: [size, size, 3] });
  const features = backbones.get('resnet18').build(input, { seed: 1 });
  const pooled = tf.layers.globalAveragePooling2d({}).apply(features) as tf.SymbolicTensor;
  const logits = tf.layers.dense({ units: 1000, name: 'logits_species' }).apply(pooled) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: logits });
}

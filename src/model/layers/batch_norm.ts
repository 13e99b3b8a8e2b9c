// Batch normalisation that respects freezing: a layer with trainable = false normalises with its
// moving statistics and leaves them unchanged even when the model is called with training = true
// (Keras 2 semantics). Stock tfjs BatchNormalization keeps using batch statistics and updating
// the moving averages of a frozen layer, which silently drifts a frozen pretrained backbone.
import { tf } from '../tf.ts';

type BatchNormArgs = NonNullable<Parameters<typeof tf.layers.batchNormalization>[0]>;
type Kwargs = Record<string, unknown>;

// tfjs does not export the BatchNormalization class itself; take it from an instance.
const BatchNormalizationBase = tf.layers.batchNormalization({}).constructor as unknown as
  new (args?: BatchNormArgs) => tf.layers.Layer;

export class FreezableBatchNorm extends BatchNormalizationBase {
  static className = 'FreezableBatchNorm';

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: any): tf.Tensor | tf.Tensor[] {
    const kw: Kwargs = this.trainable ? kwargs : { ...kwargs, training: false };
    return super.call(inputs, kw);
  }
}
// The base type above is a plain constructor; the class inherits Layer's static fromConfig.
tf.serialization.registerClass(FreezableBatchNorm as unknown as tf.serialization.SerializableConstructor<tf.layers.Layer>);

/** PyTorch defaults (momentum 0.1 of the new value, eps 1e-5) so imported statistics mean the same. */
export function batchNorm(name: string, epsilon = 1e-5): tf.layers.Layer {
  return new FreezableBatchNorm({ name, axis: -1, momentum: 0.9, epsilon });
}

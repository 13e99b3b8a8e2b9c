// Batch normalisation that respects freezing: a layer with trainable = false normalises with its
// moving statistics and leaves them unchanged even when the model is called with training = true
// (Keras 2 semantics). Stock tfjs BatchNormalization keeps using batch statistics and updating
// the moving averages of a frozen layer, which silently drifts a frozen pretrained backbone.
// In training on the wasm and native backends, the batch-statistics normalisation and its gradient
// run as one fused kernel each (kernels/batch-norm-train.ts); the result and the moving-average
// updates are tfjs' (same formulas); other backends run tfjs' own code.
import { tf } from '../tf.ts';
import { fusedBatchNormTraining } from '../kernels/batch-norm-train.ts';

type BatchNormArgs = NonNullable<Parameters<typeof tf.layers.batchNormalization>[0]>;
type Kwargs = Record<string, unknown>;

// tfjs does not export the BatchNormalization class itself; take it from an instance.
const BatchNormalizationBase = tf.layers.batchNormalization({}).constructor as unknown as
  new (args?: BatchNormArgs) => tf.layers.Layer;

/** The fields of tfjs' BatchNormalization that the fused path reads. */
interface BatchNormFields {
  axis: number; momentum: number; epsilon: number;
  gamma: tf.LayerVariable | null; beta: tf.LayerVariable | null;
  movingMean: tf.LayerVariable; movingVariance: tf.LayerVariable;
}

export class FreezableBatchNorm extends BatchNormalizationBase {
  static className = 'FreezableBatchNorm';

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: any): tf.Tensor | tf.Tensor[] {
    const kw: Kwargs = this.trainable ? kwargs : { ...kwargs, training: false };
    if (kw.training === true) {
      const y = this.fusedTrainingCall(Array.isArray(inputs) ? inputs[0] : inputs);
      if (y) return y;
    }
    return super.call(inputs, kw);
  }

  /** Training with batch statistics through the fused kernels; undefined where they do not apply. */
  private fusedTrainingCall(x: tf.Tensor): tf.Tensor | undefined {
    const f = this as unknown as BatchNormFields;
    const axis = f.axis < 0 ? f.axis + x.rank : f.axis;
    if (axis !== x.rank - 1 || !f.gamma || !f.beta) return undefined;
    return tf.tidy(() => fusedBatchNormTraining(x, f.gamma!.read(), f.beta!.read(), f.epsilon, (mean, variance) => {
      // tfjs' doMovingAverage: moving -= (moving - batch value) * (1 - momentum)
      for (const [v, value] of [[f.movingMean, mean], [f.movingVariance, variance]] as const) {
        tf.tidy(() => {
          const old = v.read();
          v.write(tf.sub(old, tf.mul(tf.sub(old, value), 1 - f.momentum)));
        });
      }
    }));
  }
}
// The base type above is a plain constructor; the class inherits Layer's static fromConfig.
tf.serialization.registerClass(FreezableBatchNorm as unknown as tf.serialization.SerializableConstructor<tf.layers.Layer>);

/** PyTorch defaults (momentum 0.1 of the new value, eps 1e-5) so imported statistics mean the same. */
export function batchNorm(name: string, epsilon = 1e-5): tf.layers.Layer {
  return new FreezableBatchNorm({ name, axis: -1, momentum: 0.9, epsilon });
}

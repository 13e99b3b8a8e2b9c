// Batch normalisation that respects freezing: a layer with trainable = false normalises with its
// moving statistics and leaves them unchanged even when the model is called with training = true
// (Keras 2 semantics). Stock tfjs BatchNormalization keeps using batch statistics and updating
// the moving averages of a frozen layer, which silently drifts a frozen pretrained backbone.
// In training on the wasm and native backends, the batch-statistics normalisation and its gradient
// run as one fused kernel each (kernels/batch-norm-train.ts), and the moving-average update of both
// statistics as one more (kernels/moving-average.ts); the values are tfjs' (same formulas, same
// float32 rounding); other backends run tfjs' own code.
// A layer can carry the activation that follows it (relu, relu6 or swish: `activation`), applied in
// the same pass where the backend's kernels fuse it (native, in training and inference) and as the
// separate op otherwise; it has no weights, so weight names do not change.
import { tf } from '../tf.ts';
import {
  fusedActivationAvailable, fusedBatchNormInference, fusedBatchNormInferenceAvailable, fusedBatchNormTraining,
} from '../kernels/batch-norm-train.ts';
import { BATCH_NORM_ACTIVATIONS, type BatchNormActivation } from '../kernels/batch-norm-names.ts';
import { relu6, swish } from '../kernels/swish.ts';
import { movingAverages } from '../kernels/moving-average.ts';

type BatchNormArgs = NonNullable<Parameters<typeof tf.layers.batchNormalization>[0]>;
export type FreezableBatchNormArgs = BatchNormArgs & { activation?: BatchNormActivation };
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

/** The activation alone, as exp's layers apply it (kernels/swish.ts for relu6 and swish). */
function activate(kind: BatchNormActivation, x: tf.Tensor): tf.Tensor {
  if (kind === 'swish') return swish(x);
  if (kind === 'relu6') return relu6(x);
  return tf.relu(x);
}

export class FreezableBatchNorm extends BatchNormalizationBase {
  static className = 'FreezableBatchNorm';
  readonly activation: BatchNormActivation | undefined;

  constructor(args: FreezableBatchNormArgs = {}) {
    const { activation, ...rest } = args;
    super(rest);
    if (activation !== undefined && !BATCH_NORM_ACTIVATIONS.includes(activation)) {
      throw new Error(`FreezableBatchNorm: activation must be one of ${BATCH_NORM_ACTIVATIONS.join(', ')}, got ${String(activation)}`);
    }
    this.activation = activation;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: any): tf.Tensor | tf.Tensor[] {
    const kw: Kwargs = this.trainable ? kwargs : { ...kwargs, training: false };
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    const act = this.activation;
    if (kw.training === true) {
      const fuse = act !== undefined && fusedActivationAvailable();
      const y = this.fusedTrainingCall(x, fuse ? act : undefined);
      if (y) return fuse || !act ? y : tf.tidy(() => activate(act, y));
    } else if (act !== undefined && kwargs?.training !== true) {
      // inference (not a frozen layer inside a training pass: the fused form has no gradient)
      const y = this.fusedInferenceCall(x, act);
      if (y) return y;
    }
    const y = super.call(inputs, kw) as tf.Tensor;
    return act ? tf.tidy(() => activate(act, y)) : y;
  }

  override getConfig(): tf.serialization.ConfigDict {
    const config = super.getConfig();
    if (this.activation) config.activation = this.activation;
    return config;
  }

  /** Training with batch statistics through the fused kernels; undefined where they do not apply. */
  private fusedTrainingCall(x: tf.Tensor, activation?: BatchNormActivation): tf.Tensor | undefined {
    const f = this as unknown as BatchNormFields;
    const axis = f.axis < 0 ? f.axis + x.rank : f.axis;
    if (axis !== x.rank - 1 || !f.gamma || !f.beta) return undefined;
    return tf.tidy(() => fusedBatchNormTraining(x, f.gamma!.read(), f.beta!.read(), f.epsilon, (mean, variance) => {
      // tfjs' doMovingAverage: moving -= (moving - batch value) * (1 - momentum)
      tf.tidy(() => {
        const [m, v] = movingAverages(f.movingMean.read(), mean, f.movingVariance.read(), variance, f.momentum);
        f.movingMean.write(m);
        f.movingVariance.write(v);
      });
    }, activation));
  }

  /** act(batchNorm(x)) with the moving statistics in one kernel (native); undefined elsewhere. */
  private fusedInferenceCall(x: tf.Tensor, activation: BatchNormActivation): tf.Tensor | undefined {
    const f = this as unknown as BatchNormFields;
    const axis = f.axis < 0 ? f.axis + x.rank : f.axis;
    if (axis !== x.rank - 1 || x.dtype !== 'float32' || !fusedBatchNormInferenceAvailable()) return undefined;
    return fusedBatchNormInference(x, f.movingMean.read(), f.movingVariance.read(), f.beta?.read(), f.gamma?.read(),
      f.epsilon, activation);
  }
}
// The base type above is a plain constructor; the class inherits Layer's static fromConfig.
tf.serialization.registerClass(FreezableBatchNorm as unknown as tf.serialization.SerializableConstructor<tf.layers.Layer>);

/** PyTorch defaults (momentum 0.1 of the new value, eps 1e-5) so imported statistics mean the same;
 * `activation`: the activation that follows, applied by this layer. */
export function batchNorm(name: string, epsilon = 1e-5, activation?: BatchNormActivation): tf.layers.Layer {
  return new FreezableBatchNorm({ name, axis: -1, momentum: 0.9, epsilon, activation });
}

// Swish (SiLU) and relu6 activations as layers whose op is exp's fused swish where the backend has it
// (kernels/swish.ts: one kernel forward, one backward on native) and x * sigmoid(x) elsewhere.
// The builder uses it for every `swish` activation (EfficientNet's ~50); no weights.
import { tf } from '../tf.ts';
import { relu6, swish } from '../kernels/swish.ts';

export class Swish extends tf.layers.Layer {
  static className = 'ExpSwish';

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return swish(Array.isArray(inputs) ? inputs[0] : inputs);
  }

  override computeOutputShape(inputShape: (number | null)[]): (number | null)[] {
    return inputShape;
  }
}
tf.serialization.registerClass(Swish);

/** relu6 (MobileNetV2's activation) the same way: exp's fused kernels where the backend has them,
 * tfjs layers' own min(6, relu(x)) elsewhere. */
export class Relu6 extends tf.layers.Layer {
  static className = 'ExpRelu6';

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return relu6(Array.isArray(inputs) ? inputs[0] : inputs);
  }

  override computeOutputShape(inputShape: (number | null)[]): (number | null)[] {
    return inputShape;
  }
}
tf.serialization.registerClass(Relu6);

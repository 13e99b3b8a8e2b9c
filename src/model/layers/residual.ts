// The end of a residual block as one layer: relu(x + shortcut), or relu(x * gate + shortcut) with
// a squeeze-excitation gate [N,1,1,C] (kernels/residual.ts: one kernel forward and one backward
// on native, tfjs' Multiply, Add and Relu elsewhere). Inputs [x, shortcut] or [x, shortcut,
// gate]; no weights, so weight names and the weights importer are unaffected.
import { tf } from '../tf.ts';
import { residualRelu } from '../kernels/residual.ts';

export class ResidualRelu extends tf.layers.Layer {
  static className = 'ExpResidualRelu';

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    if (!Array.isArray(inputs) || (inputs.length !== 2 && inputs.length !== 3)) {
      throw new Error(`ExpResidualRelu takes [x, shortcut] or [x, shortcut, gate], got ${Array.isArray(inputs) ? inputs.length : 1} input(s)`);
    }
    const [x, r, s] = inputs;
    return residualRelu(x, r, s);
  }

  override computeOutputShape(inputShape: (number | null)[] | (number | null)[][]): (number | null)[] {
    return (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as (number | null)[];
  }
}
tf.serialization.registerClass(ResidualRelu);

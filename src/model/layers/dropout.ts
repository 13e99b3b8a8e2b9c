// Dropout with reproducible masks. tfjs' Dropout either draws from Math.random (no seed) or,
// given a seed, draws the SAME mask at every step. This one draws the mask of training call
// number `step` from mixKeys(seed, step); the training loop can set `step` (setDropoutStep) so a
// resumed run continues the same sequence of masks.
import { tf } from '../tf.ts';
import { mixKeys } from '../../util/rng.ts';

export interface SeededDropoutArgs {
  rate: number;
  seed: number;
  name?: string;
  trainable?: boolean;
}

export class SeededDropout extends tf.layers.Layer {
  static className = 'SeededDropout';
  readonly rate: number;
  readonly seed: number;
  /** Index of the next training call; advances by one per call with training = true. */
  step = 0;

  constructor(args: SeededDropoutArgs) {
    super({ name: args.name, trainable: args.trainable });
    if (!(args.rate >= 0 && args.rate < 1)) throw new Error(`dropout rate must be in [0, 1), got ${args.rate}`);
    this.rate = args.rate;
    this.seed = args.seed;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: any): tf.Tensor {
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    if (!kwargs?.training || this.rate === 0) return x;
    const seed = mixKeys(this.seed, this.step++);
    return tf.tidy(() => {
      const keep = tf.step(tf.sub(tf.randomUniform(x.shape, 0, 1, 'float32', seed), this.rate));
      return tf.mul(x, tf.mul(keep, 1 / (1 - this.rate)));
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), rate: this.rate, seed: this.seed };
  }
}
tf.serialization.registerClass(SeededDropout);

/** Sets the mask counter of every SeededDropout in `model` (e.g. to the global step on resume). */
export function setDropoutStep(model: tf.LayersModel, step: number): void {
  for (const l of model.layers) if (l instanceof SeededDropout) l.step = step;
}

// Exponential moving average of a model's weights (Polyak averaging, as timm's ModelEmaV2):
// shadow = decay * shadow + (1 - decay) * weight after every optimizer update. It covers all
// weights, trainable or not, so batch-norm running statistics are averaged too. The shadow is
// evaluated and saved by swapping it into the model for the duration of a callback.
import { tf } from './tf.ts';

export interface NamedWeight {
  key: string; // the weight's originalName: stable across save/load
  variable: tf.Variable;
}

/** All weights of a layers model (trainable first, then non-trainable), under stable names. */
export function modelWeights(model: tf.LayersModel): NamedWeight[] {
  return model.weights.map((w) => ({ key: w.originalName, variable: w.read() as tf.Variable }));
}

export class Ema {
  private readonly shadow: tf.Variable[];

  constructor(
    private readonly weights: NamedWeight[],
    readonly decay: number,
  ) {
    if (!(decay >= 0 && decay < 1)) throw new Error(`ema decay must be in [0, 1) (got ${decay})`);
    // tidy frees the clone; the variable keeps its data
    this.shadow = weights.map((w) => tf.tidy(() => tf.variable(w.variable.clone(), false)));
  }

  /** Blend the current weights into the shadow. */
  update(): void {
    const d = this.decay;
    tf.tidy(() => {
      this.weights.forEach((w, i) => {
        const s = this.shadow[i];
        if (w.variable.dtype !== 'float32') s.assign(w.variable);
        else s.assign(tf.add(tf.mul(s, d), tf.mul(w.variable, 1 - d)));
      });
    });
  }

  /** Run fn with the averaged weights in the model, then put the raw weights back exactly. */
  async withAveraged<T>(fn: () => Promise<T> | T): Promise<T> {
    const saved = this.weights.map((w) => tf.keep(w.variable.clone()));
    try {
      this.weights.forEach((w, i) => w.variable.assign(this.shadow[i]));
      return await fn();
    } finally {
      this.weights.forEach((w, i) => w.variable.assign(saved[i]));
      saved.forEach((t) => t.dispose());
    }
  }

  getState(): { decay: number; weights: Record<string, Float32Array> } {
    const weights: Record<string, Float32Array> = {};
    this.weights.forEach((w, i) => {
      weights[w.key] = Float32Array.from(this.shadow[i].dataSync() as ArrayLike<number>);
    });
    return { decay: this.decay, weights };
  }

  setState(state: { weights: Record<string, ArrayLike<number>> }): void {
    this.weights.forEach((w, i) => {
      const arr = state.weights[w.key];
      if (!arr) throw new Error(`EMA state lacks weight ${w.key}`);
      if (arr.length !== w.variable.size) throw new Error(`EMA weight ${w.key}: ${arr.length} values, model ${w.variable.size}`);
      tf.tidy(() => this.shadow[i].assign(tf.tensor(Float32Array.from(arr), w.variable.shape, 'float32').cast(w.variable.dtype)));
    });
  }

  dispose(): void {
    this.shadow.forEach((s) => s.dispose());
  }
}

// One pass over validation batches in inference mode: the mean loss per level (the same loss as
// training, so history.jsonl's train and val losses compare) and each batch's logits handed to a
// callback, where the caller accumulates metrics (src/eval) or writes .npy rows. Logits are never
// gathered here: 138k rows x 32k species would be 17.7 GB.
import { tf } from '../model/tf.ts';
import { buildLevelLosses, type LevelInfo, type LossSpec } from '../model/losses.ts';
import { outputOrder, type BatchSource } from './loop.ts';

export interface ValidateOptions {
  model: tf.LayersModel;
  levels: LevelInfo[];
  lossSpec: LossSpec;
  batches: BatchSource;
  /** Called per batch and level with row-major logits [n, classes] and the true labels. */
  onLogits?(level: number, logits: Float32Array, labels: Int32Array, n: number): void;
}

/** Mean (unweighted) loss per level over all rows, keyed by level name. */
export async function validate(opts: ValidateOptions): Promise<Record<string, number>> {
  const { model, levels } = opts;
  const levelLosses = buildLevelLosses(opts.lossSpec, levels);
  const order = outputOrder(model, levels);
  const inShape = model.inputs[0].shape.slice(1) as number[];
  const sums = new Float64Array(levels.length);
  let rows = 0;
  for await (const batch of opts.batches) {
    const { losses, lg } = tf.tidy(() => {
      const x = tf.tensor(batch.x, [batch.n, ...inShape], 'float32');
      const out = model.apply(x, { training: false }) as tf.Tensor | tf.Tensor[];
      const outs = Array.isArray(out) ? out : [out];
      const lg = order.map((i) => outs[i] as tf.Tensor2D);
      return { losses: tf.stack(levelLosses.map((ll, k) => ll.fn(lg[k], batch.labels[k]))), lg: opts.onLogits ? lg : [] };
    });
    // read asynchronously: webgpu has no synchronous readback, and other backends lose nothing
    let lossVals: Float32Array;
    let logits: Float32Array[];
    try {
      [lossVals, ...logits] = await Promise.all([losses, ...lg].map((t) => t.data() as Promise<Float32Array>));
    } finally {
      tf.dispose([losses, ...lg]);
    }
    for (let k = 0; k < levels.length; k++) sums[k] += lossVals[k] * batch.n;
    if (opts.onLogits) logits.forEach((lg, k) => opts.onLogits!(k, lg, batch.labels[k], batch.n));
    rows += batch.n;
  }
  const out: Record<string, number> = {};
  levels.forEach((l, k) => (out[l.name] = rows ? sums[k] / rows : NaN));
  return out;
}

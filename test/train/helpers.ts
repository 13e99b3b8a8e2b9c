// Tiny models and generated data for the training-loop tests (cpu backend, 8x8 images).
import { tf } from '../../src/model/tf.ts';
import { Rng } from '../../src/util/rng.ts';
import type { Batch } from '../../src/train/loop.ts';
import { SeededDropout } from '../../src/model/layers/dropout.ts';

export const H = 8;
export const C = 3;

/**
 * conv(6, 3x3) -> batchnorm -> relu -> 4x4 avg pool (a 2x2 grid, so position survives) -> two
 * heads, logits_fine (4 classes) and logits_coarse (2). Seeded initialisers and fixed layer names:
 * two calls build identical models (weight names included, as a checkpoint reloads them).
 */
export function tinyConvNet(opts: { batchNorm?: boolean; fine?: number; coarse?: number; dropout?: number } = {}): tf.LayersModel {
  const input = tf.input({ shape: [H, H, C], name: 'image' });
  let x = tf.layers.conv2d({
    name: 'conv', filters: 6, kernelSize: 3, padding: 'same', useBias: !opts.batchNorm,
    kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }),
  }).apply(input) as tf.SymbolicTensor;
  if (opts.batchNorm) x = tf.layers.batchNormalization({ name: 'bn', momentum: 0.9 }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.reLU({ name: 'relu' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.averagePooling2d({ name: 'pool', poolSize: 4 }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.flatten({ name: 'flatten' }).apply(x) as tf.SymbolicTensor;
  if (opts.dropout) x = new SeededDropout({ rate: opts.dropout, seed: 5, name: 'dropout' }).apply(x) as tf.SymbolicTensor;
  const head = (name: string, units: number, seed: number) =>
    tf.layers.dense({ units, name, kernelInitializer: tf.initializers.glorotUniform({ seed }) }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: [head('logits_fine', opts.fine ?? 4, 2), head('logits_coarse', opts.coarse ?? 2, 3)] });
}

/**
 * conv-bn-relu stem, two residual blocks (conv-bn-relu, conv-bn, add, relu), 2x2 average pool and
 * the same two heads as tinyConvNet: a graph train.recompute has blocks to cut at.
 */
export function residualNet(): tf.LayersModel {
  let seed = 10;
  const conv = (x: tf.SymbolicTensor, name: string) => tf.layers.conv2d({
    name, filters: 6, kernelSize: 3, padding: 'same', useBias: false, kernelInitializer: tf.initializers.glorotUniform({ seed: seed++ }),
  }).apply(x) as tf.SymbolicTensor;
  const bn = (x: tf.SymbolicTensor, name: string) => tf.layers.batchNormalization({ name, momentum: 0.9 }).apply(x) as tf.SymbolicTensor;
  const relu = (x: tf.SymbolicTensor, name: string) => tf.layers.reLU({ name }).apply(x) as tf.SymbolicTensor;
  const input = tf.input({ shape: [H, H, C], name: 'image' });
  let x = relu(bn(conv(input, 'stem'), 'stem_bn'), 'stem_relu');
  for (const b of ['b0', 'b1']) {
    const y = bn(conv(relu(bn(conv(x, `${b}_conv1`), `${b}_bn1`), `${b}_relu1`), `${b}_conv2`), `${b}_bn2`);
    x = relu(tf.layers.add({ name: `${b}_add` }).apply([y, x]) as tf.SymbolicTensor, `${b}_out`);
  }
  x = tf.layers.flatten({ name: 'flatten' }).apply(tf.layers.averagePooling2d({ name: 'pool', poolSize: 4 }).apply(x) as tf.SymbolicTensor) as tf.SymbolicTensor;
  const head = (name: string, units: number) =>
    tf.layers.dense({ units, name, kernelInitializer: tf.initializers.glorotUniform({ seed: seed++ }) }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: [head('logits_fine', 4), head('logits_coarse', 2)] });
}

/**
 * Separable images: class c (of 4) lights up quadrant c of the image, plus noise. The coarse
 * label is c >> 1 (quadrants 0,1 vs 2,3).
 */
export function quadrantData(n: number, seed: number, noise = 0.3): { x: Float32Array; fine: Int32Array; coarse: Int32Array } {
  const rng = new Rng(seed, 99);
  const x = new Float32Array(n * H * H * C);
  const fine = new Int32Array(n);
  const coarse = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % 4;
    fine[i] = c;
    coarse[i] = c >> 1;
    const qy = c >> 1;
    const qx = c & 1;
    for (let y = 0; y < H; y++) {
      for (let xx = 0; xx < H; xx++) {
        const on = (y >= H / 2) === (qy === 1) && (xx >= H / 2) === (qx === 1);
        for (let ch = 0; ch < C; ch++) x[((i * H + y) * H + xx) * C + ch] = (on ? 1 : -0.3) + noise * rng.normal();
      }
    }
  }
  return { x, fine, coarse };
}

/** Batches of rows in `order`, as the data pipeline would give them. */
export function* batches(
  data: { x: Float32Array; fine: Int32Array; coarse: Int32Array },
  order: ArrayLike<number>,
  batchSize: number,
): Generator<Batch> {
  const per = H * H * C;
  for (let s = 0; s < order.length; s += batchSize) {
    const rows = Array.from({ length: Math.min(batchSize, order.length - s) }, (_x, k) => order[s + k]);
    const x = new Float32Array(rows.length * per);
    rows.forEach((r, k) => x.set(data.x.subarray(r * per, (r + 1) * per), k * per));
    yield { x, n: rows.length, labels: [Int32Array.from(rows, (r) => data.fine[r]), Int32Array.from(rows, (r) => data.coarse[r])] };
  }
}

/** Accuracy of the fine head (argmax) on all rows. */
export function fineAccuracy(model: tf.LayersModel, data: { x: Float32Array; fine: Int32Array }): number {
  return tf.tidy(() => {
    const n = data.fine.length;
    const out = model.predict(tf.tensor(data.x, [n, H, H, C])) as tf.Tensor[];
    const pred = out[0].argMax(1).dataSync();
    let ok = 0;
    for (let i = 0; i < n; i++) if (pred[i] === data.fine[i]) ok++;
    return ok / n;
  });
}

export function weightsOf(model: tf.LayersModel): Float32Array[] {
  return model.getWeights().map((w) => Float32Array.from(w.dataSync() as ArrayLike<number>));
}

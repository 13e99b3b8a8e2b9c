// One training step of an exp model (a registered backbone, the hierarchical head with dropout,
// focal loss with class-balanced alpha and label smoothing, SGD with momentum and weight decay) on the active backend, read
// back whole: the losses, every gradient, every weight after the update (batch-norm moving
// statistics included). The webgpu parity test runs it on webgpu and on the reference backend
// and compares; bench/gpu/ runs the same on a real GPU. Reads are asynchronous (webgpu has no
// synchronous readback in Node).
import { tf } from '../../src/model/tf.ts';
import { buildModel } from '../../src/model/build.ts';
import { buildLevelLosses, hierarchicalLoss, type LevelInfo } from '../../src/model/losses.ts';
import { createOptimizer } from '../../src/model/optimizers.ts';
import { setDropoutStep } from '../../src/model/layers/dropout.ts';

export interface StepResult {
  losses: Float32Array;
  grads: Map<string, Float32Array>;
  weights: Map<string, Float32Array>;
}

const LEVELS: LevelInfo[] = [
  { name: 'species', numClasses: 5, counts: [4, 1, 2, 3, 2] },
  { name: 'genus', numClasses: 3, counts: [5, 4, 3] },
];

export async function trainStep(backbone: string, size = 64, batch = 4, seed = 7): Promise<StepResult> {
  const model = buildModel({
    backbone: { name: backbone }, head: { pool: 'concat', hidden: 16, dropout: 0.25 }, inputSize: size,
    levels: LEVELS.map((l) => ({ name: l.name, numClasses: l.numClasses })), seed,
  });
  const levelLosses = buildLevelLosses({ type: 'focal', gamma: 2, class_balance: { beta: 0.9 }, label_smoothing: 0.1,
    weights: { genus: 0.5 } }, LEVELS);
  const opt = createOptimizer({ name: 'sgd', lr: 0.1, momentum: 0.9, weight_decay: 1e-4 });
  const labels = [Int32Array.from({ length: batch }, (_v, i) => i % 5), Int32Array.from({ length: batch }, (_v, i) => i % 3)];
  const x = tf.randomNormal([batch, size, size, 3], 0, 1, 'float32', seed + 1);
  try {
    setDropoutStep(model, 3);
    const params = model.trainableWeights.map((w) => ({ key: w.originalName, variable: w.read() as tf.Variable }));
    let kept: tf.Tensor | undefined;
    const { value, grads } = tf.variableGrads(() => {
      const outs = model.apply(x, { training: true }) as tf.Tensor[];
      const { total, perLevel } = hierarchicalLoss(levelLosses, outs as tf.Tensor2D[], labels);
      kept = tf.keep(tf.stack([...perLevel, total]));
      return total;
    }, params.map((p) => p.variable));
    const g = params.map((p) => grads[p.variable.name]);
    const gradVals = await Promise.all(g.map((t) => t.data() as Promise<Float32Array>));
    opt.apply(params, g);
    const weights = await Promise.all(model.weights.map((w) => w.read().data() as Promise<Float32Array>));
    const losses = await kept!.data() as Float32Array;
    tf.dispose([value, kept!, ...g]);
    return {
      losses,
      grads: new Map(params.map((p, i) => [p.key, gradVals[i]])),
      weights: new Map(model.weights.map((w, i) => [w.originalName, weights[i]])),
    };
  } finally {
    x.dispose();
    opt.dispose();
    model.dispose();
  }
}

/** ||got - ref|| / max(||ref||, floor) (Euclidean norms). */
export function relL2(ref: Float32Array, got: Float32Array, floor = 1e-30): number {
  if (ref.length !== got.length) return Infinity;
  let d = 0, r = 0;
  for (let i = 0; i < ref.length; i++) {
    d += (ref[i] - got[i]) ** 2;
    r += ref[i] ** 2;
  }
  return Math.sqrt(d) / Math.max(Math.sqrt(r), floor);
}

/** What the webgpu parity test accepts (test/model/webgpu-backbones.test.ts says why). */
export const TOLERANCE = { loss: 1e-2, grads: 0.1, worstGrad: 0.25, weights: 0.1 };

/** Whether a comparison is within TOLERANCE. */
export const withinTolerance = (p: Parity): boolean => p.loss <= TOLERANCE.loss && p.grads <= TOLERANCE.grads
  && p.worstGrad.err <= TOLERANCE.worstGrad && p.weights <= TOLERANCE.weights;

export interface Parity {
  /** the losses (per level and total), largest relative difference */
  loss: number;
  /** all gradients as one vector: relative Euclidean distance */
  grads: number;
  /** the worst single gradient tensor, by relative Euclidean distance (scale floored, see below) */
  worstGrad: { name: string; err: number };
  /** every weight after the update as one vector (batch-norm moving statistics included) */
  weights: number;
}

/**
 * How far `got` is from `ref`. Whole-vector distances, not the largest element: float32 sums in
 * another order move activations by ~1e-7 relative per layer; deep in a network a ReLU near zero
 * then switches the other way and that element's gradient differs wholly, which says nothing
 * about the kernels.
 */
export function compareSteps(ref: StepResult, got: StepResult): Parity {
  const concat = (m: Map<string, Float32Array>, keys: string[]) => {
    const out = new Float32Array(keys.reduce((a, k) => a + (m.get(k)?.length ?? 0), 0));
    let o = 0;
    for (const k of keys) { const v = m.get(k); if (v) { out.set(v, o); o += v.length; } }
    return out;
  };
  const gk = [...ref.grads.keys()], wk = [...ref.weights.keys()];
  // a tensor's own scale, but at least 1e-3 of the largest: some gradients are zero up to
  // rounding (a batch-norm shift that the next batch norm cancels), and relative to nothing
  // their rounding would look like a large error
  const norm = (v: Float32Array) => Math.sqrt(v.reduce((a, x) => a + x * x, 0));
  const floor = 1e-3 * gk.reduce((a, k) => Math.max(a, norm(ref.grads.get(k)!)), 0);
  let worstGrad = { name: '', err: 0 };
  for (const k of gk) {
    const err = relL2(ref.grads.get(k)!, got.grads.get(k) ?? new Float32Array(0), floor);
    if (!(err <= worstGrad.err)) worstGrad = { name: k, err };
  }
  let loss = 0;
  ref.losses.forEach((v, i) => { loss = Math.max(loss, Math.abs(v - got.losses[i]) / Math.max(Math.abs(v), 1e-30)); });
  if (ref.losses.length !== got.losses.length || got.losses.some((v) => !Number.isFinite(v))) loss = Infinity;
  return {
    loss, grads: relL2(concat(ref.grads, gk), concat(got.grads, gk)), worstGrad,
    weights: relL2(concat(ref.weights, wk), concat(got.weights, wk)),
  };
}

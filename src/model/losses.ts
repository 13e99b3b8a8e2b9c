// Classification losses for hierarchical heads: focal (Lin et al. 2017) with class-balanced alpha
// (Cui et al. 2019), cross-entropy, label smoothing, and the weighted sum over label levels.
// Every loss starts from log-softmax (x - logsumexp(x), which tfjs computes max-shifted), so logits
// of 1e4 give finite values and gradients; probabilities are never formed and then logged.
import { tf } from './tf.ts';
import { Registry } from '../registry.ts';
import { UserError } from '../errors.ts';

/** The `loss` block of an experiment (see schemas/experiment.schema.json). */
export interface LossSpec {
  type: string; // registered name: 'focal' | 'cross_entropy'
  gamma?: number; // focal only; 0 turns focal into (weighted) cross-entropy
  class_balance?: { beta: number } | null; // alpha per class from effective numbers, or none
  label_smoothing?: number; // epsilon in [0, 1): target = (1 - eps) * onehot + eps / C
  weights?: Record<string, number>; // per level; a level not named weighs 1
}

/**
 * Mean loss over a batch for one level: logits [B, C], labels are dense class indices (length B).
 * The mean is a plain mean over examples (sum / B), as in Cui et al.'s reference code: alpha
 * rescales examples, it does not renormalise the batch.
 */
export type LevelLossFn = (logits: tf.Tensor2D, labels: Int32Array) => tf.Scalar;

export interface LevelLoss {
  level: string;
  weight: number;
  fn: LevelLossFn;
}

/** What a loss factory gets for one level. */
export interface LevelInfo {
  name: string;
  numClasses: number;
  /** Training examples per class (needed by class_balance). */
  counts?: ArrayLike<number>;
}

export type LossFactory = (spec: LossSpec, level: LevelInfo) => LevelLossFn;

/**
 * Class-balanced weights from the "effective number" of samples (Cui et al. 2019):
 * E_c = (1 - beta^n_c) / (1 - beta), w_c = 1 / E_c = (1 - beta) / (1 - beta^n_c).
 * Normalisation: the weights are scaled so that they sum to the number of classes that have
 * examples (C when every class has one, as in the paper: sum_c w_c = C), so a uniform dataset gets
 * w_c = 1 and the loss scale stays comparable to unweighted cross-entropy. A class with no training
 * example is never a target; it gets weight 0 (its raw weight would be infinite).
 * beta = 0 gives all ones; beta -> 1 approaches inverse class frequency.
 */
export function classBalancedWeights(counts: ArrayLike<number>, beta: number): Float32Array {
  if (!(beta >= 0 && beta < 1)) {
    throw new UserError(
      `loss.class_balance.beta must be in [0, 1) (got ${beta}); the reference recipe uses 0.9, ` +
        `values near 1 (0.999) approach inverse class frequency. Set it in the experiment file.`,
    );
  }
  const raw = new Float64Array(counts.length);
  let sum = 0;
  let present = 0;
  for (let c = 0; c < counts.length; c++) {
    const n = counts[c];
    if (n > 0) {
      raw[c] = (1 - beta) / (1 - Math.pow(beta, n));
      sum += raw[c];
      present++;
    }
  }
  const out = new Float32Array(counts.length);
  if (present === 0) return out;
  for (let c = 0; c < counts.length; c++) out[c] = (raw[c] * present) / sum;
  return out;
}

function checkLabels(labels: Int32Array, b: number, c: number, level: string): void {
  if (labels.length !== b) throw new Error(`level ${level}: ${labels.length} labels for ${b} logits rows`);
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i];
    if (!(y >= 0 && y < c)) throw new Error(`level ${level}: label ${y} outside [0, ${c}) at row ${i}`);
  }
}

/**
 * Per-example focal loss, the general form that the other losses specialise:
 *   l_i = alpha_{y_i} * sum_c q_ic * (1 - p_ic)^gamma * (-log p_ic)
 * with q the (optionally smoothed) target. gamma = 0, eps = 0, no alpha: cross-entropy.
 */
export function perExampleLoss(
  logits: tf.Tensor2D,
  labels: Int32Array,
  opts: { gamma?: number; alpha?: Float32Array | null; labelSmoothing?: number; level?: string },
): tf.Tensor1D {
  const [b, c] = logits.shape;
  const gamma = opts.gamma ?? 0;
  const eps = opts.labelSmoothing ?? 0;
  checkLabels(labels, b, c, opts.level ?? '?');
  return tf.tidy(() => {
    const logp = tf.logSoftmax(logits.toFloat()) as tf.Tensor2D;
    let terms: tf.Tensor2D; // -log p_ic times the focal factor, before the target weights
    if (gamma === 0) {
      terms = tf.neg(logp);
    } else {
      // 1 - p = -expm1(log p) keeps precision when p is near 1; the floor keeps pow's gradient
      // finite for gamma < 1 at p == 1 (there the term is 0 anyway).
      const oneMinusP = tf.maximum(tf.neg(tf.expm1(logp)), 1e-30);
      terms = tf.mul(tf.pow(oneMinusP, gamma), tf.neg(logp));
    }
    let perEx: tf.Tensor1D;
    if (eps === 0) {
      // gather the target column only (flat index i*C + y_i: gather has a gradient, gatherND not)
      const flat = new Int32Array(b);
      for (let i = 0; i < b; i++) flat[i] = i * c + labels[i];
      perEx = tf.gather(tf.reshape(terms, [b * c]), tf.tensor1d(flat, 'int32')) as tf.Tensor1D;
    } else {
      const q = tf.add(tf.mul(tf.oneHot(tf.tensor1d(labels, 'int32'), c).toFloat(), 1 - eps), eps / c);
      perEx = tf.sum(tf.mul(q, terms), 1) as tf.Tensor1D;
    }
    if (opts.alpha) {
      if (opts.alpha.length !== c) throw new Error(`alpha has ${opts.alpha.length} classes, logits ${c}`);
      const a = new Float32Array(b);
      for (let i = 0; i < b; i++) a[i] = opts.alpha[labels[i]];
      perEx = tf.mul(perEx, tf.tensor1d(a));
    }
    return perEx;
  });
}

function checkSmoothing(spec: LossSpec): number {
  const eps = spec.label_smoothing ?? 0;
  if (!(eps >= 0 && eps < 1)) {
    throw new UserError(`loss.label_smoothing must be in [0, 1) (got ${eps}); 0.1 is a common value.`);
  }
  return eps;
}

function alphaFor(spec: LossSpec, level: LevelInfo): Float32Array | null {
  if (!spec.class_balance) return null;
  if (!level.counts) throw new Error(`class_balance needs class counts for level ${level.name}`);
  if (level.counts.length !== level.numClasses) {
    throw new Error(`level ${level.name}: ${level.counts.length} counts for ${level.numClasses} classes`);
  }
  return classBalancedWeights(level.counts, spec.class_balance.beta);
}

/** Loss kinds, by the name used in `loss.type`. */
export const losses = new Registry<LossFactory>('loss');

losses.register('focal', 'focal loss (gamma), optional class-balanced alpha and label smoothing', (spec, level) => {
  const gamma = spec.gamma ?? 2;
  if (!(gamma >= 0)) throw new UserError(`loss.gamma must be >= 0 (got ${gamma}); the reference recipe uses 2.`);
  const labelSmoothing = checkSmoothing(spec);
  const alpha = alphaFor(spec, level);
  return (logits, labels) =>
    tf.tidy(() => tf.mean(perExampleLoss(logits, labels, { gamma, alpha, labelSmoothing, level: level.name })));
});

losses.register('cross_entropy', 'softmax cross-entropy, optional class-balanced weights and label smoothing', (spec, level) => {
  const labelSmoothing = checkSmoothing(spec);
  const alpha = alphaFor(spec, level);
  return (logits, labels) =>
    tf.tidy(() => tf.mean(perExampleLoss(logits, labels, { gamma: 0, alpha, labelSmoothing, level: level.name })));
});

/** One loss function and weight per level, in the order of `levels` (finest first). */
export function buildLevelLosses(spec: LossSpec, levels: LevelInfo[]): LevelLoss[] {
  const factory = losses.get(spec.type);
  const names = new Set(levels.map((l) => l.name));
  for (const k of Object.keys(spec.weights ?? {})) {
    if (!names.has(k)) {
      throw new UserError(
        `loss.weights names level '${k}', which is not in data.levels (${[...names].join(', ')}). ` +
          `Use the level names from data.levels.`,
      );
    }
  }
  return levels.map((level) => ({
    level: level.name,
    weight: spec.weights?.[level.name] ?? 1,
    fn: factory(spec, level),
  }));
}

/**
 * total = sum_l weight_l * loss_l, each loss_l a mean over the batch. Returns the per-level losses
 * (unweighted) beside the total; the caller owns all returned tensors.
 */
export function hierarchicalLoss(
  levelLosses: LevelLoss[],
  logits: tf.Tensor2D[],
  labels: Int32Array[],
): { total: tf.Scalar; perLevel: tf.Scalar[] } {
  if (logits.length !== levelLosses.length || labels.length !== levelLosses.length) {
    throw new Error(`${levelLosses.length} levels, ${logits.length} outputs, ${labels.length} label arrays`);
  }
  const perLevel = levelLosses.map((l, i) => l.fn(logits[i], labels[i]));
  const total = tf.tidy(() =>
    tf.addN(perLevel.map((v, i) => tf.mul(v, levelLosses[i].weight))) as tf.Scalar,
  );
  return { total, perLevel };
}

// Is run B really better than run A? Paired tests on the same validation examples (rows already
// aligned by id, see src/eval/align.ts), from top-1 predictions and the truth only, so compare
// reads the small top-5 arrays and never the full scores.
// - Paired bootstrap: resample examples with replacement, recompute every run's macro-F1 and
//   accuracy on the same resample, and take the 2.5 / 97.5 percentiles of the difference B - A.
//   macro-F1 is recomputed from per-class TP/FP/FN counts, O(N + C) per resample, never O(N * C).
// - McNemar's test on per-example correctness: exact binomial when the discordant pairs are fewer
//   than 25, else chi-square with continuity correction.
import { Rng } from '../../util/rng.ts';
import { macroF1FromCounts } from '../../eval/metrics.ts';

export interface PairedPredictions {
  /** True class per example; rows with a negative label are left out. */
  truth: Int32Array;
  /** Baseline run's top-1 class per example. */
  predA: Int32Array;
  /** Other run's top-1 class per example (same rows as predA). */
  predB: Int32Array;
  numClasses: number;
}

/** A metric for both runs on the full set, and the bootstrap interval of B - A. */
export interface DiffInterval {
  a: number;
  b: number;
  /** b - a on the full set. */
  diff: number;
  lo: number;
  hi: number;
}

export interface BootstrapResult {
  macro_f1: DiffInterval;
  accuracy: DiffInterval;
  resamples: number;
  confidence: number;
  seed: number;
  n: number;
}

export interface BootstrapOptions {
  resamples?: number;
  seed?: number;
  confidence?: number;
}

/** Rng key for the resampling ("boot"): keeps these draws apart from other uses of the seed. */
export const PURPOSE_BOOTSTRAP = 0x626f6f74;

/** Rows with a label (negative labels are left out), checked to hold classes in 0..C-1. */
function labelledRows(truth: Int32Array, preds: readonly Int32Array[], C: number): { t: Int32Array; ps: Int32Array[] } {
  for (const p of preds) {
    if (p.length !== truth.length) throw new RangeError(`paired predictions: ${truth.length} labels, ${preds.map((x) => x.length).join(' and ')} predictions`);
  }
  const keep: number[] = [];
  for (let i = 0; i < truth.length; i++) {
    if (truth[i] < 0) continue;
    if (truth[i] >= C || preds.some((p) => p[i] < 0 || p[i] >= C)) throw new RangeError(`paired predictions: row ${i} has a class outside 0..${C - 1}`);
    keep.push(i);
  }
  const pick = (x: Int32Array) => Int32Array.from(keep, (i) => x[i]);
  return { t: pick(truth), ps: preds.map(pick) };
}

/** Linear-interpolated quantile of sorted values (numpy's default method). */
export function quantileSorted(sorted: Float64Array, q: number): number {
  const pos = q * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

/**
 * Every run's macro-F1 and correct count on the full set and on each bootstrap resample of the
 * examples, the resamples shared by all runs. This is the one bootstrap of exp compare: a paired
 * interval (pairedInterval) is the difference of two runs' values resample by resample, and the
 * headline's seed-level effect averages such differences over seed pairs. Run i's resample s is
 * at f1[i][s] and correct[i][s].
 */
export interface Resampled {
  n: number;
  resamples: number;
  seed: number;
  full: { f1: number; correct: number }[];
  f1: Float64Array[];
  correct: Int32Array[];
}

/**
 * Resamples the labelled examples `resamples` times with replacement (draws keyed by
 * (seed, PURPOSE_BOOTSTRAP), so the same inputs always give the same draws) and scores every run
 * on each. Each resample is a vector of multiplicities (how often each example was drawn), drawn
 * once and applied to every run's per-class counts in one sequential pass per run: O(R (N + C) K)
 * for K runs, never O(N * C), and the draws are shared, so comparing 200 runs costs one draw per
 * example per resample, not 200.
 */
export function resampleMetrics(truth: Int32Array, preds: readonly Int32Array[], numClasses: number, opts: BootstrapOptions = {}): Resampled {
  const resamples = opts.resamples ?? 1000;
  const seed = opts.seed ?? 0;
  if (!(Number.isInteger(resamples) && resamples >= 1)) throw new RangeError(`resamples must be a positive integer, got ${resamples}`);
  const { t, ps } = labelledRows(truth, preds, numClasses);
  const n = t.length;
  if (n === 0) throw new RangeError('paired bootstrap: no labelled examples');
  const C = numClasses;
  const tp = new Int32Array(C);
  const fp = new Int32Array(C);
  const fn = new Int32Array(C);
  const mult = new Int32Array(n);
  // One run's counts under the multiplicities in `mult`; returns the number right.
  const count = (pred: Int32Array): number => {
    tp.fill(0);
    fp.fill(0);
    fn.fill(0);
    let right = 0;
    for (let i = 0; i < n; i++) {
      const m = mult[i];
      if (m === 0) continue;
      const ti = t[i];
      const pi = pred[i];
      if (ti === pi) {
        tp[ti] += m;
        right += m;
      } else {
        fp[pi] += m;
        fn[ti] += m;
      }
    }
    return right;
  };
  mult.fill(1);
  const full = ps.map((p) => {
    const correct = count(p);
    return { f1: macroF1FromCounts(tp, fp, fn).macroF1, correct };
  });
  const f1 = ps.map(() => new Float64Array(resamples));
  const correct = ps.map(() => new Int32Array(resamples));
  let rng = new Rng(seed, PURPOSE_BOOTSTRAP);
  const scale = n / 4294967296;
  for (let s = 0; s < resamples; s++) {
    mult.fill(0);
    // rng.int(n) inlined on local state (the same sfc32 steps as src/util/rng.ts, so the same
    // stream): a method call per draw was most of the bootstrap's time.
    let [ra, rb, rc, rd] = rng.state();
    for (let d = 0; d < n; d++) {
      const tt = (ra + rb) | 0;
      ra = rb ^ (rb >>> 9);
      rb = (rc + (rc << 3)) | 0;
      rc = (rc << 21) | (rc >>> 11);
      rd = (rd + 1) | 0;
      const r = (tt + rd) | 0;
      rc = (rc + r) | 0;
      mult[Math.floor((r >>> 0) * scale)]++;
    }
    rng = Rng.fromState([ra >>> 0, rb >>> 0, rc >>> 0, rd >>> 0]);
    for (let k = 0; k < ps.length; k++) {
      correct[k][s] = count(ps[k]);
      f1[k][s] = macroF1FromCounts(tp, fp, fn).macroF1;
    }
  }
  return { n, resamples, seed, full, f1, correct };
}

/** The paired interval of run b minus run a from shared resamples (indices into `m`'s runs). */
export function pairedInterval(m: Resampled, a: number, b: number, confidence = 0.95): BootstrapResult {
  if (!(confidence > 0 && confidence < 1)) throw new RangeError(`confidence must be in (0, 1), got ${confidence}`);
  const { n, resamples } = m;
  const dF1 = new Float64Array(resamples);
  const dAcc = new Float64Array(resamples);
  for (let s = 0; s < resamples; s++) {
    dF1[s] = m.f1[b][s] - m.f1[a][s];
    dAcc[s] = (m.correct[b][s] - m.correct[a][s]) / n;
  }
  dF1.sort();
  dAcc.sort();
  const qlo = (1 - confidence) / 2;
  const qhi = 1 - qlo;
  const [A, B] = [m.full[a], m.full[b]];
  return {
    macro_f1: { a: A.f1, b: B.f1, diff: B.f1 - A.f1, lo: quantileSorted(dF1, qlo), hi: quantileSorted(dF1, qhi) },
    accuracy: { a: A.correct / n, b: B.correct / n, diff: B.correct / n - A.correct / n, lo: quantileSorted(dAcc, qlo), hi: quantileSorted(dAcc, qhi) },
    resamples,
    confidence,
    seed: m.seed,
    n,
  };
}

/** Paired bootstrap confidence intervals of B - A in macro-F1 and accuracy. Deterministic per seed. */
export function pairedBootstrap(p: PairedPredictions, opts: BootstrapOptions = {}): BootstrapResult {
  return pairedInterval(resampleMetrics(p.truth, [p.predA, p.predB], p.numClasses, opts), 0, 1, opts.confidence ?? 0.95);
}

/** pairedBootstrap of many runs against one baseline, on one shared set of resamples. */
export function pairedBootstrapMany(truth: Int32Array, predA: Int32Array, predBs: readonly Int32Array[], numClasses: number, opts: BootstrapOptions = {}): BootstrapResult[] {
  const m = resampleMetrics(truth, [predA, ...predBs], numClasses, opts);
  return predBs.map((_b, k) => pairedInterval(m, 0, k + 1, opts.confidence ?? 0.95));
}

export interface McNemarResult {
  /** Examples A gets right and B gets wrong. */
  b: number;
  /** Examples A gets wrong and B gets right. */
  c: number;
  n: number;
  method: 'exact' | 'chi2';
  /** Chi-square statistic (with continuity correction); null for the exact test. */
  statistic: number | null;
  /** Two-sided p-value. */
  p: number;
}

/** McNemar's test from the discordant counts. */
export function mcnemarFromCounts(b: number, c: number): Omit<McNemarResult, 'n'> {
  const m = b + c;
  if (m < 25) {
    // Two-sided exact binomial test of b ~ Bin(b + c, 1/2): twice the smaller tail, capped at 1.
    let tail = 0;
    let coef = 1; // C(m, i)
    for (let i = 0; i <= Math.min(b, c); i++) {
      tail += coef;
      coef = (coef * (m - i)) / (i + 1);
    }
    return { b, c, method: 'exact', statistic: null, p: Math.min(1, (2 * tail) / 2 ** m) };
  }
  const stat = (Math.abs(b - c) - 1) ** 2 / m;
  return { b, c, method: 'chi2', statistic: stat, p: chiSquare1Survival(stat) };
}

/** McNemar's test on per-example correctness of two runs over the same (aligned) examples. */
export function mcnemar(p: PairedPredictions): McNemarResult {
  const { t, ps: [a, b] } = labelledRows(p.truth, [p.predA, p.predB], p.numClasses);
  let nb = 0;
  let nc = 0;
  for (let i = 0; i < t.length; i++) {
    const ra = a[i] === t[i];
    const rb = b[i] === t[i];
    if (ra && !rb) nb++;
    else if (!ra && rb) nc++;
  }
  return { ...mcnemarFromCounts(nb, nc), n: t.length };
}

/** P(X > x) for X ~ chi-square with 1 degree of freedom = Q(1/2, x/2), the regularised upper gamma. */
export function chiSquare1Survival(x: number): number {
  if (!(x > 0)) return 1;
  return upperGammaQHalf(x / 2);
}

const LN_GAMMA_HALF = 0.5 * Math.log(Math.PI); // ln Γ(1/2)

/** Q(1/2, x): power series for P when x < 1.5, a Lentz continued fraction for Q otherwise. */
function upperGammaQHalf(x: number): number {
  const a = 0.5;
  const front = Math.exp(-x + a * Math.log(x) - LN_GAMMA_HALF);
  if (x < a + 1) {
    let term = 1 / a;
    let sum = term;
    for (let k = 1; k < 500; k++) {
      term *= x / (a + k);
      sum += term;
      if (Math.abs(term) < Math.abs(sum) * 1e-16) break;
    }
    return 1 - front * sum;
  }
  const tiny = 1e-300;
  let bq = x + 1 - a;
  let cq = 1 / tiny;
  let dq = 1 / bq;
  let h = dq;
  for (let i = 1; i < 500; i++) {
    const an = -i * (i - a);
    bq += 2;
    dq = an * dq + bq;
    if (Math.abs(dq) < tiny) dq = tiny;
    cq = bq + an / cq;
    if (Math.abs(cq) < tiny) cq = tiny;
    dq = 1 / dq;
    const del = dq * cq;
    h *= del;
    if (Math.abs(del - 1) < 1e-16) break;
  }
  return front * h;
}

// Is run B really better than run A? Paired tests on the same validation examples (rows already
// aligned by id, see src/eval/align.ts), from top-1 predictions and the truth only, so compare
// reads the small top-5 arrays and never the full scores.
// - Paired bootstrap: resample examples with replacement, recompute both runs' macro-F1 and accuracy
//   on the same resample, and take the 2.5 / 97.5 percentiles of the difference B - A. macro-F1 is
//   recomputed from per-class TP/FP/FN counts, O(N + C) per resample, never O(N * C).
// - McNemar's test on per-example correctness: exact binomial when the discordant pairs are fewer
//   than 25, else chi-square with continuity correction.
import { Rng } from '../util/rng.ts';
import { macroF1FromCounts } from '../eval/metrics.ts';

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

function labelled(p: PairedPredictions): { t: Int32Array; a: Int32Array; b: Int32Array } {
  const { truth, predA, predB, numClasses: C } = p;
  if (predA.length !== truth.length || predB.length !== truth.length) {
    throw new RangeError(`paired predictions: ${truth.length} labels, ${predA.length} and ${predB.length} predictions`);
  }
  const keep: number[] = [];
  for (let i = 0; i < truth.length; i++) {
    if (truth[i] < 0) continue;
    if (truth[i] >= C || predA[i] < 0 || predA[i] >= C || predB[i] < 0 || predB[i] >= C) {
      throw new RangeError(`paired predictions: row ${i} has a class outside 0..${C - 1}`);
    }
    keep.push(i);
  }
  const pick = (x: Int32Array) => Int32Array.from(keep, (i) => x[i]);
  return { t: pick(truth), a: pick(predA), b: pick(predB) };
}

class Counts {
  readonly tp: Int32Array;
  readonly fp: Int32Array;
  readonly fn: Int32Array;
  correct = 0;
  constructor(C: number) {
    this.tp = new Int32Array(C);
    this.fp = new Int32Array(C);
    this.fn = new Int32Array(C);
  }
  reset(): void {
    this.tp.fill(0);
    this.fp.fill(0);
    this.fn.fill(0);
    this.correct = 0;
  }
  add(t: number, p: number): void {
    if (t === p) {
      this.tp[t]++;
      this.correct++;
    } else {
      this.fp[p]++;
      this.fn[t]++;
    }
  }
  macroF1(): number {
    return macroF1FromCounts(this.tp, this.fp, this.fn).macroF1;
  }
}

/** Linear-interpolated quantile of sorted values (numpy's default method). */
export function quantileSorted(sorted: Float64Array, q: number): number {
  const pos = q * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

/** Paired bootstrap confidence intervals of B - A in macro-F1 and accuracy. Deterministic per seed. */
export function pairedBootstrap(p: PairedPredictions, opts: BootstrapOptions = {}): BootstrapResult {
  const resamples = opts.resamples ?? 1000;
  const seed = opts.seed ?? 0;
  const confidence = opts.confidence ?? 0.95;
  if (!(Number.isInteger(resamples) && resamples >= 1)) throw new RangeError(`resamples must be a positive integer, got ${resamples}`);
  if (!(confidence > 0 && confidence < 1)) throw new RangeError(`confidence must be in (0, 1), got ${confidence}`);
  const { t, a, b } = labelled(p);
  const n = t.length;
  if (n === 0) throw new RangeError('paired bootstrap: no labelled examples');
  const A = new Counts(p.numClasses);
  const B = new Counts(p.numClasses);
  for (let i = 0; i < n; i++) {
    A.add(t[i], a[i]);
    B.add(t[i], b[i]);
  }
  const full = { fa: A.macroF1(), fb: B.macroF1(), acca: A.correct / n, accb: B.correct / n };

  // Each resample is a vector of multiplicities (how often each example was drawn), applied to
  // both runs' per-class counts in one sequential pass. Both runs' class sets (the macro-F1
  // denominators) depend on every drawn example, so all examples are visited, not just the
  // discordant ones.
  let rng = new Rng(seed, PURPOSE_BOOTSTRAP);
  const mult = new Int32Array(n);
  const scale = n / 4294967296;
  const dF1 = new Float64Array(resamples);
  const dAcc = new Float64Array(resamples);
  for (let s = 0; s < resamples; s++) {
    A.reset();
    B.reset();
    mult.fill(0);
    // rng.nextU32() inlined on local state (the same sfc32 steps as src/util/rng.ts, so the same
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
    const { tp: tpA, fp: fpA, fn: fnA } = A;
    const { tp: tpB, fp: fpB, fn: fnB } = B;
    let corrA = 0;
    let corrB = 0;
    for (let i = 0; i < n; i++) {
      const m = mult[i];
      if (m === 0) continue;
      const ti = t[i];
      const ai = a[i];
      const bi = b[i];
      if (ai === ti) {
        tpA[ti] += m;
        corrA += m;
      } else {
        fpA[ai] += m;
        fnA[ti] += m;
      }
      if (bi === ti) {
        tpB[ti] += m;
        corrB += m;
      } else {
        fpB[bi] += m;
        fnB[ti] += m;
      }
    }
    A.correct = corrA;
    B.correct = corrB;
    dF1[s] = B.macroF1() - A.macroF1();
    dAcc[s] = (B.correct - A.correct) / n;
  }
  dF1.sort();
  dAcc.sort();
  const qlo = (1 - confidence) / 2;
  const qhi = 1 - qlo;
  return {
    macro_f1: { a: full.fa, b: full.fb, diff: full.fb - full.fa, lo: quantileSorted(dF1, qlo), hi: quantileSorted(dF1, qhi) },
    accuracy: { a: full.acca, b: full.accb, diff: full.accb - full.acca, lo: quantileSorted(dAcc, qlo), hi: quantileSorted(dAcc, qhi) },
    resamples,
    confidence,
    seed,
    n,
  };
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
  const { t, a, b } = labelled(p);
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

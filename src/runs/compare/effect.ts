// The headline's statistics: is an effect real across training seeds AND validation examples?
//
// Input: S seed pairs (a baseline run and a variant run that differ only in the key under study,
// same seed, same split), each with its effect on the full validation set (delta_s) and, where the
// predictions are readable, its bootstrap replicates over validation examples (the resamples shared
// by all pairs scored on the same examples, see significance.ts).
//
// The estimate is the mean of the per-seed deltas. Its uncertainty has two parts (a crossed design:
// every pair is scored on the same examples, every example by every pair):
// - the examples: a validation set is one sample of images. The bootstrap variance of the mean over
//   pairs, B, also holds each pair's own example noise, which the seed level already sees, so the
//   part common to all pairs is taken as V_ex = (S B - A) / (S - 1), where A is the mean of the
//   pairs' own bootstrap variances (the method-of-moments split of a crossed random-effects
//   variance; counting both would make the interval too wide);
// - the seeds: the spread of the per-seed deltas, s, through Student's t with S - 1 degrees of
//   freedom: with 2-5 seeds s is itself rough, and a normal quantile or a bootstrap over so few
//   seeds gives intervals that miss far more often than 5 % (the coverage test shows it).
// Draws of the mean effect combine both: the example bootstrap's deviations scaled to V_ex, plus
// s / sqrt(S) times a t draw. The 95 % interval is their 2.5 / 97.5 percentiles, P(better) the share
// above 0 (for t this is the posterior of the mean under the usual flat prior). With one seed per
// point there is no seed level: the interval covers the examples only and says so.
import { Rng } from '../../util/rng.ts';
import { quantileSorted } from './significance.ts';
import { drawStudentT, studentTQuantile } from './student.ts';

export type EffectVerdict = 'better' | 'worse' | 'no effect' | 'cannot tell' | 'seed variance unknown';

export interface EffectInput {
  /** Per seed pair: variant minus baseline on the full validation set. */
  deltas: number[];
  /** Per seed pair: the bootstrap replicates of that delta over validation examples, or null when not read. */
  replicates: Float64Array[] | null;
  /** Validation examples the deltas were measured on (for the verdict's wording). */
  examples: number | null;
}

export interface EffectOptions {
  confidence?: number;
  /** Effects within +-minEffect count as "no effect" (default 0.01). */
  minEffect?: number;
  /** Draws of the mean effect (default 4000). */
  draws?: number;
  seed?: number;
  /** Power the "about N seeds" figure is for (default 0.8). */
  power?: number;
  /** What a pair is called in the verdict: "seeds", or "pairs" when other swept keys vary too. */
  unit?: string;
}

export interface SeedEffect {
  pairs: number;
  /** Mean of the per-pair deltas. */
  effect: number;
  lo: number;
  hi: number;
  confidence: number;
  /** P(the mean effect over seeds is above 0); null with one seed (unknown seed variance). */
  p_better: number | null;
  /** Standard deviation of the per-pair deltas (what seeds alone do to the effect); null with one pair. */
  seed_spread: number | null;
  /** Standard error of the mean from the seeds and from the shared validation examples. */
  seed_se: number | null;
  example_se: number | null;
  /** Pairs whose delta is above 0. */
  wins: number;
  /** Paired t-interval over the per-seed deltas alone (a cross-check, from 3 pairs). */
  t_check: { lo: number; hi: number } | null;
  verdict: EffectVerdict;
  /** Seeds at which an effect of this size would be resolved with the given power; null when not computable. */
  seeds_needed: number | null;
  /** When more seeds alone cannot resolve it: about how many times more validation examples would (with many seeds). */
  examples_factor: number | null;
  /** The verdict as a sentence ("cannot tell with 2 seeds: about 14 seeds would resolve an effect of this size"). */
  text: string;
}

/** Rng key for the seed-level t draws ("seed"). */
export const PURPOSE_SEED_LEVEL = 0x73656564;

const mean = (xs: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i];
  return s / xs.length;
};
const variance = (xs: ArrayLike<number>): number => {
  const m = mean(xs);
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += (xs[i] - m) ** 2;
  return s / (xs.length - 1);
};

/** The variance of the mean effect due to the shared validation examples (see the file comment). */
export function exampleVariance(replicates: Float64Array[]): { common: number; ofMean: number } {
  const S = replicates.length;
  const R = Math.min(...replicates.map((r) => r.length));
  const m = new Float64Array(R);
  for (let b = 0; b < R; b++) {
    let s = 0;
    for (const r of replicates) s += r[b];
    m[b] = s / S;
  }
  const B = R > 1 ? variance(m) : 0;
  if (S === 1) return { common: B, ofMean: B };
  const A = mean(replicates.map((r) => (R > 1 ? variance(r.subarray(0, R)) : 0)));
  return { common: Math.max(0, (S * B - A) / (S - 1)), ofMean: B };
}

/** Smallest number of seeds (2..1000) at which (t_{.975} + t_{power}) * SE is at most `target`; null beyond. */
export function seedsToResolve(target: number, seedVar: number, exVar: number, opts: { confidence?: number; power?: number } = {}): number | null {
  const conf = opts.confidence ?? 0.95;
  const power = opts.power ?? 0.8;
  if (!(target > 0)) return null;
  for (let m = 2; m <= 1000; m++) {
    const k = studentTQuantile(1 - (1 - conf) / 2, m - 1) + studentTQuantile(power, m - 1);
    if (k * Math.sqrt(exVar + seedVar / m) <= target) return m;
  }
  return null;
}

const f3 = (x: number): string => x.toFixed(3);

/** The headline effect of a variant over a baseline from S seed pairs. Deterministic for a given seed. */
export function seedEffect(input: EffectInput, opts: EffectOptions = {}): SeedEffect {
  const conf = opts.confidence ?? 0.95;
  const minEffect = opts.minEffect ?? 0.01;
  const draws = opts.draws ?? 4000;
  const power = opts.power ?? 0.8;
  const unit = opts.unit ?? 'seeds';
  const { deltas } = input;
  const S = deltas.length;
  if (S === 0) throw new RangeError('seedEffect: no seed pairs');
  const effect = mean(deltas);
  const wins = deltas.filter((d) => d > 0).length;
  const seedVar = S > 1 ? variance(deltas) : null;
  const reps = input.replicates?.length === S ? input.replicates : null;
  const ex = reps ? exampleVariance(reps) : null;
  // Example-level deviations of the mean, scaled to the common part.
  const R = reps ? Math.min(...reps.map((r) => r.length)) : 0;
  const dev = new Float64Array(R);
  if (reps && ex) {
    const k = ex.ofMean > 0 ? Math.sqrt(ex.common / ex.ofMean) : 0;
    for (let b = 0; b < R; b++) {
      let s = 0;
      for (const r of reps) s += r[b];
      dev[b] = k * (s / S - effect);
    }
  }
  const rng = new Rng(opts.seed ?? 0, PURPOSE_SEED_LEVEL);
  const seedSe = seedVar === null ? null : Math.sqrt(seedVar / S);
  const D = new Float64Array(draws);
  // A difference of two scores in [0, 1] lies in [-1, 1]: draws beyond are clamped (with two seeds
  // the t tails reach far past it).
  for (let b = 0; b < draws; b++) D[b] = Math.max(-1, Math.min(1, effect + (R ? dev[b % R] : 0) + (seedSe ? seedSe * drawStudentT(rng, S - 1) : 0)));
  D.sort();
  const qlo = (1 - conf) / 2;
  let lo = quantileSorted(D, qlo);
  let hi = quantileSorted(D, 1 - qlo);
  if (!R && seedSe === null) lo = hi = effect; // one pair without predictions: nothing to resample
  let above = 0;
  for (let b = 0; b < draws; b++) above += D[b] > 0 ? 1 : D[b] === 0 ? 0.5 : 0;
  const tCheck = S >= 3 && seedSe !== null ? (() => {
    const t = studentTQuantile(1 - qlo, S - 1);
    return { lo: Math.max(-1, effect - t * seedSe), hi: Math.min(1, effect + t * seedSe) };
  })() : null;

  let verdict: EffectVerdict;
  let text: string;
  let seedsNeeded: number | null = null;
  let examplesFactor: number | null = null;
  const exVar = ex?.common ?? 0;
  if (seedVar === null) {
    verdict = 'seed variance unknown';
    text = `seed variance unknown: one seed per point, so the interval covers the validation examples only${R ? ` ([${f3(lo)}, ${f3(hi)}])` : ''}; run more seeds (--sweep seed=1,2,3)`;
  } else if (deltas.every((d) => d === 0) && lo === 0 && hi === 0) {
    verdict = 'no effect';
    text = 'no effect: the paired runs score exactly the same (are they the same runs?)';
  } else if (lo > 0) {
    verdict = 'better';
    text = 'better';
  } else if (hi < 0) {
    verdict = 'worse';
    text = 'worse';
  } else if (lo > -minEffect && hi < minEffect) {
    verdict = 'no effect';
    text = `no effect: any effect is within ±${minEffect}`;
  } else {
    verdict = 'cannot tell';
    const size = Math.abs(effect);
    const k = studentTQuantile(1 - qlo, 1e9) + studentTQuantile(power, 1e9);
    // Resolve the effect's own size when it is large enough to matter, else whether it is within
    // +-minEffect ("no effect").
    const resolveNoEffect = size < minEffect / 2;
    const target = resolveNoEffect ? minEffect - size : size;
    const goal = resolveNoEffect ? `tell whether it is within ±${minEffect} (no effect)` : 'resolve an effect of this size';
    if (k * Math.sqrt(exVar) >= target) {
      examplesFactor = Math.ceil((k * k * exVar) / (target * target));
      text = `cannot tell with ${S} ${unit}: more seeds alone would not ${goal}: the validation set${input.examples ? ` (${input.examples} examples)` : ''} is too small; about ${examplesFactor}x more validation examples (and more seeds) would`;
    } else {
      const m = seedsToResolve(target, seedVar, exVar, { confidence: conf, power });
      seedsNeeded = m === null ? null : Math.max(m, S + 1);
      text = seedsNeeded === null
        ? `cannot tell with ${S} ${unit}: even 1000 ${unit} would not ${goal}`
        : `cannot tell with ${S} ${unit}: about ${seedsNeeded} ${unit} would ${goal}`;
    }
  }
  return {
    pairs: S, effect, lo, hi, confidence: conf,
    p_better: seedVar === null ? null : above / draws,
    seed_spread: seedVar === null ? null : Math.sqrt(seedVar),
    seed_se: seedSe, example_se: ex ? Math.sqrt(ex.common) : null,
    wins, t_check: tCheck, verdict, seeds_needed: seedsNeeded, examples_factor: examplesFactor, text,
  };
}

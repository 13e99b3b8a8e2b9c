// The headline's interval on synthetic runs with a known effect and known seed noise: it must cover
// the true effect about 95 % of the time, and call a zero effect better/worse only about 5 % of the
// time. Deterministic (every draw is seeded), a few seconds.
//
// The runs: a fresh validation set per repetition (C balanced classes, an image difficulty z shared
// by all runs), and per training run a seed offset u = a_seed + b_run (a shared by the baseline and
// variant of one seed, as the same initialisation and shuffling would be). An image is right when
// mu + u + noise * eps > z, wrong ones spread uniformly over the other classes. With balanced classes
// and uniform errors the population macro-F1 equals the accuracy, so the true effect over seeds and
// images is Phi(mu1 / s) - Phi(mu0 / s) with s^2 = 1 + noise^2 + var(u).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { exampleVariance, seedEffect, seedsToResolve } from '../../../src/runs/compare/effect.ts';
import { resampleMetrics } from '../../../src/runs/compare/significance.ts';
import { normalCdf, studentTCdf, studentTQuantile } from '../../../src/runs/compare/student.ts';
import { Rng } from '../../../src/util/rng.ts';

interface Design { N: number; C: number; S: number; mu0: number; mu1: number; sa: number; sb: number; noise: number }

function trueEffect(d: Design): number {
  const s = Math.sqrt(1 + d.noise ** 2 + d.sa ** 2 + d.sb ** 2);
  return normalCdf(d.mu1 / s) - normalCdf(d.mu0 / s);
}

/** One synthetic ablation: S seed pairs scored on one fresh validation set, through the real bootstrap and seedEffect. */
function ablation(rep: number, d: Design) {
  const rng = new Rng(2024, rep);
  const truth = Int32Array.from({ length: d.N }, (_x, i) => i % d.C);
  const z = Float64Array.from({ length: d.N }, () => rng.normal());
  const preds: Int32Array[] = [];
  for (let s = 0; s < d.S; s++) {
    const a = d.sa * rng.normal();
    for (const mu of [d.mu0, d.mu1]) {
      const u = a + d.sb * rng.normal();
      preds.push(Int32Array.from(truth, (t, i) => (mu + u + d.noise * rng.normal() > z[i] ? t : (t + 1 + rng.int(d.C - 1)) % d.C)));
    }
  }
  const m = resampleMetrics(truth, preds, d.C, { resamples: 200, seed: 0 });
  const deltas: number[] = [];
  const replicates: Float64Array[] = [];
  for (let s = 0; s < d.S; s++) {
    deltas.push(m.full[2 * s + 1].f1 - m.full[2 * s].f1);
    replicates.push(Float64Array.from(m.f1[2 * s + 1], (x, b) => x - m.f1[2 * s][b]));
  }
  return seedEffect({ deltas, replicates, examples: d.N }, { draws: 1000 });
}

function study(d: Design, reps: number) {
  const truth = trueEffect(d);
  let cover = 0;
  let called = 0;
  let quiet = 0;
  for (let r = 0; r < reps; r++) {
    const e = ablation(r, d);
    if (e.lo <= truth && truth <= e.hi) cover++;
    if (e.verdict === 'better' || e.verdict === 'worse') called++;
    if (e.verdict === 'cannot tell' || e.verdict === 'no effect') quiet++;
  }
  return { truth, cover: cover / reps, called: called / reps, quiet: quiet / reps };
}

test('the 95 % interval covers a known effect about 95 % of the time with 3 seeds and large seed noise', () => {
  // seed noise (sa, sb) about as large as the example noise: a bootstrap over 3 seeds would cover ~85 %
  const r = study({ N: 200, C: 10, S: 3, mu0: 0.5, mu1: 0.75, sa: 0.3, sb: 0.3, noise: 1 }, 200);
  assert.ok(r.truth > 0.05, `a real effect (${r.truth})`);
  assert.ok(r.cover >= 0.9 && r.cover <= 0.99, `coverage ${r.cover}`);
});

test('with small seed noise the interval is the validation examples\' and still covers about 95 %', () => {
  const r = study({ N: 200, C: 10, S: 4, mu0: 0.5, mu1: 0.8, sa: 0.3, sb: 0.03, noise: 1 }, 150);
  assert.ok(r.cover >= 0.9 && r.cover <= 0.99, `coverage ${r.cover}`);
  assert.ok(r.called > 0.3, `an effect of ${r.truth.toFixed(3)} on 200 images with little seed noise is often resolved (${r.called})`);
});

test('a zero effect is called better or worse about 5 % of the time, "cannot tell" or "no effect" otherwise', () => {
  const r = study({ N: 200, C: 10, S: 3, mu0: 0.5, mu1: 0.5, sa: 0.3, sb: 0.3, noise: 1 }, 200);
  assert.equal(r.truth, 0);
  assert.ok(r.called <= 0.1, `called ${r.called}`);
  assert.ok(r.quiet >= 0.9, `cannot tell / no effect ${r.quiet}`);
  assert.ok(Math.abs(r.called + r.quiet - 1) < 1e-12, 'with 3 seeds every verdict is one of the four');
});

test('one seed per point: seed variance unknown, no P(better), the interval over the examples only', () => {
  const e = ablation(1, { N: 200, C: 10, S: 1, mu0: 0.5, mu1: 0.9, sa: 0.3, sb: 0.3, noise: 1 });
  assert.equal(e.verdict, 'seed variance unknown');
  assert.equal(e.p_better, null);
  assert.equal(e.seed_spread, null);
  assert.ok(e.lo < e.effect && e.effect < e.hi, 'an interval over the examples');
  assert.match(e.text, /^seed variance unknown: one seed per point, so the interval covers the validation examples only \(\[/);
});

test('Student t quantiles and CDF match the tables', () => {
  const near = (a: number, b: number, tol: number) => assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);
  near(studentTQuantile(0.975, 1), 12.706204736174705, 1e-9);
  near(studentTQuantile(0.975, 2), 4.302652729749464, 1e-9);
  near(studentTQuantile(0.975, 10), 2.2281388519862744, 1e-9);
  near(studentTQuantile(0.8, 5), 0.9195437802408271, 1e-9);
  near(studentTQuantile(0.025, 4), -2.7764451051977987, 1e-9);
  near(studentTQuantile(0.975, Infinity), 1.959963984540054, 1e-6);
  near(studentTCdf(2.0, 3), 0.9303370157205784, 1e-12);
  near(normalCdf(1), 0.8413447460685429, 1e-7);
});

test('the paired t cross-check and the words of a verdict, by hand', () => {
  // deltas 0.2, 0.25, 0.3 with no example replicates: the interval is the t interval itself
  const e = seedEffect({ deltas: [0.2, 0.25, 0.3], replicates: null, examples: null }, { draws: 20000 });
  const half = 4.302652729749464 * (0.05 / Math.sqrt(3));
  assert.ok(Math.abs(e.effect - 0.25) < 1e-12);
  assert.ok(Math.abs(e.t_check!.lo - (0.25 - half)) < 1e-9 && Math.abs(e.t_check!.hi - (0.25 + half)) < 1e-9);
  assert.ok(Math.abs(e.lo - e.t_check!.lo) < 0.01 && Math.abs(e.hi - e.t_check!.hi) < 0.01, `draws [${e.lo}, ${e.hi}] approximate the t interval`);
  assert.equal(e.verdict, 'better');
  assert.equal(e.wins, 3);
  assert.ok(e.p_better! > 0.97 && e.p_better! < 1);
  assert.deepEqual(seedEffect({ deltas: [0.2, 0.25, 0.3], replicates: null, examples: null }, { draws: 20000 }), e, 'deterministic');
  assert.equal(seedEffect({ deltas: [0.1, 0.2, 0.3], replicates: null, examples: null }).verdict, 'cannot tell', 'the same mean spread three times wider');

  const two = seedEffect({ deltas: [0.07, -0.25], replicates: null, examples: 61 });
  assert.equal(two.verdict, 'cannot tell');
  assert.equal(two.t_check, null, 'no t cross-check below 3 seeds');
  assert.match(two.text, /^cannot tell with 2 seeds: about \d+ seeds would resolve an effect of this size$/);
  assert.ok(two.lo >= -1 && two.hi <= 1, 'a difference of macro-F1 stays in [-1, 1]');
  const n = two.seeds_needed!;
  const sd = Math.sqrt(((0.07 + 0.09) ** 2 + (-0.25 + 0.09) ** 2) / 1);
  const k = (m: number) => studentTQuantile(0.975, m - 1) + studentTQuantile(0.8, m - 1);
  assert.ok(k(n) * sd / Math.sqrt(n) <= 0.09 && k(n - 1) * sd / Math.sqrt(n - 1) > 0.09, `${n} is the smallest count that resolves 0.09 with sd ${sd}`);

  const tiny = seedEffect({ deltas: [0.001, -0.002, 0.0015, 0], replicates: null, examples: null });
  assert.equal(tiny.verdict, 'no effect');
  assert.equal(tiny.text, 'no effect: any effect is within ±0.01');
  const flat = seedEffect({ deltas: [0, 0], replicates: null, examples: null });
  assert.equal(flat.verdict, 'no effect');
  assert.match(flat.text, /score exactly the same/);
});

test('seedsToResolve and the example share of the variance', () => {
  assert.equal(seedsToResolve(0.05, 0, 0), 2, 'no noise: two seeds resolve anything');
  assert.equal(seedsToResolve(0.01, 0, 0.01), null, 'the examples alone are too noisy: no seed count helps');
  const m = seedsToResolve(0.01, 0.01 ** 2, 0)!;
  assert.ok(m >= 8 && m <= 12, `an effect as large as the seed spread needs about (1.96 + 0.84)^2 = 8 seeds, a few more for t (${m})`);
  // identical replicates across pairs: all of the example variance is common; independent ones: none
  const rng = new Rng(3);
  const r = Float64Array.from({ length: 4000 }, () => rng.normal());
  const same = exampleVariance([r, r, r]);
  assert.ok(Math.abs(same.common - same.ofMean) < 1e-12 && same.common > 0.9);
  const indep = exampleVariance([0, 1, 2].map(() => Float64Array.from({ length: 4000 }, () => rng.normal())));
  assert.ok(indep.common < 0.05, `independent example noise is the seeds' to count (${indep.common})`);
});

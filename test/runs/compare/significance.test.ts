import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mcnemar, mcnemarFromCounts, pairedBootstrap, chiSquare1Survival, quantileSorted, PURPOSE_BOOTSTRAP } from '../../../src/runs/compare/significance.ts';
import { MetricAccumulator } from '../../../src/eval/metrics.ts';
import { Rng } from '../../../src/util/rng.ts';

const i32 = (xs: number[]) => Int32Array.from(xs);
const near = (a: number, b: number, tol = 1e-12) => assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);

test('McNemar exact binomial below 25 discordant pairs', () => {
  // b=10, c=2: p = 2 * (C(12,0) + C(12,1) + C(12,2)) / 2^12 = 2 * 79 / 4096
  const r = mcnemarFromCounts(10, 2);
  assert.equal(r.method, 'exact');
  near(r.p, (2 * 79) / 4096);
  near(mcnemarFromCounts(2, 10).p, (2 * 79) / 4096);
  // b=17, c=7 (24 pairs): 2 * sum_{i<=7} C(24,i) / 2^24
  near(mcnemarFromCounts(17, 7).p, 0.06391465663909912);
  assert.equal(mcnemarFromCounts(0, 0).p, 1);
  assert.equal(mcnemarFromCounts(5, 5).p, 1, 'capped at 1');
});

test('McNemar chi-square with continuity correction from 25 discordant pairs', () => {
  // b=30, c=10: (|30-10|-1)^2/40 = 9.025; p = erfc(sqrt(9.025/2)) = 0.0026631192591385...
  const r = mcnemarFromCounts(30, 10);
  assert.equal(r.method, 'chi2');
  near(r.statistic!, 9.025);
  near(r.p, 0.002663119259138554, 1e-13);
  near(mcnemarFromCounts(12, 13).p, 1); // statistic 0
  near(chiSquare1Survival(3.841458820694124), 0.05, 1e-12); // the 95 % critical value
  near(chiSquare1Survival(0.5), 0.4795001221869535, 1e-13); // series branch
  near(chiSquare1Survival(30), 4.320463057827492e-8, 1e-20); // continued fraction far tail
});

test('McNemar counts discordant examples and ignores unlabeled rows', () => {
  // A right / B wrong on rows 0,1,2; A wrong / B right on row 3; both right on 4; both wrong on 5
  const r = mcnemar({ truth: i32([0, 1, 2, 0, 1, 2, -1]), predA: i32([0, 1, 2, 1, 1, 0, 0]), predB: i32([1, 0, 0, 0, 1, 1, 2]), numClasses: 3 });
  assert.deepEqual([r.b, r.c, r.n, r.method], [3, 1, 6, 'exact']);
  near(r.p, Math.min(1, (2 * (1 + 4)) / 16));
});

function randomPair(seed: number, n: number, C: number, accA: number, accB: number) {
  const rng = new Rng(seed);
  const truth = Int32Array.from({ length: n }, () => rng.int(C));
  const pick = (acc: number) => Int32Array.from(truth, (t) => (rng.next() < acc ? t : rng.int(C)));
  return { truth, predA: pick(accA), predB: pick(accB), numClasses: C };
}

test('bootstrap: full-set values match the metrics, the CI holds the observed difference, seeds repeat', () => {
  const p = randomPair(5, 2000, 60, 0.55, 0.62);
  const r = pairedBootstrap(p, { resamples: 1000, seed: 42 });
  const mA = new MetricAccumulator(60, false);
  mA.add(p.predA, 1, p.truth);
  const mB = new MetricAccumulator(60, false);
  mB.add(p.predB, 1, p.truth);
  near(r.macro_f1.a, mA.finish().macro_f1);
  near(r.macro_f1.b, mB.finish().macro_f1);
  near(r.accuracy.diff, mB.finish().accuracy - mA.finish().accuracy);
  for (const m of [r.macro_f1, r.accuracy]) {
    assert.ok(m.lo < m.diff && m.diff < m.hi, `${m.lo} < ${m.diff} < ${m.hi}`);
    assert.ok(m.hi - m.lo < 0.1, 'a 2000-example interval is narrow');
  }
  assert.deepEqual(pairedBootstrap(p, { resamples: 1000, seed: 42 }), r);
  assert.notDeepEqual(pairedBootstrap(p, { resamples: 1000, seed: 43 }).accuracy, r.accuracy);
});

test('bootstrap of a run against itself is exactly [0, 0]; a uniformly better run is exactly [1, 1] in accuracy', () => {
  const p = randomPair(6, 500, 20, 0.5, 0.5);
  const same = pairedBootstrap({ ...p, predB: p.predA }, { resamples: 1000, seed: 1 });
  assert.deepEqual([same.macro_f1.lo, same.macro_f1.hi, same.accuracy.lo, same.accuracy.hi, same.macro_f1.diff], [0, 0, 0, 0, 0]);
  const wrong = Int32Array.from(p.truth, (t) => (t + 1) % 20);
  const better = pairedBootstrap({ ...p, predA: wrong, predB: p.truth }, { resamples: 1000, seed: 1 });
  assert.deepEqual([better.accuracy.lo, better.accuracy.hi], [1, 1]);
  assert.deepEqual([better.macro_f1.lo, better.macro_f1.hi], [1, 1]);
  assert.throws(() => pairedBootstrap({ ...p, predB: p.predA.subarray(1) }), RangeError);
});

test('percentiles interpolate linearly, as numpy.percentile', () => {
  const s = Float64Array.from([1, 2, 3, 4, 5]);
  assert.equal(quantileSorted(s, 0.025), 1.1);
  assert.equal(quantileSorted(s, 0.975), 4.9);
  assert.equal(quantileSorted(s, 0.5), 3);
});

test('bootstrap intervals equal a naive recomputation of every resample with MetricAccumulator', () => {
  const p = randomPair(8, 300, 15, 0.5, 0.6);
  const R = 60;
  const rng = new Rng(77, PURPOSE_BOOTSTRAP);
  const dF1: number[] = [];
  const dAcc: number[] = [];
  for (let s = 0; s < R; s++) {
    const idx = Int32Array.from({ length: 300 }, () => Math.floor(rng.nextU32() * (300 / 4294967296)));
    const pick = (x: Int32Array) => Int32Array.from(idx, (i) => x[i]);
    const t = pick(p.truth);
    const [ma, mb] = [pick(p.predA), pick(p.predB)].map((pr) => {
      const acc = new MetricAccumulator(15, false);
      acc.add(pr, 1, t);
      return acc.finish();
    });
    dF1.push(mb.macro_f1 - ma.macro_f1);
    dAcc.push(mb.accuracy - ma.accuracy);
  }
  const q = (xs: number[], at: number) => quantileSorted(Float64Array.from(xs).sort(), at);
  const r = pairedBootstrap(p, { resamples: R, seed: 77 });
  near(r.macro_f1.lo, q(dF1, 0.025), 1e-12);
  near(r.macro_f1.hi, q(dF1, 0.975), 1e-12);
  near(r.accuracy.lo, q(dAcc, 0.025), 1e-12);
  near(r.accuracy.hi, q(dAcc, 0.975), 1e-12);
});

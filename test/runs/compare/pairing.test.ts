// Pairing by id and class id, the verdicts, and the one batched bootstrap.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classMapping, pairMany, pairRuns, preparePair } from '../../../src/runs/compare/pairing.ts';
import { pairedBootstrap, pairedBootstrapMany } from '../../../src/runs/compare/significance.ts';
import { UserError } from '../../../src/errors.ts';
import { shuffled, synthPredictions } from './fixture.ts';
import { CLS, side } from './helpers.ts';

test('pairing aligns by id: shuffling a run\'s rows changes nothing', () => {
  const a = synthPredictions(400, 8, 0.5, 1);
  const b = synthPredictions(400, 8, 0.7, 2);
  const straight = pairRuns(side('A', a, CLS), side('B', b, CLS), 'species');
  const mixed = pairRuns(side('A', a, CLS), side('B', shuffled(b, 11), CLS), 'species');
  assert.equal(straight.comparable, true);
  assert.deepEqual(mixed, straight);
  if (!straight.comparable) return;
  assert.equal(straight.n, 400);
  assert.equal(straight.bootstrap.resamples, 1000);
  assert.ok(straight.bootstrap.macro_f1.lo > 0, 'a 20-point accuracy gain on 400 examples is real');
  assert.equal(straight.verdict, 'beyond example noise');
  assert.match(straight.summary, /^\+0\.\d{3} macro-F1 \[0\.\d{3}, 0\.\d{3}\], McNemar p=\S+: beyond example noise$/);
  // the shuffle really moved rows: B's accuracy against A's truth in row order would be near chance
  const s = shuffled(b, 11);
  const byRow = s.pred.filter((p, i) => p === a.labels[i]).length / 400;
  assert.ok(Math.abs(byRow - straight.bootstrap.accuracy.b) > 0.3, `row order ${byRow} vs aligned ${straight.bootstrap.accuracy.b}`);
});

test('pairing by hand: 10 examples, B fixes 3 of A\'s errors and breaks none', () => {
  const ids = Array.from({ length: 10 }, (_x, i) => i);
  const labels = [0, 1, 2, 3, 0, 1, 2, 3, 0, 1];
  const predA = [0, 1, 2, 3, 0, 1, 0, 0, 1, 0]; // 6 right
  const predB = [0, 1, 2, 3, 0, 1, 2, 3, 0, 0]; // 9 right
  const r = pairRuns(side('A', { ids, labels, pred: predA }, [0, 1, 2, 3]), side('B', { ids: [...ids].reverse(), labels: [...labels].reverse(), pred: [...predB].reverse() }, [0, 1, 2, 3]), 'species');
  assert.ok(r.comparable);
  if (!r.comparable) return;
  assert.equal(r.mcnemar.b, 0);
  assert.equal(r.mcnemar.c, 3);
  assert.equal(r.mcnemar.method, 'exact');
  assert.equal(r.mcnemar.p, 0.25); // 2 * (1/2)^3
  assert.ok(Math.abs(r.bootstrap.accuracy.diff - 0.3) < 1e-12);
  assert.equal(r.verdict, r.bootstrap.macro_f1.lo > 0 || r.bootstrap.macro_f1.hi < 0 ? 'beyond example noise' : 'within example noise');
});

test('identical predictions are within example noise', () => {
  const a = synthPredictions(200, 8, 0.6, 1);
  const r = pairRuns(side('A', a, CLS), side('B', shuffled(a, 3), CLS), 'species');
  assert.ok(r.comparable && r.verdict === 'within example noise' && r.bootstrap.macro_f1.diff === 0 && r.mcnemar.p === 1);
});

test('different validation sets are not comparable pairwise, and the reason names the split seed', () => {
  const a = synthPredictions(100, 8, 0.6, 1);
  const b = synthPredictions(100, 8, 0.6, 2);
  const bIds = { ...b, ids: b.ids.map((x, i) => (i < 12 ? `other${i}` : x)).slice(0, 95), labels: b.labels.slice(0, 95), pred: b.pred.slice(0, 95) };
  const r = pairRuns(side('A', a, CLS, { 'data.val.seed': 139 }), side('B', bIds, CLS, { 'data.val.seed': 7 }), 'species');
  assert.equal(r.comparable, false);
  assert.match(!r.comparable ? r.reason : '', /different validation sets: 17 ids only in the baseline, 12 only in this run — their configs differ in data\.val\.seed \(139 vs 7\)/);
  const same = pairRuns(side('A', a, CLS, { 'data.val.seed': 139 }), side('B', bIds, CLS, { 'data.val.seed': 139 }), 'species');
  assert.match(!same.comparable ? same.reason : '', /different data\.val\.seed, or from different data\?/);
});

test('unlabelled splits and label disagreements are not comparable; different class sets are a user error', () => {
  const a = synthPredictions(50, 8, 0.6, 1);
  const noLabels = { ...side('B', a, CLS), labels: null };
  assert.match((pairRuns(side('A', a, CLS), noLabels, 'species') as { reason: string }).reason, /no labels/);
  const relabelled = { ...a, labels: a.labels.map((l, i) => (i < 5 ? (l + 1) % 8 : l)) };
  assert.match((pairRuns(side('A', a, CLS), side('B', relabelled, CLS), 'species') as { reason: string }).reason, /different true labels in 5 of 50 rows/);
  assert.throws(() => pairRuns(side('A', a, CLS), side('B', a, [...CLS.slice(0, 7), 'zz']), 'species'),
    (e: Error) => e instanceof UserError && /different class sets at level "species"/.test(e.message) && /"c7"/.test(e.message) && /"zz"/.test(e.message));
});

test('the same classes in another column order are remapped, not rejected', () => {
  const a = synthPredictions(300, 8, 0.6, 1);
  const b = synthPredictions(300, 8, 0.65, 2);
  const perm = [3, 0, 7, 1, 6, 2, 5, 4]; // B's column j holds class CLS[perm[j]]
  const inv = perm.map((_x, c) => perm.indexOf(c));
  const bPermuted = { ...b, labels: b.labels.map((c) => inv[c]), pred: b.pred.map((c) => inv[c]) };
  assert.deepEqual([...classMapping({ id: 'A', classes: CLS }, { id: 'B', classes: perm.map((c) => CLS[c]) }, 'species')!], perm);
  assert.deepEqual(pairRuns(side('A', a, CLS), side('B', bPermuted, perm.map((c) => CLS[c])), 'species'), pairRuns(side('A', a, CLS), side('B', b, CLS), 'species'));
});

test('the batched bootstrap gives exactly what pairedBootstrap gives run by run', () => {
  const a = synthPredictions(150, 8, 0.5, 1);
  const truth = Int32Array.from(a.labels.map((l, i) => (i % 17 === 3 ? -1 : l))); // a few unlabelled rows are left out
  const predA = Int32Array.from(a.pred);
  const bs = [2, 3, 4].map((s) => Int32Array.from(synthPredictions(150, 8, 0.45 + 0.1 * s, s).pred));
  const many = pairedBootstrapMany(truth, predA, bs, 8, { resamples: 300, seed: 5 });
  bs.forEach((predB, k) => assert.deepEqual(many[k], pairedBootstrap({ truth, predA, predB, numClasses: 8 }, { resamples: 300, seed: 5 })));
  // and pairMany agrees with pairRuns, pairs that do not pair keeping their reason
  const b = shuffled(synthPredictions(150, 8, 0.7, 2), 4);
  const A = side('A', a, CLS);
  const other = side('C', { ...b, ids: b.ids.map((x) => `${x}-other`) }, CLS);
  const res = pairMany(A, [{ side: { id: 'B', tta: 1 }, prepared: preparePair(A, side('B', b, CLS), 'species') }, { side: { id: 'C', tta: 1 }, prepared: preparePair(A, other, 'species') }]);
  assert.deepEqual(res[0], pairRuns(A, side('B', b, CLS), 'species'));
  assert.equal(res[1].comparable, false);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { topK, MetricAccumulator, ConsistencyAccumulator, firstColumn } from '../../src/eval/metrics.ts';
import { Rng } from '../../src/util/rng.ts';
import { pythonMissing, runPython } from './python.ts';

const i32 = (xs: number[]) => Int32Array.from(xs);
/** Metrics of top-1 predictions (k = 1), for tests on fewer than 5 classes. */
function top1Metrics(truth: number[], pred: number[], C: number) {
  const acc = new MetricAccumulator(C, false);
  acc.add(i32(pred), 1, i32(truth));
  return acc;
}

test("macro-F1 on scikit-learn's documented example", () => {
  // sklearn f1_score docs: y_true=[0,1,2,0,1,2], y_pred=[0,2,1,0,0,1], average='macro' -> 0.2666...
  const m = top1Metrics([0, 1, 2, 0, 1, 2], [0, 2, 1, 0, 0, 1], 3).finish();
  assert.ok(Math.abs(m.macro_f1 - 0.26666666666666666) < 1e-12, String(m.macro_f1));
  assert.equal(m.accuracy, 2 / 6);
  assert.equal(m.count, 6);
  assert.equal(m.classes, 3);
  assert.equal(m.top5, null, 'fewer than 5 classes');
});

test('classes absent from truth and predictions do not count; unpredicted true classes score 0', () => {
  // class 0: tp 2, fp 2 -> F1 2/3; class 1: never predicted -> 0; classes 2..4 absent -> excluded
  const a = top1Metrics([0, 0, 1, 1], [0, 0, 0, 0], 5);
  const m = a.finish();
  assert.equal(m.classes, 2);
  assert.ok(Math.abs(m.macro_f1 - (2 / 3 + 0) / 2) < 1e-12);
  const pc = a.perClass();
  assert.deepEqual(Array.from(pc.f1), [2 / 3, 0, 0, 0, 0]);
  assert.deepEqual(Array.from(pc.support), [2, 2, 0, 0, 0]);
  assert.deepEqual(Array.from(pc.predicted), [4, 0, 0, 0, 0]);
  assert.deepEqual(Array.from(pc.precision), [0.5, 0, 0, 0, 0]);
  assert.deepEqual(Array.from(pc.recall), [1, 0, 0, 0, 0]);
  // A class that only appears as a (wrong) prediction counts, with F1 0.
  const b = top1Metrics([0, 0], [0, 3], 5).finish();
  assert.equal(b.classes, 2);
  assert.ok(Math.abs(b.macro_f1 - (2 / 3) / 2) < 1e-12);
});

test('top-5 accuracy, unlabeled rows, streaming over blocks equals one block', () => {
  const C = 8;
  // rows: truth at rank 1, rank 3, rank 5, not in top 5; one unlabeled row
  const top = i32([
    2, 0, 1, 3, 4,
    0, 1, 2, 3, 4,
    7, 6, 5, 4, 3,
    0, 1, 2, 3, 4,
    1, 2, 3, 4, 5,
  ]);
  const truth = i32([2, 2, 3, 7, -1]);
  const whole = new MetricAccumulator(C);
  whole.add(top, 5, truth);
  const m = whole.finish();
  assert.equal(m.count, 4);
  assert.equal(whole.unlabeled, 1);
  assert.equal(m.accuracy, 1 / 4);
  assert.equal(m.top5, 3 / 4);
  const split = new MetricAccumulator(C);
  split.add(top.subarray(0, 10), 5, truth.subarray(0, 2));
  split.add(top.subarray(10), 5, truth.subarray(2));
  assert.deepEqual(split.finish(), m);
  assert.throws(() => whole.add(i32([1, 2]), 2, i32([0])), /needs 5 predicted columns/);
  assert.throws(() => whole.add(i32([9]), 1, i32([0])), RangeError);
});

test('topK: best first, ties to the lower column, NaN last', () => {
  const s = new Float32Array([
    1, 5, 3, 5, 2,
    NaN, 0, 0, -Infinity, 0,
    -1, -1, -1, -1, -1,
  ]);
  assert.deepEqual(Array.from(topK(s, 3, 5, 3)), [1, 3, 2, 1, 2, 4, 0, 1, 2]);
  assert.deepEqual(Array.from(topK(s, 3, 5, 5)).slice(5, 10), [1, 2, 4, 0, 3]);
  assert.deepEqual(Array.from(topK(s, 3, 5, 1)), [1, 1, 0]);
  assert.throws(() => topK(s, 3, 5, 6), RangeError);
});

test('topK agrees with a full stable sort on random rows with many ties', () => {
  const rng = new Rng(3);
  const rows = 40;
  const cols = 300;
  const s = Float32Array.from({ length: rows * cols }, () => rng.int(50) / 4);
  const got = topK(s, rows, cols, 5);
  for (let r = 0; r < rows; r++) {
    const idx = Array.from({ length: cols }, (_, j) => j).sort((a, b) => s[r * cols + b] - s[r * cols + a] || a - b);
    assert.deepEqual(Array.from(got.subarray(r * 5, r * 5 + 5)), idx.slice(0, 5));
  }
  assert.deepEqual(firstColumn(got, rows, 5), Int32Array.from({ length: rows }, (_, r) => got[r * 5]));
});

test('hierarchy consistency: species in predicted genus in predicted family', () => {
  // species 0,1 -> genus 0; species 2 -> genus 1; genus 0 -> family 0; genus 1 -> family 1
  const c = new ConsistencyAccumulator([i32([0, 0, 1]), i32([0, 1])]);
  c.add([i32([0, 1, 2, 2]), i32([0, 0, 1, 0]), i32([0, 0, 1, 1])]);
  // row 0 ok, row 1 ok, row 2 ok, row 3: genus 0 is not species 2's parent
  c.add([i32([2]), i32([1]), i32([0])]); // genus 1's family is 1, not 0
  assert.equal(c.finish(), 3 / 5);
});

const missing = pythonMissing(['numpy', 'sklearn']);
test('macro-F1, accuracy and per-class F1 match scikit-learn on random data', { skip: missing }, () => {
  const rng = new Rng(11);
  const cases = [[500, 40], [3000, 400], [50, 200]].map(([n, C]) => {
    // Skewed labels so that many classes are absent from truth, predictions or both.
    const truth = Int32Array.from({ length: n }, () => Math.floor(C * rng.next() ** 2));
    const pred = Int32Array.from(truth, (t) => (rng.next() < 0.4 ? t : Math.floor(C * rng.next() ** 3)));
    return { n, C, truth, pred };
  });
  // One python process for all cases: importing sklearn costs seconds.
  const theirs = JSON.parse(runPython(`import json, sys, numpy as np
from sklearn.metrics import f1_score, accuracy_score
out = []
for d in json.load(sys.stdin):
    t = np.array(d['t']); p = np.array(d['p'])
    out.append({'macro': f1_score(t, p, average='macro'), 'acc': accuracy_score(t, p),
      'per': f1_score(t, p, average=None, labels=list(range(d['C'])), zero_division=0).tolist()})
print(json.dumps(out))`, [], JSON.stringify(cases.map((c) => ({ t: Array.from(c.truth), p: Array.from(c.pred), C: c.C })))));
  cases.forEach(({ n, C, truth, pred }, k) => {
    const out = theirs[k];
    const acc = new MetricAccumulator(C, false);
    acc.add(pred, 1, truth);
    const ours = acc.finish();
    assert.ok(Math.abs(ours.macro_f1 - out.macro) < 1e-12, `n=${n} C=${C}: ${ours.macro_f1} vs ${out.macro}`);
    assert.ok(Math.abs(ours.accuracy - out.acc) < 1e-12);
    const per = acc.perClass().f1;
    for (let c = 0; c < C; c++) assert.ok(Math.abs(per[c] - out.per[c]) < 1e-12, `class ${c}`);
  });
});

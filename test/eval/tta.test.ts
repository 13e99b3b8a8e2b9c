import { test } from 'node:test';
import assert from 'node:assert/strict';
import { reduceTta, TtaAccumulator, logSoftmaxRows, softmaxRows, logSumExp } from '../../src/eval/tta.ts';

const f = (xs: number[]) => Float32Array.from(xs);
function close(a: ArrayLike<number>, b: number[], tol = 1e-6, what = '') {
  assert.equal(a.length, b.length);
  for (let i = 0; i < b.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= tol, `${what}[${i}]: ${a[i]} vs ${b[i]}`);
}

test('logits reduction is the mean of the views', () => {
  const r = reduceTta([f([1, 2, 3, 4]), f([3, 0, 1, 0]), f([2, 1, 2, 2])], 2, 2, 'logits');
  assert.equal(r.kind, 'logits');
  close(r.scores, [2, 1, 2, 2]);
});

test('probs reduction is the log of the mean probability', () => {
  // view 1 row: probs [1/4, 3/4]; view 2: [3/4, 1/4]; mean [1/2, 1/2]
  const r = reduceTta([f([0, Math.log(3)]), f([Math.log(3), 0])], 1, 2, 'probs');
  assert.equal(r.kind, 'log_probs');
  close(r.scores, [Math.log(0.5), Math.log(0.5)]);
  // three classes, hand computed: softmax([0,0,0]) = 1/3 each; softmax([ln 2, 0, 0]) = [1/2, 1/4, 1/4]
  const s = reduceTta([f([0, 0, 0]), f([Math.log(2), 0, 0])], 1, 3, 'probs');
  close(s.scores, [Math.log((1 / 3 + 1 / 2) / 2), Math.log((1 / 3 + 1 / 4) / 2), Math.log((1 / 3 + 1 / 4) / 2)]);
});

test('probs reduction stays finite where probabilities underflow', () => {
  const r = reduceTta([f([1000, -1000]), f([1000, -1000])], 1, 2, 'probs');
  close(r.scores, [0, -2000], 1e-3);
  const x = reduceTta([f([1000, -1000]), f([-1000, 1000])], 1, 2, 'probs');
  close(x.scores, [Math.log(0.5), Math.log(0.5)], 1e-6);
  assert.equal(logSumExp([1000, 1000], 0, 2), 1000 + Math.log(2));
});

test('log-probability views give the same probs reduction as their logits', () => {
  const views = [f([1, 2, 0.5, -1, 3, 0]), f([0.2, 0.1, 4, 2, 2, 2])];
  const a = reduceTta(views, 2, 3, 'probs');
  const b = reduceTta(views.map((v) => logSoftmaxRows(v, 2, 3)), 2, 3, 'probs');
  close(b.scores, Array.from(a.scores), 1e-6);
  // and a single view's probs reduction is its log-softmax
  close(reduceTta([views[0]], 2, 3, 'probs').scores, Array.from(logSoftmaxRows(views[0], 2, 3)), 1e-6);
});

test('softmax rows sum to 1; accumulator rejects bad shapes and empty finish', () => {
  const p = softmaxRows(f([1, 2, 3, 100, 100, -5]), 2, 3);
  close([p[0] + p[1] + p[2], p[3] + p[4] + p[5]], [1, 1]);
  close([p[3], p[4]], [0.5, 0.5]);
  const acc = new TtaAccumulator(2, 3, 'logits');
  assert.throws(() => acc.finish(), /no views/);
  assert.throws(() => acc.add(f([1, 2])), RangeError);
});

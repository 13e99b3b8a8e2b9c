import { test } from 'node:test';
import assert from 'node:assert/strict';
import { logitAdjust, logPriorFromCounts, ancestorMaps, hierarchicalScores } from '../../src/eval/decode.ts';
import { topK } from '../../src/eval/metrics.ts';
import { UserError } from '../../src/errors.ts';

const f = (xs: number[]) => Float32Array.from(xs);
const i32 = (xs: number[]) => Int32Array.from(xs);
function close(a: ArrayLike<number>, b: number[], tol = 1e-5) {
  assert.equal(a.length, b.length);
  for (let i = 0; i < b.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= tol, `[${i}]: ${a[i]} vs ${b[i]}`);
}

test('logit adjustment subtracts tau * log prior and can flip the prediction to the rare class', () => {
  const lp = logPriorFromCounts([90, 10]);
  close(lp, [Math.log(0.9), Math.log(0.1)], 1e-12);
  const s = f([2, 1]);
  assert.equal(topK(s, 1, 2, 1)[0], 0);
  const adj = logitAdjust(s, 1, 2, lp, 1);
  close(adj, [2 - Math.log(0.9), 1 - Math.log(0.1)]);
  assert.equal(topK(adj, 1, 2, 1)[0], 1);
  close(logitAdjust(s, 1, 2, lp, 0), [2, 1]);
  close(logitAdjust(f([0, 0, 5, 5]), 2, 2, lp, 0.5), [-0.5 * Math.log(0.9), -0.5 * Math.log(0.1), 5 - 0.5 * Math.log(0.9), 5 - 0.5 * Math.log(0.1)]);
});

test('a class with no training count needs smoothing', () => {
  assert.throws(() => logPriorFromCounts([3, 0, 1]), (e: Error) => e instanceof UserError && /class 1 has no training images/.test(e.message));
  close(logPriorFromCounts([3, 0, 1], 1), [Math.log(4 / 7), Math.log(1 / 7), Math.log(2 / 7)], 1e-12);
});

// species 0,1 in genus 0, species 2 in genus 1; genus 0 in family 0, genus 1 in family 1
const parents = [i32([0, 0, 1]), i32([0, 1])];
const L = Math.log;

test('ancestor maps follow parents up the levels', () => {
  const anc = ancestorMaps(parents, 3);
  assert.deepEqual(anc.map((a) => Array.from(a)), [[0, 1, 2], [0, 0, 1], [0, 0, 1]]);
});

test('hierarchical decoding: weighted sum of own, genus and family log-probabilities', () => {
  const anc = ancestorMaps(parents, 3);
  const levels = [
    { scores: f([L(0.5), L(0.3), L(0.2)]), cols: 3, kind: 'log_probs' as const },
    { scores: f([L(0.4), L(0.6)]), cols: 2, kind: 'log_probs' as const },
    { scores: f([L(0.45), L(0.55)]), cols: 2, kind: 'log_probs' as const },
  ];
  const eq = hierarchicalScores(levels, anc, [1, 1, 1], 1);
  close(eq, [L(0.5 * 0.4 * 0.45), L(0.3 * 0.4 * 0.45), L(0.2 * 0.6 * 0.55)]);
  assert.equal(topK(eq, 1, 3, 1)[0], 0);
  // Weighing the coarse levels twice moves the choice to the species of the likelier genus.
  const heavy = hierarchicalScores(levels, anc, [1, 2, 2], 1);
  close(heavy, [L(0.5) + 2 * L(0.4) + 2 * L(0.45), L(0.3) + 2 * L(0.4) + 2 * L(0.45), L(0.2) + 2 * L(0.6) + 2 * L(0.55)]);
  assert.equal(topK(heavy, 1, 3, 1)[0], 2);
  // Species weight only = plain species decoding.
  close(hierarchicalScores(levels, anc, [1, 0, 0], 1), [L(0.5), L(0.3), L(0.2)]);
  // Logits are normalised first: shifting a level's logits by a constant changes nothing.
  const asLogits = levels.map((lv) => ({ ...lv, scores: lv.scores.map((x) => x + 7), kind: 'logits' as const }));
  close(hierarchicalScores(asLogits, anc, [1, 2, 2], 1), Array.from(heavy));
});

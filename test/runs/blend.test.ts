import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { blendBlock, blendFiles, normalizeWeights } from '../../src/runs/blend.ts';
import { writeNpy, readNpy } from '../../src/eval/npy.ts';
import { alignByIds } from '../../src/eval/align.ts';
import { logSoftmaxRows, softmaxRows } from '../../src/eval/tta.ts';
import { topK } from '../../src/eval/metrics.ts';
import { fromHalfBits, toHalfBits } from '../../src/eval/float16.ts';
import { UserError } from '../../src/errors.ts';
import { Rng } from '../../src/util/rng.ts';

const f = (xs: number[]) => Float32Array.from(xs);
function close(a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-5) {
  assert.equal(a.length, b.length);
  for (let i = 0; i < b.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= tol, `[${i}]: ${a[i]} vs ${b[i]}`);
}
const argmax = (x: Float32Array, cols: number) => topK(x, x.length / cols, cols, 1)[0];

// A is sure of class 2, B leans to class 1 and knows class 2 is unlikely: the mean logit favours
// class 1, the mean probability favours class 2.
const A = f([0, 0, 3]);
const B = f([3, 4, 0]);
const e = Math.exp;

test('averaging logits and averaging probabilities disagree on crafted members', () => {
  const w = normalizeWeights(undefined, 2);
  const lg = blendBlock([A, B], w, 'logits', 1, 3);
  close(lg, [1.5, 2, 1.5]);
  assert.equal(argmax(lg, 3), 1);
  const pr = blendBlock([A, B], w, 'probs', 1, 3);
  const pA = [1, 1, e(3)].map((x) => x / (2 + e(3)));
  const pB = [e(3), e(4), 1].map((x) => x / (e(3) + e(4) + 1));
  close(pr, pA.map((x, i) => Math.log((x + pB[i]) / 2)));
  assert.equal(argmax(pr, 3), 2);
});

test('weights are normalised; bad weights are user errors', () => {
  close(normalizeWeights([2, 6], 2), [0.25, 0.75], 0);
  close(blendBlock([A, B], normalizeWeights([2, 6], 2), 'logits', 1, 3), [2.25, 3, 0.75]);
  close(blendBlock([A, B], normalizeWeights([1, 3], 2), 'probs', 1, 3), blendBlock([A, B], normalizeWeights([2, 6], 2), 'probs', 1, 3));
  // A zero weight drops the member: probs of A alone is A's log-softmax.
  close(blendBlock([A, B], normalizeWeights([1, 0], 2), 'probs', 1, 3), logSoftmaxRows(A, 1, 3));
  assert.throws(() => normalizeWeights([1], 2), (x: Error) => x instanceof UserError && /1 value\(s\) for 2 member/.test(x.message));
  assert.throws(() => normalizeWeights([1, -1], 2), UserError);
  assert.throws(() => normalizeWeights([0, 0], 2), /all 0/);
  assert.throws(() => normalizeWeights([1, NaN], 2), UserError);
});

test('log-probability members compose: an ensemble of an ensemble', () => {
  const rng = new Rng(9);
  const rows = 4;
  const cols = 6;
  const m = [0, 1, 2].map(() => Float32Array.from({ length: rows * cols }, () => rng.normal() * 3));
  // probs: blending log-softmax inputs equals blending the logits
  const direct = blendBlock(m, normalizeWeights(undefined, 3), 'probs', rows, cols);
  close(blendBlock(m.map((x) => logSoftmaxRows(x, rows, cols)), normalizeWeights(undefined, 3), 'probs', rows, cols), direct);
  // ((m0 + m1) / 2 + m2) with weights 2:1 is the equal-weight ensemble of all three
  const inner = blendBlock([m[0], m[1]], normalizeWeights(undefined, 2), 'probs', rows, cols);
  close(blendBlock([inner, m[2]], normalizeWeights([2, 1], 2), 'probs', rows, cols), direct);
  // logits: a log-prob member differs from its logits by a per-row constant, which softmax ignores
  const lg = blendBlock(m, normalizeWeights([1, 2, 3], 3), 'logits', rows, cols);
  const lgFromLogProbs = blendBlock([logSoftmaxRows(m[0], rows, cols), m[1], m[2]], normalizeWeights([1, 2, 3], 3), 'logits', rows, cols);
  close(softmaxRows(lgFromLogProbs, rows, cols), softmaxRows(lg, rows, cols));
});

test('blendFiles streams members aligned by id into one .npy, in blocks', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'exp-blend-'));
  const rng = new Rng(4);
  const rows = 11;
  const cols = 5;
  const ids = Array.from({ length: rows }, (_, i) => `img${i}`);
  const truthA = Float32Array.from({ length: rows * cols }, () => rng.normal());
  const truthB = Float32Array.from({ length: rows * cols }, () => rng.normal());
  // Member B lists the same images in another order.
  const shuffled = rng.shuffle(Int32Array.from({ length: rows }, (_, i) => i)) as Int32Array;
  const idsB = Array.from(shuffled, (r) => ids[r]);
  const fileB = new Float32Array(rows * cols);
  shuffled.forEach((r, i) => fileB.set(truthB.subarray(r * cols, (r + 1) * cols), i * cols));
  await writeNpy(join(dir, 'a.npy'), truthA, { dtype: 'float32', cols });
  await writeNpy(join(dir, 'b.npy'), fileB, { dtype: 'float32', cols });
  const al = alignByIds(ids, idsB);
  assert.ok(al.ok);
  for (const method of ['logits', 'probs'] as const) {
    const seen: number[] = [];
    const res = await blendFiles({
      members: [{ npyPath: join(dir, 'a.npy') }, { npyPath: join(dir, 'b.npy'), rowOrder: al.order }],
      weights: [1, 3], method, outPath: join(dir, `${method}.npy`), blockRows: 3,
      onBlock: (start, n) => seen.push(start, n),
    });
    assert.deepEqual(seen, [0, 3, 3, 3, 6, 3, 9, 2]);
    assert.equal(res.kind, method === 'logits' ? 'logits' : 'log_probs');
    assert.deepEqual([res.rows, res.cols, res.weights], [rows, cols, [0.25, 0.75]]);
    const out = await readNpy(join(dir, `${method}.npy`));
    assert.deepEqual(out.shape, [rows, cols]);
    close(out.data, blendBlock([truthA, truthB], [0.25, 0.75], method, rows, cols), 1e-6);
  }
  // float16 output holds the float32 result rounded to half
  await blendFiles({ members: [{ npyPath: join(dir, 'a.npy') }, { npyPath: join(dir, 'b.npy'), rowOrder: al.order }], method: 'logits', outPath: join(dir, 'h.npy'), dtype: 'float16', blockRows: 4 });
  const h = await readNpy(join(dir, 'h.npy'));
  assert.equal(h.dtype, 'float16');
  assert.deepEqual(h.data, blendBlock([truthA, truthB], [0.5, 0.5], 'logits', rows, cols).map((x) => fromHalfBits(toHalfBits(x))));
});

test('blendFiles refuses members with other classes or examples, leaving no output', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'exp-blend-'));
  await writeNpy(join(dir, 'a.npy'), new Float32Array(12), { dtype: 'float32', cols: 4 });
  await writeNpy(join(dir, 'c.npy'), new Float32Array(15), { dtype: 'float32', cols: 5 });
  await writeNpy(join(dir, 'r.npy'), new Float32Array(8), { dtype: 'float32', cols: 4 });
  await writeNpy(join(dir, 't.npy'), new Int32Array(12), { dtype: 'int32', cols: 4 });
  const run = (other: string) => blendFiles({ members: [{ npyPath: join(dir, 'a.npy') }, { npyPath: join(dir, other) }], method: 'logits', outPath: join(dir, 'out.npy') });
  await assert.rejects(run('c.npy'), (x: Error) => x instanceof UserError && /c\.npy has 5 class columns but .*a\.npy has 4/.test(x.message));
  await assert.rejects(run('r.npy'), (x: Error) => x instanceof UserError && /r\.npy has 2 rows but the ensemble has 3 examples/.test(x.message));
  await assert.rejects(run('t.npy'), (x: Error) => x instanceof UserError && /not a 2-D score array/.test(x.message));
  assert.deepEqual(readdirSync(dir).sort(), ['a.npy', 'c.npy', 'r.npy', 't.npy']);
});

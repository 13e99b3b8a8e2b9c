import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../src/model/tf.ts';
import {
  buildLevelLosses, classBalancedWeights, hierarchicalLoss, losses, perExampleLoss,
} from '../../src/model/losses.ts';
import { UserError } from '../../src/errors.ts';

await tf.setBackend('cpu');

/** Double-precision reference: alpha_y * sum_c q_c (1-p_c)^gamma (-log p_c), mean over rows. */
function refLoss(logits: number[][], labels: number[], gamma = 0, alpha?: ArrayLike<number>, eps = 0): number {
  let total = 0;
  logits.forEach((row, i) => {
    const m = Math.max(...row);
    const lse = m + Math.log(row.reduce((s, x) => s + Math.exp(x - m), 0));
    let l = 0;
    row.forEach((x, c) => {
      const logp = x - lse;
      const q = (c === labels[i] ? 1 - eps : 0) + eps / row.length;
      l += q * Math.pow(1 - Math.exp(logp), gamma) * -logp;
    });
    total += (alpha ? alpha[labels[i]] : 1) * l;
  });
  return total / logits.length;
}

function tfLoss(logits: number[][], labels: number[], opts: Parameters<typeof perExampleLoss>[2]): number {
  return tf.tidy(() => tf.mean(perExampleLoss(tf.tensor2d(logits), Int32Array.from(labels), opts)).arraySync() as number);
}

const close = (a: number, b: number, tol: number, what = '') =>
  assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${what} ${a} vs ${b}`);

test('class-balanced weights: (1-beta)/(1-beta^n), normalised to sum to the number of classes', () => {
  const w = classBalancedWeights([1, 2, 4], 0.5);
  // raw: 0.5/0.5 = 1, 0.5/0.75 = 2/3, 0.5/0.9375 = 8/15; sum 2.2; scaled by 3/2.2
  const raw = [1, 2 / 3, 8 / 15];
  raw.forEach((r, c) => close(w[c], (r * 3) / 2.2, 1e-6, `class ${c}`));
  close(w[0] + w[1] + w[2], 3, 1e-6, 'sum');
  assert.ok(w[0] > w[1] && w[1] > w[2], 'rarer classes weigh more');
  // uniform data and beta = 0 both give all ones
  assert.deepEqual([...classBalancedWeights([5, 5, 5, 5], 0.9)].map((x) => +x.toFixed(6)), [1, 1, 1, 1]);
  assert.deepEqual([...classBalancedWeights([1, 10, 100], 0)].map((x) => +x.toFixed(6)), [1, 1, 1]);
});

test('class-balanced weights: a class without examples weighs 0, the others sum to their count', () => {
  const w = classBalancedWeights([3, 0, 1], 0.9);
  assert.equal(w[1], 0);
  close(w[0] + w[2], 2, 1e-6);
  assert.throws(() => classBalancedWeights([1, 2], 1), UserError);
  assert.throws(() => classBalancedWeights([1, 2], -0.1), UserError);
});

test('cross-entropy and focal match hand-computed values', () => {
  // softmax([1,2,3]) = [0.09003057, 0.24472847, 0.66524096]
  close(tfLoss([[1, 2, 3]], [2], {}), Math.log(Math.exp(1) + Math.exp(2) + Math.exp(3)) - 3, 1e-6, 'CE');
  close(tfLoss([[1, 2, 3]], [2], {}), 0.40760596, 1e-6, 'CE literal');
  // focal, gamma 2, label 0: (1-0.09003057)^2 * -ln(0.09003057) = 0.82804435 * 2.40760596
  close(tfLoss([[1, 2, 3]], [0], { gamma: 2 }), 0.82804435 * 2.40760596, 1e-5, 'focal');
  // alpha multiplies by the true class's weight
  const alpha = Float32Array.from([0.5, 2, 1]);
  close(tfLoss([[1, 2, 3], [0, 0, 0]], [0, 1], { gamma: 2, alpha }),
    refLoss([[1, 2, 3], [0, 0, 0]], [0, 1], 2, alpha), 1e-5, 'focal alpha');
  close(tfLoss([[0, 0, 0]], [1], { gamma: 2, alpha }), 2 * (2 / 3) ** 2 * Math.log(3), 1e-5, 'focal alpha literal');
});

test('label smoothing: target (1-eps) onehot + eps/C', () => {
  // eps 0.3, C 3, label 2: q = [0.1, 0.1, 0.8]; CE = -sum q log p
  const logp = [1, 2, 3].map((x) => x - Math.log(Math.exp(1) + Math.exp(2) + Math.exp(3)));
  const want = -(0.1 * logp[0] + 0.1 * logp[1] + 0.8 * logp[2]);
  close(tfLoss([[1, 2, 3]], [2], { labelSmoothing: 0.3 }), want, 1e-6);
  close(tfLoss([[1, -2, 0.5], [3, 1, 0]], [1, 0], { labelSmoothing: 0.1, gamma: 1.5 }),
    refLoss([[1, -2, 0.5], [3, 1, 0]], [1, 0], 1.5, undefined, 0.1), 1e-5, 'smoothed focal');
});

test('focal with gamma 0 and no alpha is cross-entropy', () => {
  const logits = [[0.3, -1.2, 2.5, 0.1], [4, 1, -3, 0], [0, 0, 0, 0]];
  const labels = [2, 3, 1];
  const level = { name: 'species', numClasses: 4 };
  const focal = losses.get('focal')({ type: 'focal', gamma: 0 }, level);
  const ce = losses.get('cross_entropy')({ type: 'cross_entropy' }, level);
  const a = tf.tidy(() => focal(tf.tensor2d(logits), Int32Array.from(labels)).arraySync() as number);
  const b = tf.tidy(() => ce(tf.tensor2d(logits), Int32Array.from(labels)).arraySync() as number);
  assert.equal(a, b);
  close(a, refLoss(logits, labels), 1e-6);
});

function gradCheck(gamma: number, eps: number, alpha?: Float32Array) {
  const logits = [[0.3, -1.2, 2.5, 0.1], [4, 1, -3, 0.5], [-0.7, 0.2, 0.1, 1.9]];
  const labels = [2, 3, 0];
  const g = tf.tidy(() =>
    tf.grad((x: tf.Tensor) => tf.mean(perExampleLoss(x as tf.Tensor2D, Int32Array.from(labels), { gamma, alpha, labelSmoothing: eps })))(
      tf.tensor2d(logits),
    ).arraySync() as number[][],
  );
  const h = 1e-6;
  logits.forEach((row, i) => row.forEach((_x, c) => {
    const plus = logits.map((r) => [...r]);
    const minus = logits.map((r) => [...r]);
    plus[i][c] += h;
    minus[i][c] -= h;
    const fd = (refLoss(plus, labels, gamma, alpha, eps) - refLoss(minus, labels, gamma, alpha, eps)) / (2 * h);
    assert.ok(Math.abs(g[i][c] - fd) < 1e-4, `d/dlogit[${i}][${c}] gamma=${gamma}: ${g[i][c]} vs ${fd}`);
  }));
}

test('gradients match finite differences (focal, alpha, smoothing, fractional gamma)', () => {
  gradCheck(0, 0);
  gradCheck(2, 0);
  gradCheck(2, 0, Float32Array.from([0.5, 1.5, 1, 1]));
  gradCheck(0.5, 0.1);
});

test('logits of 1e4 give finite losses and gradients', () => {
  const logits = tf.tensor2d([[1e4, 0, -1e4], [-1e4, 1e4, 0]]);
  for (const gamma of [0, 0.5, 2]) {
    for (const labels of [[0, 1], [2, 0]]) {
      const [v, g] = tf.tidy(() => {
        const f = (x: tf.Tensor) => tf.mean(perExampleLoss(x as tf.Tensor2D, Int32Array.from(labels), { gamma, labelSmoothing: 0.1 }));
        return [f(logits).arraySync() as number, tf.grad(f)(logits).dataSync()];
      });
      assert.ok(Number.isFinite(v), `loss ${v} (gamma ${gamma}, labels ${labels})`);
      assert.ok([...g].every(Number.isFinite), `gradient ${[...g]} (gamma ${gamma})`);
    }
  }
  // a confidently wrong prediction costs about the logit gap
  const wrong = tf.tidy(() => tf.mean(perExampleLoss(logits, Int32Array.from([2, 0]), {})).arraySync() as number);
  close(wrong, (2e4 + 2e4) / 2, 1e-3);
  logits.dispose();
});

test('hierarchical total is the weighted sum of per-level batch means', () => {
  const levels = [
    { name: 'species', numClasses: 3, counts: [5, 1, 2] },
    { name: 'genus', numClasses: 2, counts: [6, 2] },
  ];
  const spec = { type: 'focal', gamma: 2, class_balance: { beta: 0.9 }, weights: { species: 1.5 } };
  const ll = buildLevelLosses(spec, levels);
  assert.deepEqual(ll.map((l) => l.weight), [1.5, 1]);
  const sLogits = [[1, 0, -1], [0.5, 2, 0]];
  const gLogits = [[0.2, 0.1], [-1, 1]];
  const { total, perLevel } = hierarchicalLoss(ll, [tf.tensor2d(sLogits), tf.tensor2d(gLogits)],
    [Int32Array.from([0, 1]), Int32Array.from([0, 1])]);
  const s = refLoss(sLogits, [0, 1], 2, classBalancedWeights([5, 1, 2], 0.9));
  const g = refLoss(gLogits, [0, 1], 2, classBalancedWeights([6, 2], 0.9));
  close(perLevel[0].arraySync() as number, s, 1e-5, 'species');
  close(perLevel[1].arraySync() as number, g, 1e-5, 'genus');
  close(total.arraySync() as number, 1.5 * s + g, 1e-5, 'total');
});

test('config mistakes are UserErrors that name the choices', () => {
  const levels = [{ name: 'species', numClasses: 3 }];
  assert.throws(() => buildLevelLosses({ type: 'hinge' }, levels), (e: Error) =>
    e instanceof UserError && /focal/.test(e.message) && /cross_entropy/.test(e.message));
  assert.throws(() => buildLevelLosses({ type: 'focal', weights: { genus: 1 } }, levels), UserError);
  assert.throws(() => buildLevelLosses({ type: 'focal', label_smoothing: 1 }, levels), UserError);
  assert.throws(() => buildLevelLosses({ type: 'focal', gamma: -1 }, levels), UserError);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../src/model/tf.ts';
import { createOptimizer, optimizers, type OptimizerConfig, type Param } from '../../src/model/optimizers.ts';
import { UserError } from '../../src/errors.ts';

await tf.setBackend('cpu');

function param(values: number[], key = 'dense/kernel'): Param {
  return { key, variable: tf.variable(tf.tensor1d(values), true) };
}

/** Apply the given gradient sequence and return the parameter values after each step. */
function run(cfg: OptimizerConfig, init: number[], grads: number[][]): number[][] {
  const p = param(init);
  const opt = createOptimizer(cfg);
  const out: number[][] = [];
  for (const g of grads) {
    const gt = tf.tensor1d(g);
    opt.apply([p], [gt]);
    gt.dispose();
    out.push([...p.variable.dataSync()]);
  }
  opt.dispose();
  p.variable.dispose();
  return out;
}

const near = (a: number[], b: number[], tol = 1e-6) =>
  a.forEach((x, i) => assert.ok(Math.abs(x - b[i]) <= tol, `[${i}] ${x} vs ${b[i]} (${a} vs ${b})`));

/** PyTorch's Adam in doubles. */
function refAdam(p: number[], grads: number[][], lr: number, wd = 0, decoupled = false) {
  const [b1, b2, eps] = [0.9, 0.999, 1e-8];
  const m = p.map(() => 0);
  const v = p.map(() => 0);
  const out: number[][] = [];
  grads.forEach((g0, t0) => {
    const t = t0 + 1;
    p = p.map((w, i) => {
      let g = g0[i];
      if (decoupled) w *= 1 - lr * wd;
      else g += wd * w;
      m[i] = b1 * m[i] + (1 - b1) * g;
      v[i] = b2 * v[i] + (1 - b2) * g * g;
      return w - (lr * (m[i] / (1 - b1 ** t))) / (Math.sqrt(v[i] / (1 - b2 ** t)) + eps);
    });
    out.push(p);
  });
  return out;
}

test('adam: one step moves each weight by lr against the gradient sign, then follows the moments', () => {
  const steps = run({ name: 'adam', lr: 0.1 }, [1, -2, 0.5], [[0.5, -0.1, 0], [0.2, 0.3, 1]]);
  // step 1: m/bc1 = g, sqrt(v/bc2) = |g|, so the update is lr * g / (|g| + 1e-8)
  near(steps[0], [0.9, -1.9, 0.5]);
  near(steps[1], refAdam([1, -2, 0.5], [[0.5, -0.1, 0], [0.2, 0.3, 1]], 0.1)[1]);
});

test('adamw decays weights decoupled from the gradient; adam adds L2 to the gradient', () => {
  // zero gradient: AdamW still shrinks w by lr*wd*w; Adam's L2 gradient moves it by ~lr
  near(run({ name: 'adamw', lr: 0.1, weight_decay: 0.1 }, [1, -2], [[0, 0]])[0], [0.99, -1.98]);
  near(run({ name: 'adam', lr: 0.1, weight_decay: 0.1 }, [1, -2], [[0, 0]])[0], [0.9, -1.9]);
  const grads = [[0.3, -0.2], [0.1, 0.4], [-0.5, 0.05]];
  near(run({ name: 'adamw', lr: 0.01, weight_decay: 0.05 }, [1, -2], grads)[2], refAdam([1, -2], grads, 0.01, 0.05, true)[2]);
  near(run({ name: 'adam', lr: 0.01, weight_decay: 0.05 }, [1, -2], grads)[2], refAdam([1, -2], grads, 0.01, 0.05, false)[2]);
});

test('sgd: plain, momentum, nesterov and weight decay follow PyTorch', () => {
  near(run({ name: 'sgd', lr: 0.1 }, [1], [[1], [2]]).flat(), [0.9, 0.7]);
  // momentum 0.9: buf1 = 1, p = 0.9; buf2 = 0.9 + 2 = 2.9, p = 0.9 - 0.29 = 0.61
  near(run({ name: 'sgd', lr: 0.1, momentum: 0.9 }, [1], [[1], [2]]).flat(), [0.9, 0.61]);
  // nesterov: step uses g + mu*buf: 1 + 0.9 = 1.9 -> 0.81; 2 + 0.9*2.9 = 4.61 -> 0.349
  near(run({ name: 'sgd', lr: 0.1, momentum: 0.9, nesterov: true }, [1], [[1], [2]]).flat(), [0.81, 0.349]);
  // weight decay 0.5 adds 0.5*w to the gradient: g = 1 + 0.5 = 1.5 -> 0.85
  near(run({ name: 'sgd', lr: 0.1, weight_decay: 0.5 }, [1], [[1]]).flat(), [0.85]);
});

test('state round-trips: a restored optimizer continues bit for bit', () => {
  for (const cfg of [{ name: 'adam', lr: 0.05 }, { name: 'sgd', lr: 0.1, momentum: 0.8, nesterov: true }]) {
    const a = param([0.3, -0.7, 1.1]);
    const b = param([0.3, -0.7, 1.1]);
    const oa = createOptimizer(cfg);
    const g1 = tf.tensor1d([0.1, -0.4, 0.25]);
    const g2 = tf.tensor1d([-0.3, 0.2, 0.05]);
    oa.apply([a], [g1]);
    oa.apply([a], [g1]);
    b.variable.assign(a.variable);
    const state = oa.getState();
    assert.equal(state.step, 2);
    assert.deepEqual(Object.keys(state.slots).sort(), cfg.name === 'adam' ? ['dense/kernel/m', 'dense/kernel/v'] : ['dense/kernel/momentum']);
    const ob = createOptimizer(cfg);
    ob.setState(structuredClone(state));
    assert.deepEqual(ob.getState(), state, 'restored state reads back before use');
    oa.apply([a], [g2]);
    ob.apply([b], [g2]);
    assert.deepEqual(a.variable.dataSync(), b.variable.dataSync());
    assert.deepEqual(oa.getState(), ob.getState());
    for (const t of [a.variable, b.variable, g1, g2]) t.dispose();
    oa.dispose();
    ob.dispose();
  }
});

test('lr is read at every step', () => {
  const p = param([1]);
  const opt = createOptimizer({ name: 'sgd', lr: 0.1 });
  const g = tf.tensor1d([1]);
  opt.apply([p], [g]);
  opt.lr = 0.01;
  opt.apply([p], [g]);
  near([...p.variable.dataSync()], [0.89]);
  for (const t of [p.variable, g]) t.dispose();
  opt.dispose();
});

test('optimizer mistakes are UserErrors', () => {
  assert.throws(() => createOptimizer({ name: 'lamb', lr: 1 }), (e: Error) =>
    e instanceof UserError && optimizers.names().every((n) => e.message.includes(n)));
  assert.throws(() => createOptimizer({ name: 'adam', lr: 0 }), UserError);
  assert.throws(() => createOptimizer({ name: 'sgd', lr: 0.1, momentum: 1 }), UserError);
  assert.throws(() => createOptimizer({ name: 'sgd', lr: 0.1, nesterov: true }), UserError);
  assert.throws(() => createOptimizer({ name: 'adamw', lr: 0.1, beta2: 1.5 }), UserError);
});

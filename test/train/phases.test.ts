import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../src/model/tf.ts';
import { OptimizerPhases } from '../../src/train/phases.ts';
import { UserError } from '../../src/errors.ts';

await tf.setBackend('cpu');

const adamEva = { cycle: { every: 5, optimizers: [{ name: 'adam', lr: 3e-4 }, { name: 'sgd', lr: 0.01, momentum: 0.8 }] } };

test('AdamEva: Adam for 5 epochs, SGD momentum 0.8 for 5, repeating', () => {
  const ph = new OptimizerPhases(adamEva, 35);
  const names = Array.from({ length: 20 }, (_x, e) => ph.optimizerForEpoch(e).optimizer.name);
  assert.deepEqual(names, [...Array(5).fill('adam'), ...Array(5).fill('sgd'), ...Array(5).fill('adam'), ...Array(5).fill('sgd')]);
  assert.equal(ph.optimizerForEpoch(0).optimizer, ph.optimizerForEpoch(10).optimizer, 'one Adam across its phases');
  assert.equal(ph.optimizerForEpoch(7).baseLr, 0.01);
  ph.dispose();
});

test('each optimizer keeps its own slots across its phases', () => {
  const ph = new OptimizerPhases(adamEva, 15);
  const p = { key: 'w', variable: tf.variable(tf.tensor1d([1, 2]), true) };
  const g = tf.tensor1d([0.5, -0.5]);
  ph.optimizerForEpoch(0).optimizer.apply([p], [g]);
  const adamAfterPhase1 = ph.optimizerForEpoch(0).optimizer.getState();
  ph.optimizerForEpoch(5).optimizer.apply([p], [g]);
  ph.optimizerForEpoch(5).optimizer.apply([p], [g]);
  const adamAtEpoch10 = ph.optimizerForEpoch(10).optimizer.getState();
  assert.deepEqual(adamAtEpoch10, adamAfterPhase1, 'SGD steps left Adam\'s moments and step count alone');
  assert.equal(ph.optimizerForEpoch(5).optimizer.getState().step, 2);
  // the whole set round-trips
  const states = ph.getState();
  assert.deepEqual(states.map((s) => [s.name, s.step]), [['adam', 1], ['sgd', 2]]);
  const ph2 = new OptimizerPhases(adamEva, 15);
  ph2.setState(states);
  assert.deepEqual(ph2.getState(), states);
  assert.throws(() => new OptimizerPhases({ name: 'adam', lr: 1e-3 }).setState(states), UserError);
  for (const t of [p.variable, g]) t.dispose();
  ph.dispose();
  ph2.dispose();
});

test('a phase list: identical configs share one optimizer; gaps and short lists are UserErrors', () => {
  const adam = { name: 'adam', lr: 1e-3 };
  const sgd = { name: 'sgd', lr: 0.1, momentum: 0.9 };
  const ph = new OptimizerPhases({
    phases: [
      { optimizer: adam, from_epoch: 0, to_epoch: 3 },
      { optimizer: sgd, from_epoch: 3, to_epoch: 4 },
      { optimizer: { ...adam }, from_epoch: 4, to_epoch: 6 },
    ],
  }, 6);
  assert.equal(ph.optimizerForEpoch(1).optimizer, ph.optimizerForEpoch(5).optimizer);
  assert.equal(ph.optimizerForEpoch(3).optimizer.name, 'sgd');
  assert.equal(ph.getState().length, 2);
  ph.dispose();
  assert.throws(() => new OptimizerPhases({ phases: [
    { optimizer: adam, from_epoch: 0, to_epoch: 3 }, { optimizer: sgd, from_epoch: 4, to_epoch: 6 },
  ] }), (e: Error) => e instanceof UserError && /gaps/.test(e.message));
  assert.throws(() => new OptimizerPhases({ phases: [{ optimizer: adam, from_epoch: 0, to_epoch: 3 }] }, 5), UserError);
  assert.throws(() => new OptimizerPhases({ cycle: { every: 0, optimizers: [adam] } }), UserError);
  assert.throws(() => new OptimizerPhases({ cycle: { every: 2, optimizers: [adam, { name: 'sgd', lr: -1 }] } }), UserError);
});

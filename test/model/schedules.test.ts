import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkSchedule, lrAt, schedules, type ScheduleSpec } from '../../src/model/schedules.ts';
import { UserError } from '../../src/errors.ts';

const perEpoch = (spec: ScheduleSpec, base: number, epochs: number) =>
  Array.from({ length: epochs }, (_x, epoch) => lrAt(spec, base, { epoch, epochs }));

const near = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-12 * Math.max(1, Math.abs(b)), `${a} vs ${b}`);

test('step: the reference recipe halves 3e-4 at epochs 10, 20, 25 and 30', () => {
  const lr = perEpoch({ type: 'step', milestones: [10, 20, 25, 30], factor: 0.5 }, 3e-4, 35);
  const want = (e: number) => 3e-4 * 0.5 ** [10, 20, 25, 30].filter((m) => e >= m).length;
  lr.forEach((x, e) => near(x, want(e)));
  near(lr[9], 3e-4);
  near(lr[10], 1.5e-4);
  near(lr[34], 1.875e-5);
});

test('cosine with linear warmup', () => {
  const spec = { type: 'cosine', warmup_epochs: 2, min_lr: 0.1 };
  const lr = perEpoch(spec, 1, 10);
  near(lr[0], 0.5); // warmup: (0 + 1) / 2
  near(lr[1], 1); // warmup ends at the base rate
  near(lr[2], 1); // cosine starts at the base rate
  near(lr[6], 0.1 + 0.9 * 0.5); // half-way through the decay
  near(lr[9], 0.1 + 0.9 * 0.5 * (1 + Math.cos((Math.PI * 7) / 8)));
  for (let e = 3; e < 10; e++) assert.ok(lr[e] < lr[e - 1] && lr[e] > 0.1, `decreasing towards min_lr at ${e}`);
  // inside an epoch the rate moves per step
  near(lrAt(spec, 1, { epoch: 0, stepInEpoch: 0, stepsPerEpoch: 4, epochs: 10 }), 0.125);
  near(lrAt(spec, 1, { epoch: 1, stepInEpoch: 3, stepsPerEpoch: 4, epochs: 10 }), 1);
  near(lrAt({ type: 'cosine' }, 2, { epoch: 0, epochs: 4 }), 2);
});

test('constant', () => {
  assert.deepEqual(perEpoch({ type: 'constant' }, 0.01, 3), [0.01, 0.01, 0.01]);
});

test('schedule mistakes are UserErrors', () => {
  assert.throws(() => checkSchedule({ type: 'onecycle' }), (e: Error) =>
    e instanceof UserError && schedules.names().every((n) => e.message.includes(n)));
  assert.throws(() => checkSchedule({ type: 'step', milestones: [10, 5] }), UserError);
  assert.throws(() => checkSchedule({ type: 'step', milestones: [1], factor: 0 }), UserError);
  assert.throws(() => checkSchedule({ type: 'cosine', warmup_epochs: 5 }, 3), UserError);
  checkSchedule({ type: 'step', milestones: [10, 20, 25, 30], factor: 0.5 }, 35);
});

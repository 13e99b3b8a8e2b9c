// Registry-driven: every registered schedule, with the schema's defaults and with warmup and
// milestones set, passes checkSchedule and gives a finite rate in [0, lr] at every step, the
// same every time it is asked (a resumed run recomputes it). Adding a schedule adds this test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkSchedule, lrAt, schedules } from '../../src/model/schedules.ts';
import { validateConfig } from '../../src/config/index.ts';

const LR = 0.1;
const EPOCHS = 6;
const STEPS = 5;

for (const { name } of schedules.list()) {
  for (const extra of [{}, { warmup_epochs: 1.5, milestones: [2, 4], min_lr: 0.001 }]) {
    test(`schedule ${name}${Object.keys(extra).length ? ' with warmup, milestones and min_lr' : ''}: a finite rate in [0, lr] at every step, recomputable`, () => {
      const config = validateConfig({ name: 't', data: { format: 'folders', train: 't' }, train: { epochs: EPOCHS }, schedule: { type: name, ...extra } }).config;
      assert.ok(config);
      checkSchedule(config.schedule, EPOCHS);
      const rates: number[] = [];
      for (let epoch = 0; epoch < EPOCHS; epoch++) {
        for (let step = 0; step < STEPS; step++) {
          const pos = { epoch, stepInEpoch: step, stepsPerEpoch: STEPS, epochs: EPOCHS };
          const lr = lrAt(config.schedule, LR, pos);
          assert.ok(Number.isFinite(lr) && lr >= 0 && lr <= LR * (1 + 1e-12), `${name} at ${epoch}/${step}: ${lr}`);
          assert.equal(lrAt(config.schedule, LR, { ...pos }), lr);
          rates.push(lr);
        }
      }
      assert.ok(rates.some((r) => r > 0), 'the rate is not 0 throughout');
    });
  }
}

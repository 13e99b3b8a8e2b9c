// The plan runner's side of interruption: once the run's signal aborts, no further stage starts,
// progress() throws InterruptedError, and a stage that finishes anyway is not reported done.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runStages } from '../../src/plan/listr.ts';
import type { Plan, StageSpec } from '../../src/plan/types.ts';
import { InterruptedError } from '../../src/errors.ts';

const stage = (id: string): StageSpec<'x', null> => ({ id, kind: 'x', title: id, needs: [], outputs: [], cache: null, params: null });
const plan: Plan<StageSpec<'x', null>> = { name: 't', stages: [stage('a'), stage('b'), stage('c')] };

function recorder() {
  const events: string[] = [];
  return {
    events,
    opts: {
      quiet: true,
      onStageStart: (s: StageSpec) => events.push(`start ${s.id}`),
      onStageEnd: (s: StageSpec) => events.push(`end ${s.id}`),
    },
  };
}

test('stages run in order and report their end', async () => {
  const r = recorder();
  await runStages(plan, async (s, io) => {
    io.progress(`${s.id} working`);
    return { summary: s.id };
  }, r.opts);
  assert.deepEqual(r.events, ['start a', 'end a', 'start b', 'end b', 'start c', 'end c']);
});

test('an abort during a stage: its next progress() throws InterruptedError with the signal, and no later stage starts', async () => {
  const r = recorder();
  const controller = new AbortController();
  const err = await runStages(plan, async (s, io) => {
    if (s.id === 'b') {
      controller.abort('SIGTERM');
      io.progress('next step');
      assert.fail('progress() should have thrown');
    }
  }, { ...r.opts, signal: controller.signal }).catch((e: unknown) => e);
  assert.ok(err instanceof InterruptedError, String(err));
  assert.equal(err.signal, 'SIGTERM');
  assert.equal(err.exitCode, 143);
  assert.deepEqual(r.events, ['start a', 'end a', 'start b']);
});

test('a stage that ignores the abort and returns is not reported done', async () => {
  const r = recorder();
  const controller = new AbortController();
  const err = await runStages(plan, async (s) => {
    if (s.id === 'a') controller.abort('SIGINT');
  }, { ...r.opts, signal: controller.signal }).catch((e: unknown) => e);
  assert.ok(err instanceof InterruptedError);
  assert.equal(err.exitCode, 130);
  assert.deepEqual(r.events, ['start a']);
});

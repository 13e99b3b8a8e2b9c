// The plan runner's side of interruption: once the run's signal aborts, no further stage starts,
// progress() throws InterruptedError, and a stage that finishes anyway is not reported done.
// And what a user sees: log lines (an epoch's result) stay while later progress replaces the
// current line, on a pipe and on a terminal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { liveOutput, runStages } from '../../src/plan/listr.ts';
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

test('on a terminal a task shows its log lines (the last ones, saying how many are hidden) above its progress line', () => {
  assert.equal(liveOutput([], 'step 1/4'), 'step 1/4');
  assert.equal(liveOutput(['epoch 1: a', 'epoch 2: b'], 'step 1/4'), 'epoch 1: a\nepoch 2: b\nstep 1/4');
  assert.equal(liveOutput(['epoch 1: a', 'epoch 2: b'], ''), 'epoch 1: a\nepoch 2: b', 'a finished task keeps its log lines only');
  assert.equal(liveOutput(['e1', 'e2', 'e3', 'e4'], 'p', 2), "(2 earlier lines in the run's log.txt)\ne3\ne4\np");
});

const DEMO = fileURLToPath(new URL('./listr-demo.ts', import.meta.url));
const EPOCHS = [1, 2, 3].map((e) => `epoch ${e}: train loss 0.${e}`);

test('on a pipe every log line is printed as it comes, and goes to the log', () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', DEMO], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  for (const line of EPOCHS) {
    assert.match(r.stdout, new RegExp(`^\\[OUTPUT\\] ${line}$`, 'm'));
    assert.match(r.stderr, new RegExp(`^log\\.txt: \\[train\\] ${line}$`, 'm'));
  }
});

const hasScript = spawnSync('script', ['--version']).status === 0;
test('on a terminal each epoch line stays visible while later steps and stages run, and after', { skip: hasScript ? false : 'util-linux script(1) is not installed (needed for a pseudo-terminal)' }, () => {
  const cmd = `stty cols 120 rows 50; ${JSON.stringify(process.execPath)} --import tsx ${JSON.stringify(DEMO)}`;
  const raw = execFileSync('script', ['-qec', cmd, '/dev/null'], { encoding: 'utf8', env: { ...process.env, TERM: 'xterm' } });
  // log-update redraws the whole list each frame, after erasing the previous one
  const frames = raw.split('\x1b[2K\x1b[G').map((f) => f.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\r/g, ''));
  const during = (progress: string) => frames.filter((f) => f.includes(progress));
  // while epoch 3 trains, epochs 1 and 2 are on screen; while the next stage runs, all three are
  for (const f of during('epoch 3/3 step 1/2')) for (const line of EPOCHS.slice(0, 2)) assert.ok(f.includes(line), f);
  assert.ok(during('after 1/2 images').length > 0, raw);
  for (const f of during('after 1/2 images')) for (const line of EPOCHS) assert.ok(f.includes(line), f);
  const last = frames[frames.length - 1];
  for (const line of EPOCHS) assert.ok(last.includes(line), last);
  assert.ok(!/step \d\/2|\d\/2 images/.test(last), `no progress line is left in the final view:\n${last}`);
});

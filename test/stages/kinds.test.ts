// The table of stage kinds: every kind has its module's plan/execute, `compile` plans each kind a
// config needs (and none it does not), and the other pipelines (exp predict, exp ensemble) plan
// stages of the same kinds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { assertValid, loadExperiment } from '../../src/config/index.ts';
import { STAGE_KINDS, compile, type Stage } from '../../src/stages/kinds.ts';
import { predictPlan } from '../../src/stages/run-predict.ts';
import { ensemblePlan } from '../../src/stages/run-ensemble.ts';
import type { PreparedEnsemble } from '../../src/runs/ensemble.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const quickstart = (...sets: string[]) => assertValid(loadExperiment(join(ROOT, 'experiments/quickstart.yaml'), { sets, mode: 'validate' }));

/** Ids are unique and every stage needs only stages planned before it. */
function assertWellFormed(stages: Stage[]): void {
  const seen = new Set<string>();
  for (const s of stages) {
    assert.ok(!seen.has(s.id), `${s.id} twice`);
    for (const n of s.needs) assert.ok(seen.has(n), `${s.id} needs ${n}, which is not planned before it`);
    seen.add(s.id);
  }
}

test('every kind in the table is its module\'s, with an executor; compile plans every kind an experiment can need', () => {
  for (const [name, k] of Object.entries(STAGE_KINDS)) {
    assert.equal(k.kind, name, `the table's key ${name} names its kind`);
    assert.equal(typeof k.execute, 'function', `${name} executes`);
  }
  const plan = compile(quickstart());
  assertWellFormed(plan.stages);
  const planned = new Set(plan.stages.map((s) => s.kind));
  for (const [name, k] of Object.entries(STAGE_KINDS)) {
    if ('plan' in k) assert.ok(planned.has(name as Stage['kind']), `the quickstart (cache, normalize: auto, a test split, a submission) plans ${name}`);
  }
  assert.deepEqual(plan.stages.map((s) => s.id), ['index', 'split', 'cache', 'stats', 'train', 'predict:val', 'predict:test', 'submission']);
  const train = plan.stages.find((s) => s.kind === 'train')!;
  assert.deepEqual(train.needs, ['index', 'split', 'cache', 'stats']);
  // the union narrows params by kind
  const predict = plan.stages.filter((s): s is Extract<Stage, { kind: 'predict' }> => s.kind === 'predict');
  assert.deepEqual(predict.map((s) => [s.params.split, s.params.tta, s.params.default]), [['val', [1, 4], 4], ['test', [1, 4], 4]]);
});

test('compile leaves out the kinds a config does not need', () => {
  const plan = compile(quickstart('data.cache.enabled=false', 'data.normalize={mean: [0.5, 0.5, 0.5], std: [0.2, 0.2, 0.2]}', 'data.test=null', 'tta.count=1'));
  assertWellFormed(plan.stages);
  assert.deepEqual(plan.stages.map((s) => s.id), ['index', 'split', 'train', 'predict:val']);
  assert.equal(plan.stages[3].title, 'Predict val');
  const noSubmission = compile(quickstart('outputs.submission=false'));
  assert.deepEqual(noSubmission.stages.map((s) => s.id).slice(-2), ['predict:val', 'predict:test']);
  const split = compile(quickstart('data.limit=50')).stages.find((s) => s.kind === 'split');
  assert.equal(split?.kind === 'split' && split.params.limit, 50, 'the split stage plans with data.limit');
});

test('exp predict plans index, split and one predict stage that records nothing about the data and keeps the default', () => {
  const plan = predictPlan(quickstart(), 'test', 3);
  assertWellFormed(plan.stages);
  assert.deepEqual(plan.stages.map((s) => s.id), ['exp-predict:index', 'exp-predict:split', 'exp-predict:predict:test'], 'apart from the trained run\'s own stage records');
  const [index, split, predict] = plan.stages;
  assert.ok(index.kind === 'index' && !index.params.recordData);
  assert.ok(split.kind === 'split' && !split.params.recordData);
  assert.ok(predict.kind === 'predict');
  assert.deepEqual(predict.params, { split: 'test', tta: [3], reduce: 'logits', default: null });
});

test('exp ensemble plans one blend stage per split, then the submission when test is blended', () => {
  const split = (name: string, tta: number) => ({ split: name, members: [{}, {}] as never, orders: [], tta });
  const e = { method: 'logits', splits: [split('val', 2), split('test', 2)] } as unknown as PreparedEnsemble;
  const plan = ensemblePlan(e, 'pair');
  assertWellFormed(plan.stages);
  assert.deepEqual(plan.stages.map((s) => [s.id, s.kind]), [['blend:val', 'blend'], ['blend:test', 'blend'], ['submission', 'submission']]);
  assert.deepEqual(plan.stages[2].params, { tta: 2, expectAll: false });
  assert.deepEqual(ensemblePlan({ ...e, splits: [split('val', 1)] }, 'v').stages.map((s) => s.id), ['blend:val']);
});

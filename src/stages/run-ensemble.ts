// `exp ensemble`: everything is checked first (runs/ensemble.ts prepareEnsemble, before the run
// directory exists), then an ensemble run is created and its plan, one blend:<split> stage per
// split and submission when test is blended, goes through the run lifecycle like `exp run`.
import { createRun } from '../runs/record.ts';
import { ensembleRunOptions, prepareEnsemble, writeEnsembleJson, type EnsembleOptions, type EnsembleResult } from '../runs/ensemble.ts';
import type { Plan } from '../plan/types.ts';
import type { Stage } from './kinds.ts';
import { blendStageFor, type EnsembleContext } from './blend.ts';
import { submissionStageFor } from './submission.ts';
import { runPipeline } from './lifecycle.ts';
import type { PreparedEnsemble } from '../runs/ensemble.ts';

export function ensemblePlan(e: PreparedEnsemble, name: string): Plan<Stage> {
  const stages: Stage[] = e.splits.map((s) => blendStageFor(s, e.method));
  const test = e.splits.find((s) => s.split === 'test');
  // the members' submissions were checked against their test sets; here the ids are theirs
  if (test) stages.push(submissionStageFor({ tta: test.tta, expectAll: false }, ['blend:test']));
  return { name, stages };
}

export async function runEnsemble(o: EnsembleOptions): Promise<EnsembleResult> {
  const e = await prepareEnsemble(o);
  const record = await createRun(ensembleRunOptions(e, o));
  record.update({ ensemble: { method: e.method, weights: e.weights, optimized: e.optimized ? { ...e.optimized } as Record<string, unknown> : null } });
  writeEnsembleJson(record, e, null);
  record.log(`${e.method} ensemble of ${e.members.length} runs, weights ${e.weights.map((w) => w.toFixed(4)).join(', ')}`);
  if (e.optimized) record.log(`weights chosen on val (grid step 1/${e.optimized.steps}, ${e.optimized.level} macro-F1 ${e.optimized.macroF1}); val metrics flatter this ensemble`);
  const plan = ensemblePlan(e, o.name ?? 'ensemble');
  const ctx = await runPipeline<EnsembleContext>(plan, { record, ensemble: e, metrics: {}, memberMetrics: null }, {
    quiet: o.quiet ?? true,
    afterInterrupt: `the ensemble run ${record.dir} is marked interrupted; run the same exp ensemble again (it makes a new run)`,
  });
  return {
    record,
    weights: e.weights,
    optimized: e.optimized,
    metrics: ctx.metrics.val ?? {},
    members: e.members.map((m, i) => ({ id: m.id, path: m.path, weight: m.weight, metrics: ctx.memberMetrics?.[i] ?? {} })),
    splits: e.splits.map((s) => s.split),
    submission: plan.stages.some((s) => s.kind === 'submission') ? record.path('submission.csv') : null,
  };
}

// The `blend` stage kind (blend:<split>, exp ensemble): one split of the members' saved scores,
// blended in row blocks into the ensemble run's predictions/<split>/tta<N>/, with its metrics
// and, for val, each member's own metrics on the same examples (ensemble.json).
import type { LevelMetrics } from '../eval/metrics.ts';
import type { BlendSplitPlan, PreparedEnsemble } from '../runs/ensemble.ts';
import type { MetricsJson } from '../runs/schemas.ts';
import type { StageSpec } from '../plan/types.ts';
import type { StageContext, StageKind } from './context.ts';

export interface BlendParams {
  split: string;
  tta: number;
}

export interface EnsembleContext extends StageContext {
  ensemble: PreparedEnsemble;
  /** Per split, the ensemble's metrics per level (empty without labels). */
  metrics: Record<string, Record<string, LevelMetrics>>;
  /** Each member's val metrics, in member order (null until val is blended). */
  memberMetrics: Record<string, LevelMetrics>[] | null;
}

export function blendStageFor(p: BlendSplitPlan, method: string): StageSpec<'blend', BlendParams> {
  return {
    id: `blend:${p.split}`,
    kind: 'blend',
    title: `Blend ${p.members.length} runs' ${p.split} predictions (${method === 'logits' ? 'mean of logits' : 'mean of probabilities'})`,
    needs: [],
    outputs: [`predictions/${p.split}/tta${p.tta}/`, ...(p.split === 'val' ? ['metrics.json', 'ensemble.json'] : [])],
    cache: null,
    params: { split: p.split, tta: p.tta },
  };
}

export const blendStage: StageKind<'blend', BlendParams, EnsembleContext> = {
  kind: 'blend',
  async execute(p, ctx, io) {
    const { blendSplit, memberMetrics, writeEnsembleJson } = await import('../runs/ensemble.ts');
    const e = ctx.ensemble;
    const s = e.splits.find((x) => x.split === p.split);
    if (!s) throw new Error(`internal: no prepared ${p.split} split to blend`);
    const { metrics } = await blendSplit(ctx.record, s.members, s.orders, e.weights, e.method, p.tta, {
      signal: ctx.signal,
      onProgress: (level, done, rows) => io.progress(`${level}: ${done}/${rows} rows`),
    });
    ctx.record.addPredictions({ split: p.split, tta: p.tta, reduce: e.method, default: true });
    ctx.metrics[p.split] = metrics;
    if (Object.keys(metrics).length) ctx.record.writeMetrics({ [p.split]: { [`tta${p.tta}`]: metrics } } as unknown as MetricsJson);
    if (p.split === 'val') {
      ctx.memberMetrics = [];
      for (const [i, m] of s.members.entries()) ctx.memberMetrics.push(await memberMetrics(m, s.orders[i], s.members[0].index.labels));
      writeEnsembleJson(ctx.record, e, ctx.memberMetrics);
    }
    const target = s.members[0].index.levels[0];
    const m = metrics[target];
    return { summary: m ? `${target} macro-F1 ${m.macro_f1.toFixed(3)}, accuracy ${m.accuracy.toFixed(3)}` : `${s.members[0].index.rows} rows` };
  },
};

// The `split` stage kind: the validation set, either held out of the training index
// (stratified, seeded) or read from a separate directory (data.val.path).
import type { ExperimentConfig } from '../config/types.gen.ts';
import { holdOutRows, splitFromPath, type TrainingRowsSettings } from '../data/split.ts';
import { allRows, need, type RunContext, type StageKind } from './context.ts';

export type SplitParams = ExperimentConfig['data']['val'] & {
  limit: number | null;
  /** Write the counts into run.json#data (off for `exp predict`; see IndexParams.recordData). */
  recordData: boolean;
};

export function splitParams(config: ExperimentConfig, recordData = true): SplitParams {
  return { ...config.data.val, limit: config.data.limit, recordData };
}

/** The settings data/split.ts's row functions take, from a stage's params. */
export const rowSettings = (p: SplitParams): TrainingRowsSettings => ({ limit: p.limit, val: p });

export const splitStage: StageKind<'split', SplitParams> = {
  kind: 'split',
  plan: (config) => {
    const v = config.data.val;
    return [{
      id: 'split',
      kind: 'split',
      title: v.path
        ? `Validation set from ${v.path}`
        : `Split ${Math.round((v.fraction ?? 0.2) * 100)} % for validation (seed ${v.seed}${v.cap_per_class ? `, at most ${v.cap_per_class} per class` : ''})`,
      needs: ['index'],
      outputs: ['run.json#data.counts'],
      cache: null,
      params: splitParams(config),
    }];
  },

  async execute(p, ctx: RunContext) {
    const train = need(ctx.train, 'the training index');
    if (p.path) {
      const val = await splitFromPath(train.index, p.path);
      ctx.val = { index: val, rows: allRows(val) };
    } else {
      const rows = holdOutRows(train.index, rowSettings(p));
      ctx.train = { index: train.index, rows: rows.train };
      ctx.val = { index: train.index, rows: rows.val };
    }
    const trainN = ctx.train!.rows.length;
    const valN = ctx.val!.rows.length;
    if (p.recordData) {
      const rec = ctx.record.json.data!;
      ctx.record.setData({ ...rec, counts: { ...rec.counts, train: trainN, val: valN } });
    }
    return { summary: `${trainN} train, ${valN} val` };
  },
};

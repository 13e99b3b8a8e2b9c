// The `split` stage kind: the validation set, either held out of the training index
// (stratified, seeded) or read from a separate directory (data.val.path).
import type { ExperimentConfig } from '../config/types.gen.ts';
import type { DatasetIndex } from '../data/types.ts';
import { stratifiedSplit, splitFromPath } from '../data/split.ts';
import { allRows, need, type RunContext, type StageKind } from './context.ts';
import { limitRows } from './index.ts';

export type SplitParams = ExperimentConfig['data']['val'] & {
  limit: number | null;
  /** Write the counts into run.json#data (off for `exp predict`; see IndexParams.recordData). */
  recordData: boolean;
};

export function splitParams(config: ExperimentConfig, recordData = true): SplitParams {
  return { ...config.data.val, limit: config.data.limit, recordData };
}

/**
 * The training and validation rows of a held-out split. The full index is split (not the
 * data.limit subset), so a limited smoke run validates on the same examples as the full run
 * would; then the limited rows that are not validation train. The split stage and `exp plan`'s
 * statistics status both use this, so they agree on which rows the stats stage reads.
 */
export function holdOutRows(index: DatasetIndex, p: Pick<SplitParams, 'fraction' | 'seed' | 'cap_per_class' | 'stratify' | 'limit'>): { train: Int32Array; val: Int32Array } {
  const split = stratifiedSplit(index, { fraction: p.fraction ?? 0.2, seed: p.seed, capPerClass: p.cap_per_class, stratify: p.stratify });
  const isVal = new Uint8Array(index.files.length);
  for (const r of split.val) isVal[r] = 1;
  const limited = limitRows(index, p.limit);
  // limitRows keeps rows 0..N-1, so "in the limited set" is r < N.
  const n = limited.length;
  return { train: limited.filter((r) => !isVal[r]), val: split.val.filter((r) => r < n) };
}

/** The rows the stats stage reads: the training rows after the split and data.limit. */
export function trainingRows(index: DatasetIndex, p: SplitParams): Int32Array {
  return p.path ? limitRows(index, p.limit) : holdOutRows(index, p).train;
}

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
      const rows = holdOutRows(train.index, p);
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

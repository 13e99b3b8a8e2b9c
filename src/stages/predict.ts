// The `predict` stage kind (predict:<split>): scores of one split from the run's best checkpoint,
// at one or several TTA counts from one pass (predict-core.ts), recorded in run.json and, where the
// split has labels, metrics.json. `exp run` plans one per split; `exp predict` plans one with the
// TTA count it was asked for.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ExperimentConfig } from '../config/types.gen.ts';
import type { RunRecord } from '../runs/record.ts';
import type { MetricsJson } from '../runs/schemas.ts';
import type { StageSpec } from '../plan/types.ts';
import { need, trainCounts, type StageKind } from './context.ts';

export interface PredictParams {
  split: 'val' | 'test';
  /** TTA counts to write, e.g. [1, 4]; one pass computes the largest. */
  tta: number[];
  reduce: ExperimentConfig['tta']['reduce'];
  /** The count whose predictions become the split's default (run.json), or null to leave the default as it is. */
  default: number | null;
}

/** model/best when the run validated, else model/last. */
export function checkpointFor(record: RunRecord): string {
  const best = record.modelDir('best');
  return existsSync(join(best, 'model.json')) ? best : record.modelDir('last');
}

export function predictStageFor(config: ExperimentConfig, p: PredictParams, needs: string[]): StageSpec<'predict', PredictParams> {
  const n = Math.max(...p.tta);
  return {
    id: `predict:${p.split}`,
    kind: 'predict',
    title: `Predict ${p.split}${n > 1 ? ` with TTA x${n} (${p.reduce})` : ''}`,
    needs,
    outputs: p.tta.map((t) => `predictions/${p.split}/tta${t}/`).concat(p.split === 'val' ? ['metrics.json'] : []),
    cache: null,
    params: p,
  };
}

export const predictStage: StageKind<'predict', PredictParams> = {
  kind: 'predict',
  plan: (config) => config.outputs.predictions
    .filter((s) => s === 'val' || config.data.test != null)
    .map((split) => predictStageFor(config, { split, tta: [...new Set([1, config.tta.count])], reduce: config.tta.reduce, default: config.tta.count }, ['train'])),

  async execute(p, ctx, io) {
    const [{ ensureBackend }, { openCheckpoint }, { decodeOf, predictSplit }, { resolveDecoder }] = await Promise.all([
      import('../model/backend.ts'), import('./checkpoint.ts'), import('./predict-core.ts'), import('../data/jpeg.ts'),
      import('../model/build.ts'), // registers the custom layers a checkpoint may use
    ]);
    const c = ctx.config;
    const split = p.split;
    const subset = need(split === 'val' ? ctx.val : ctx.test, `the ${split} split`);
    await ensureBackend(ctx.backend);
    const { model } = await openCheckpoint(checkpointFor(ctx.record));
    try {
      const r = await predictSplit({
        model,
        subset,
        split,
        ttaCounts: p.tta,
        reduce: p.reduce,
        image: c.data.image,
        augment: c.augment,
        normalize: need(ctx.normalize, 'normalisation statistics'),
        seed: c.seed,
        batchSize: c.train.batch_size,
        concurrency: c.data.loader.concurrency,
        decoder: resolveDecoder(c.data.loader.decoder),
        worker: c.data.loader.worker,
        onBadImage: c.data.on_bad_image,
        onSkip: (b) => ctx.badImages?.add(split, b),
        cache: ctx.imageCache ?? null,
        dtype: c.outputs.dtype,
        decode: decodeOf(c.decode, c.data.levels, trainCounts(need(ctx.train, 'the training split'))),
        dirFor: (n) => ctx.record.predictionsDir(split, n),
        writeIndex: (index) => ctx.record.writePredictionIndex(index),
        signal: ctx.signal,
        onProgress: (done, total) => io.progress(`${done}/${total} images`),
      });
      const before = ctx.record.json.predictions;
      for (const n of p.tta) {
        const kept = before.find((x) => x.split === split && x.tta === n)?.default ?? false;
        ctx.record.addPredictions({ split, tta: n, reduce: p.reduce, default: p.default === null ? kept : n === p.default });
      }
      ctx.predicted = { ...ctx.predicted, [split]: { rows: r.rows, skipped: r.skipped, metrics: r.metrics } };
      if (Object.keys(r.metrics).length) {
        const metrics: MetricsJson = ctx.record.readMetrics();
        metrics[split] = { ...(metrics[split] ?? {}), ...r.metrics } as MetricsJson[string];
        ctx.record.writeMetrics(metrics);
        const target = c.data.levels[0];
        const best = r.metrics[`tta${p.default ?? Math.max(...p.tta)}`]?.[target] as { macro_f1: number; accuracy: number } | undefined;
        if (best) return { summary: `${target} macro-F1 ${best.macro_f1.toFixed(3)}, accuracy ${best.accuracy.toFixed(3)}` };
      }
      return { summary: `${r.rows} rows${r.skipped ? `, ${r.skipped} bad image${r.skipped === 1 ? '' : 's'} skipped` : ''}` };
    } finally {
      model.dispose();
    }
  },
};

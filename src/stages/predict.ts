// predict:<split> and submission stages.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { StageExecutor } from '../plan/listr.ts';
import { loadCheckpoint } from '../train/checkpoint.ts';
import { ensureBackend } from '../model/backend.ts';
import { resolveDecoder } from '../data/jpeg.ts';
import { writeSubmission } from '../eval/submission.ts';
import { predictionsFix, readPredictionDir, readTop1 } from '../runs/read-predictions.ts';
import type { RunRecord } from '../runs/record.ts';
import type { MetricsJson } from '../runs/schemas.ts';
import { need, trainCounts, type RunContext } from './context.ts';
import { decodeOf, predictSplit } from './predict-core.ts';

/** model/best when the run validated, else model/last. */
export function checkpointFor(record: RunRecord): string {
  const best = record.modelDir('best');
  return existsSync(join(best, 'model.json')) ? best : record.modelDir('last');
}

export function predictStage(ctx: RunContext): StageExecutor {
  return async (stage, io) => {
    const c = ctx.config;
    const split = stage.params.split as 'val' | 'test';
    const subset = need(split === 'val' ? ctx.val : ctx.test, `the ${split} split`);
    const ttaCounts = stage.params.tta as number[];
    await ensureBackend(ctx.backend);
    const { model } = await loadCheckpoint(checkpointFor(ctx.record));
    try {
      const r = await predictSplit({
        model,
        subset,
        split,
        ttaCounts,
        reduce: c.tta.reduce,
        image: c.data.image,
        augment: c.augment,
        normalize: need(ctx.normalize, 'normalisation statistics'),
        seed: c.seed,
        batchSize: c.train.batch_size,
        concurrency: c.data.loader.concurrency,
        decoder: resolveDecoder(c.data.loader.decoder),
        onBadImage: c.data.on_bad_image,
        cache: ctx.imageCache ?? null,
        dtype: c.outputs.dtype,
        decode: decodeOf(c.decode, c.data.levels, trainCounts(need(ctx.train, 'the training split'))),
        dirFor: (n) => ctx.record.predictionsDir(split, n),
        onProgress: (done, total) => io.progress(`${done}/${total} images`),
      });
      for (const n of ttaCounts) {
        ctx.record.addPredictions({ split, tta: n, reduce: c.tta.reduce, default: n === c.tta.count });
      }
      if (Object.keys(r.metrics).length) {
        const metrics: MetricsJson = ctx.record.readMetrics();
        metrics[split] = { ...(metrics[split] ?? {}), ...r.metrics } as MetricsJson[string];
        ctx.record.writeMetrics(metrics);
        const target = c.data.levels[0];
        const best = r.metrics[`tta${c.tta.count}`]?.[target] as { macro_f1: number; accuracy: number } | undefined;
        if (best) return { summary: `${target} macro-F1 ${best.macro_f1.toFixed(3)}, accuracy ${best.accuracy.toFixed(3)}` };
      }
      return { summary: `${r.rows} rows${r.skipped ? `, ${r.skipped} bad images skipped` : ''}` };
    } finally {
      model.dispose();
    }
  };
}

export function submissionStage(ctx: RunContext): StageExecutor {
  return async (stage) => {
    const tta = stage.params.tta as number;
    const set = readPredictionDir(ctx.record.predictionsDir('test', tta), { runDir: ctx.record.dir, fix: predictionsFix(ctx.record.dir, 'train', 'test', tta), split: 'test', tta });
    const { index } = set;
    const predicted = await readTop1(set);
    const test = need(ctx.test, 'the test split');
    // Every test image must be predicted, except those skipped as bad under on_bad_image: skip.
    const expectedIds = ctx.config.data.on_bad_image === 'fail' ? Array.from(test.rows, (r) => test.index.ids[r]) : undefined;
    writeSubmission(ctx.record.path('submission.csv'), {
      ids: index.ids,
      predicted,
      classIds: index.classes[index.levels[0]],
      expectedIds,
    });
    return { summary: `${index.rows} rows` };
  };
}

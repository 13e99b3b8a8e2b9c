// exp predict <run>: new predictions from a trained run's best checkpoint, without retraining
// (e.g. another TTA count), stored beside the originals and recorded in run.json.
import { resolve } from 'node:path';
import { resolveRunArgs } from '../../runs/read.ts';
import { loadRunConfig } from '../../runs/read-config.ts';
import { openRun } from '../../runs/record.ts';
import type { MetricsJson } from '../../runs/schemas.ts';
import { UserError } from '../../errors.ts';
import { indexStage, splitStage } from '../../stages/data.ts';
import { checkpointFor } from '../../stages/predict.ts';
import { decodeOf, predictSplit } from '../../stages/predict-core.ts';
import { trainCounts, type RunContext } from '../../stages/context.ts';
import type { Stage } from '../../plan/types.ts';
import type { StageIO } from '../../plan/listr.ts';
import { ensureBackend, type BackendName } from '../../model/backend.ts';
import { loadCheckpoint } from '../../train/checkpoint.ts';
import { ImageCache } from '../../data/cache.ts';
import { resolveDecoder } from '../../data/jpeg.ts';
import '../../model/build.ts'; // registers the custom layers a checkpoint may use

export async function run([arg]: string[], opts: { split?: string; tta?: string; backend?: string; 'runs-dir'?: string }): Promise<number> {
  const [dir] = resolveRunArgs([arg], resolve(opts['runs-dir'] ?? 'runs'));
  const record = openRun(dir);
  if (record.json.kind !== 'train') throw new UserError(`${dir} is an ${record.json.kind} run; exp predict needs a trained run (it reads model/best).`);
  const { config } = await loadRunConfig(dir);
  record.readMetrics(); // validated now: a damaged metrics.json stops here, not after predicting
  const split = opts.split ?? 'val';
  if (split !== 'val' && split !== 'test') throw new UserError(`--split ${split}: expected val or test`);
  if (split === 'test' && !config.data.test) throw new UserError(`${dir} was trained without a test split (data.test is null); use --split val.`);
  const tta = opts.tta === undefined ? config.tta.count : Number(opts.tta);
  if (!Number.isInteger(tta) || tta < 1) throw new UserError(`--tta ${opts.tta}: expected a whole number >= 1`);
  const norm = (record.json as { normalize?: { mean: number[]; std: number[] } }).normalize
    ?? (typeof config.data.normalize === 'object' ? config.data.normalize : undefined);
  if (!norm) throw new UserError(`${dir} has no recorded normalisation statistics (its stats stage did not finish); re-run it.`);

  const ctx: RunContext = {
    config,
    record,
    backend: (opts.backend ?? 'auto') as BackendName,
    noCache: false,
    signal: new AbortController().signal,
    normalize: { mean: norm.mean, std: norm.std },
    imageCache: config.data.cache.enabled ? new ImageCache(config.data.image.resize, { dir: config.data.cache.dir }) : null,
  };
  const io: StageIO = { progress: () => undefined, log: () => undefined };
  const stage = { params: {} } as Stage;
  await indexStage(ctx)(stage, io);
  await splitStage(ctx)(stage, io);
  const subset = split === 'val' ? ctx.val! : ctx.test!;

  await ensureBackend(ctx.backend);
  const { model } = await loadCheckpoint(checkpointFor(record));
  const r = await predictSplit({
    model,
    subset,
    split,
    ttaCounts: [tta],
    reduce: config.tta.reduce,
    image: config.data.image,
    augment: config.augment,
    normalize: ctx.normalize!,
    seed: config.seed,
    batchSize: config.train.batch_size,
    concurrency: config.data.loader.concurrency,
    decoder: resolveDecoder(config.data.loader.decoder),
    onBadImage: config.data.on_bad_image,
    cache: ctx.imageCache ?? null,
    dtype: config.outputs.dtype,
    decode: decodeOf(config.decode, config.data.levels, trainCounts(ctx.train!)),
    dirFor: (n) => record.predictionsDir(split, n),
    onProgress: (done, total) => {
      if (process.stderr.isTTY) process.stderr.write(`\r${done}/${total} images`);
    },
  });
  if (process.stderr.isTTY) process.stderr.write('\n');
  model.dispose();
  const existing = record.json.predictions.find((p) => p.split === split && p.tta === tta);
  if (!existing) record.addPredictions({ split, tta, reduce: config.tta.reduce, default: false });
  let line = `${record.predictionsDir(split, tta)}: ${r.rows} rows`;
  if (Object.keys(r.metrics).length) {
    const metrics: MetricsJson = record.readMetrics();
    metrics[split] = { ...(metrics[split] ?? {}), ...r.metrics } as MetricsJson[string];
    record.writeMetrics(metrics);
    const target = config.data.levels[0];
    const m = r.metrics[`tta${tta}`][target] as { macro_f1: number; accuracy: number };
    line += `, ${target} macro-F1 ${m.macro_f1.toFixed(4)}, accuracy ${m.accuracy.toFixed(4)}`;
  }
  process.stdout.write(`${line}\n`);
  return 0;
}

// The `train` stage kind: picks the backend, builds the model from the config (or reloads the
// checkpoint it resumes from), feeds the training loop from the image pipeline, validates every
// epoch, and records history and checkpoints. tfjs and the image pipeline are imported when the
// stage runs, not when a plan is compiled.
import type { ExperimentConfig } from '../config/types.gen.ts';
import type { LossSpec, LevelInfo } from '../model/losses.ts';
import type { tf } from '../model/tf.ts';
import type { OptimizerPlan } from '../train/phases.ts';
import type { OptimizerConfig } from '../model/optimizers.ts';
import type { EpochResult, ValMetrics, TrainState } from '../train/loop.ts';
import type { HistoryRecord } from '../runs/schemas.ts';
import type { SkippedImage } from '../data/loader.ts';
import { need, trainCounts, type StageKind } from './context.ts';
import { epochLine } from './progress.ts';

export interface TrainParams {
  epochs: number;
  batch_size: number;
}

export function lossSpecOf(c: ExperimentConfig): LossSpec {
  const l = c.loss;
  return {
    type: l.type,
    gamma: l.gamma,
    class_balance: l.class_balance.enabled ? { beta: l.class_balance.beta } : null,
    label_smoothing: l.label_smoothing,
    weights: l.weights,
  };
}

/** The optimizer block as the loop's plan: one optimizer, phases (gaps filled with the base), or a cycle. */
export function optimizerPlanOf(c: ExperimentConfig): OptimizerPlan {
  const { phases, cycle, ...base } = c.optimizer;
  if (cycle) return { cycle: { every: cycle.every, optimizers: cycle.optimizers as OptimizerConfig[] } };
  if (!phases.length) return base as OptimizerConfig;
  const epochs = c.train.epochs;
  const sorted = [...phases].sort((a, b) => a.from_epoch - b.from_epoch);
  const out: { optimizer: OptimizerConfig; from_epoch: number; to_epoch: number }[] = [];
  let next = 0;
  for (const p of sorted) {
    if (p.from_epoch > next) out.push({ optimizer: base as OptimizerConfig, from_epoch: next, to_epoch: p.from_epoch });
    const to = p.to_epoch ?? epochs;
    out.push({ optimizer: p.optimizer as OptimizerConfig, from_epoch: p.from_epoch, to_epoch: to });
    next = to;
  }
  if (next < epochs) out.push({ optimizer: base as OptimizerConfig, from_epoch: next, to_epoch: epochs });
  return { phases: out };
}

/** Loop history row -> history.jsonl row (1-based epochs, schema names). */
function toRecordRow(row: EpochResult, levels: string[]): HistoryRecord {
  const val = row.val
    ? Object.fromEntries(levels.map((l) => {
        const m = row.val![l] ?? {};
        return [l, { loss: Number.isFinite(m.loss) ? m.loss! : null, macro_f1: m.macro_f1 ?? 0, accuracy: m.accuracy ?? 0, top5: m.top5 ?? null }];
      }))
    : null;
  const { total, ...perLevel } = row.train_loss;
  return {
    epoch: row.epoch + 1,
    lr: row.lr,
    optimizer: row.optimizer,
    train: perLevel,
    train_loss: total,
    val,
    ...(row.val_ema ? { val_ema: row.val_ema as never } : {}),
    images_per_s: row.images_per_s,
    seconds: row.seconds,
  };
}

const fmtTime = (s: number) => (s >= 3600 ? `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m` : s >= 60 ? `${Math.floor(s / 60)}m${Math.round(s % 60)}s` : `${Math.round(s)}s`);

export const trainStage: StageKind<'train', TrainParams> = {
  kind: 'train',
  plan: (config, before) => {
    const t = config.train;
    return [{
      id: 'train',
      kind: 'train',
      title: `Train ${config.model.backbone.name} for ${t.epochs} epoch${t.epochs === 1 ? '' : 's'} (batch ${t.batch_size}, ${config.loss.type} loss)`,
      needs: before.map((s) => s.id),
      outputs: ['history.jsonl', 'model/best', 'model/last'],
      cache: null,
      params: { epochs: t.epochs, batch_size: t.batch_size },
    }];
  },

  async execute(p, ctx, io) {
    const [
      { ensureBackend }, { buildModel, loadBackboneWeights }, { resolveWeights }, { train }, { epochOrder },
      { resolveReplicas }, { openCheckpoint }, { BatchLoader }, { resolveDecoder }, { MetricAccumulator, topK }, { validate },
      { recomputedSegments },
    ] = await Promise.all([
      import('../model/backend.ts'), import('../model/build.ts'), import('../weights/import.ts'), import('../train/loop.ts'),
      import('../train/sampler.ts'), import('../train/replicas.ts'), import('./checkpoint.ts'), import('../data/loader.ts'),
      import('../data/jpeg.ts'), import('../eval/metrics.ts'), import('../train/validate.ts'),
      import('../model/recompute.ts'),
    ]);
    const c = ctx.config;
    const trainSet = need(ctx.train, 'the training split');
    const valSet = ctx.val;
    const normalize = need(ctx.normalize, 'normalisation statistics');

    const info = await ensureBackend(ctx.backend);
    const adapter = info.adapter ? { adapter: info.adapter } : {};
    ctx.record.setBackend({ name: info.name, version: info.version, deterministic: info.deterministic, ...adapter });
    io.log(`backend ${info.name}: ${info.detail}`);

    const levelNames = c.data.levels;
    const counts = trainCounts(trainSet);
    const levels: LevelInfo[] = trainSet.index.levels.map((l, i) => ({ name: l.name, numClasses: l.ids.length, counts: counts[i] }));

    let model: tf.LayersModel;
    let resume: { state: TrainState; emaWeights?: Record<string, Float32Array> } | undefined;
    if (ctx.resumeFrom) {
      const ck = await openCheckpoint<TrainState>(ctx.resumeFrom);
      model = ck.model;
      // resumeTarget hands over a checkpoint only when its state.json is there and valid
      if (!ck.state) throw new Error(`internal: ${ctx.resumeFrom} has no state.json`);
      resume = { state: ck.state, emaWeights: ck.emaWeights };
      const at = ck.state.in_epoch;
      io.log(at ? `resuming epoch ${ck.state.epoch + 1} at step ${at.step}` : `resuming after epoch ${ck.state.epoch}`);
    } else {
      model = buildModel({
        backbone: c.model.backbone,
        head: c.model.head,
        inputSize: c.data.image.size,
        levels: levels.map((l) => ({ name: l.name, numClasses: l.numClasses })),
        seed: c.seed,
      });
      if (c.model.backbone.weights) {
        // a .pth/.safetensors file is imported once and cached by content; a directory is used as is
        const dir = await resolveWeights(c.model.backbone.weights, c.model.backbone.name, c.data.cache.dir);
        const rep = await loadBackboneWeights(model, dir);
        io.log(`weights from ${c.model.backbone.weights}: ${rep.matched.length} layers matched, ` +
          `${rep.missing.length} missing, ${rep.unexpected.length} unexpected, ${rep.shapeMismatch.length} wrong shape`);
      }
    }

    const batchSize = p.batch_size;
    // data-parallel replicas in worker threads, for the single-threaded wasm backend
    const replicas = resolveReplicas(c.train.replicas as number | 'auto', info.name, batchSize);
    if (replicas.note) io.log(replicas.note);
    ctx.record.setBackend({ name: info.name, version: info.version, deterministic: info.deterministic, replicas: replicas.count, ...adapter });
    if (replicas.count > 1) {
      io.log(`${replicas.count} training replicas: the main thread and ${replicas.count - 1} worker thread${replicas.count > 2 ? 's' : ''}, ` +
        `each batch split into ${replicas.count} shards`);
    }
    if (c.train.recompute) {
      const n = recomputedSegments(model);
      io.log(n > 0
        ? `train.recompute: ${n} segments of the network keep only their input and recompute their activations in the backward pass`
        : `train.recompute: ${c.model.backbone.name} has no block to cut at, so nothing is recomputed (it saves no memory)`);
    }
    const trainLabels = Int32Array.from(trainSet.rows, (r) => trainSet.index.labels[0][r]);
    const maxSteps = c.train.max_steps_per_epoch ?? Infinity;
    const steps = Math.min(Math.ceil(trainSet.rows.length / batchSize), maxSteps);
    const imageOpts = {
      image: c.data.image,
      normalize,
      concurrency: c.data.loader.concurrency,
      decoder: resolveDecoder(c.data.loader.decoder),
      worker: c.data.loader.worker,
      onBadImage: c.data.on_bad_image,
      cache: ctx.imageCache ?? null,
    };
    const skipsOf = (split: 'train' | 'val') => (b: SkippedImage) => ctx.badImages?.add(split, b);
    const batchesOf = (loader: InstanceType<typeof BatchLoader>) => (async function* () {
      for await (const b of loader) yield { x: b.x, labels: b.labels, n: b.rows.length };
    })();

    // `skip` (a resumed mid-epoch checkpoint): the epoch's order is the same, its first batches are
    // left out before anything is decoded. Augmentation is keyed by (seed, epoch, row), so the rest
    // are the batches an uninterrupted run trains. (A batch whose every image was skipped as bad
    // yields nothing and is not counted, so after one the resumed epoch would be one batch off.)
    const batchesFor = (epoch: number, skip: number) => {
      const order = epochOrder(c.train.sampler, trainLabels, c.seed, epoch);
      const end = Math.min(order.length, steps * batchSize);
      const rows = Int32Array.from(order.subarray(Math.min(end, skip * batchSize), end), (i) => trainSet.rows[i]);
      return batchesOf(new BatchLoader(trainSet.index, { ...imageOpts, rows, batchSize, seed: c.seed, epoch, augment: c.augment, onSkip: skipsOf('train') }));
    };

    const lossSpec = lossSpecOf(c);
    // The validation pass (train/validate.ts) gives the mean loss per level; metrics are taken
    // here from each batch's top-5, as the predict stage does.
    const evaluate = valSet && valSet.rows.length
      ? async (): Promise<ValMetrics> => {
          const accs = levels.map((l) => new MetricAccumulator(l.numClasses));
          const loader = new BatchLoader(valSet.index, { ...imageOpts, rows: valSet.rows, batchSize, seed: c.seed, epoch: -1, augment: null, onSkip: skipsOf('val') });
          const losses = await validate({
            model, levels, lossSpec, batches: batchesOf(loader),
            onLogits: (li, logits, labels, n) => {
              const k = Math.min(5, levels[li].numClasses);
              accs[li].add(topK(logits, n, levels[li].numClasses, k), k, labels);
            },
          });
          return Object.fromEntries(levels.map((l, li) => {
            const m = accs[li].finish();
            return [l.name, { loss: losses[l.name], macro_f1: m.macro_f1, accuracy: m.accuracy, top5: m.top5 ?? undefined }];
          }));
        }
      : undefined;

    const result = await train({
      model,
      levels,
      lossSpec,
      optimizerSpec: optimizerPlanOf(c),
      scheduleSpec: c.schedule,
      epochs: p.epochs,
      stepsPerEpoch: steps,
      batchesFor,
      accumulate: c.train.accumulate,
      recompute: c.train.recompute,
      ema: c.train.ema.enabled ? { decay: c.train.ema.decay } : null,
      evaluate,
      checkpointDir: ctx.record.path('model'),
      resume,
      seed: c.seed,
      signal: ctx.signal,
      onCheckpoint: (kind, _dir, epoch, step) => {
        if (step !== undefined) {
          io.log(`saved model/last at epoch ${epoch + 1}, step ${step}/${steps} before stopping; ` +
            `exp run --resume ${ctx.record.dir} continues from there`);
        }
      },
      replicas: replicas.count,
      onStep: (s) => io.progress(
        `epoch ${s.epoch + 1}/${s.epochs}  step ${s.step}/${s.steps}  loss ${s.loss.toFixed(3)}  ` +
          `${s.imagesPerSec.toFixed(1)} images/s  ETA ${fmtTime(s.eta)}`,
      ),
      // each finished epoch's result stays on screen and in log.txt, whatever runs after it
      onEpoch: (row) => {
        ctx.record.appendHistory(toRecordRow(row, levelNames));
        io.log(epochLine(row, levelNames[0]));
      },
    }).finally(() => model.dispose());
    const best = result.state.best;
    const used = replicas.count > 1 || replicas.note ? `${replicas.count} replica${replicas.count > 1 ? 's' : ''}` : '';
    const what = best ? `best ${levelNames[0]} macro-F1 ${best.metric.toFixed(3)} at epoch ${best.epoch + 1}` : 'done';
    return { summary: used ? `${what}, ${used}` : what };
  },
};

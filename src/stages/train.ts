// The train stage: picks the backend, builds the model from the config, feeds the training loop
// from the image pipeline, validates every epoch, and records history and checkpoints.
import type { StageExecutor } from '../plan/listr.ts';
import type { ExperimentConfig } from '../config/types.gen.ts';
import { ensureBackend } from '../model/backend.ts';
import { buildModel, loadBackboneWeights } from '../model/build.ts';
import { resolveWeights } from '../weights/import.ts';
import { buildLevelLosses, type LossSpec, type LevelInfo } from '../model/losses.ts';
import { tf } from '../model/tf.ts';
import type { OptimizerPlan } from '../train/phases.ts';
import type { OptimizerConfig } from '../model/optimizers.ts';
import { train, type HistoryRow as LoopRow, type ValMetrics, type TrainState } from '../train/loop.ts';
import { epochOrder } from '../train/sampler.ts';
import { resolveReplicas } from '../train/replicas.ts';
import { loadCheckpoint } from '../train/checkpoint.ts';
import { BatchLoader } from '../data/loader.ts';
import { resolveDecoder } from '../data/jpeg.ts';
import { MetricAccumulator, topK } from '../eval/metrics.ts';
import type { HistoryRow } from '../runs/schemas.ts';
import { need, trainCounts, type RunContext } from './context.ts';
import { outputIndex } from './predict-core.ts';

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
function toRecordRow(row: LoopRow, levels: string[]): HistoryRow {
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

export function trainStage(ctx: RunContext): StageExecutor {
  return async (_stage, io) => {
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
      const ck = await loadCheckpoint<TrainState>(ctx.resumeFrom);
      model = ck.model;
      if (!ck.state) throw new Error(`internal: ${ctx.resumeFrom} has no state.json`);
      resume = { state: ck.state, emaWeights: ck.emaWeights };
      io.log(`resuming after epoch ${ck.state.epoch}`);
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

    const batchSize = c.train.batch_size;
    // data-parallel replicas in worker threads, for the single-threaded wasm backend
    const replicas = resolveReplicas(c.train.replicas as number | 'auto', info.name, batchSize);
    if (replicas.note) io.log(replicas.note);
    ctx.record.setBackend({ name: info.name, version: info.version, deterministic: info.deterministic, replicas: replicas.count, ...adapter });
    if (replicas.count > 1) {
      io.log(`${replicas.count} training replicas: the main thread and ${replicas.count - 1} worker thread${replicas.count > 2 ? 's' : ''}, ` +
        `each batch split into ${replicas.count} shards`);
    }
    const trainLabels = Int32Array.from(trainSet.rows, (r) => trainSet.index.labels[0][r]);
    const maxSteps = c.train.max_steps_per_epoch ?? Infinity;
    const steps = Math.min(Math.ceil(trainSet.rows.length / batchSize), maxSteps);
    const imageOpts = {
      image: c.data.image,
      normalize,
      concurrency: c.data.loader.concurrency,
      decoder: resolveDecoder(c.data.loader.decoder),
      onBadImage: c.data.on_bad_image,
      cache: ctx.imageCache ?? null,
    };

    const batchesFor = (epoch: number) => {
      const order = epochOrder(c.train.sampler, trainLabels, c.seed, epoch);
      const rows = Int32Array.from(order.subarray(0, Math.min(order.length, steps * batchSize)), (i) => trainSet.rows[i]);
      const loader = new BatchLoader(trainSet.index, { ...imageOpts, rows, batchSize, seed: c.seed, epoch, augment: c.augment });
      return (async function* () {
        for await (const b of loader) yield { x: b.x, labels: b.labels, n: b.rows.length };
      })();
    };

    const levelLosses = buildLevelLosses(lossSpecOf(c), levels);
    const order = outputIndex(model, levelNames);
    const evaluate = valSet && valSet.rows.length
      ? async (): Promise<ValMetrics> => {
          const accs = levels.map((l) => new MetricAccumulator(l.numClasses));
          const lossSums = new Float64Array(levels.length);
          let n = 0;
          const loader = new BatchLoader(valSet.index, { ...imageOpts, rows: valSet.rows, batchSize, seed: c.seed, epoch: -1, augment: null });
          for await (const b of loader) {
            const B = b.rows.length;
            const out = tf.tidy(() => {
              const outs = model.predict(tf.tensor4d(b.x, [B, c.data.image.size, c.data.image.size, 3]), { batchSize: B }) as tf.Tensor[] | tf.Tensor;
              const arr = Array.isArray(outs) ? outs : [outs];
              const lv = order.map((i) => arr[i] as tf.Tensor2D);
              return [...lv, ...levelLosses.map((ll, li) => ll.fn(lv[li], b.labels[li]))];
            });
            // read asynchronously: webgpu has no synchronous readback
            const vals = await Promise.all(out.map((t) => t.data() as Promise<Float32Array>));
            tf.dispose(out);
            const logits = vals.slice(0, levels.length);
            const losses = vals.slice(levels.length).map((v) => v[0]);
            levels.forEach((l, li) => {
              const k = Math.min(5, l.numClasses);
              accs[li].add(topK(logits[li], B, l.numClasses, k), k, b.labels[li]);
              lossSums[li] += losses[li] * B;
            });
            n += B;
          }
          return Object.fromEntries(levels.map((l, li) => {
            const m = accs[li].finish();
            return [l.name, { loss: lossSums[li] / n, macro_f1: m.macro_f1, accuracy: m.accuracy, top5: m.top5 ?? undefined }];
          }));
        }
      : undefined;

    const result = await train({
      model,
      levels,
      lossSpec: lossSpecOf(c),
      optimizerSpec: optimizerPlanOf(c),
      scheduleSpec: c.schedule,
      epochs: c.train.epochs,
      stepsPerEpoch: steps,
      batchesFor,
      accumulate: c.train.accumulate,
      ema: c.train.ema.enabled ? { decay: c.train.ema.decay } : null,
      evaluate,
      checkpointDir: ctx.record.path('model'),
      resume,
      seed: c.seed,
      signal: ctx.signal,
      replicas: replicas.count,
      onStep: (p) => io.progress(
        `epoch ${p.epoch + 1}/${p.epochs}  step ${p.step}/${p.steps}  loss ${p.loss.toFixed(3)}  ` +
          `${p.imagesPerSec.toFixed(1)} img/s  ETA ${fmtTime(p.eta)}`,
      ),
      onEpoch: (row) => {
        ctx.record.appendHistory(toRecordRow(row, levelNames));
        const v = row.val?.[levelNames[0]];
        io.log(`epoch ${row.epoch + 1}: train loss ${row.train_loss.total.toFixed(3)}` +
          (v ? `, val ${levelNames[0]} macro-F1 ${v.macro_f1?.toFixed(3)} acc ${v.accuracy?.toFixed(3)}` : '') +
          `, ${row.images_per_s.toFixed(1)} img/s`);
      },
    });
    model.dispose();
    const best = result.state.best;
    const used = replicas.count > 1 || replicas.note ? `${replicas.count} replica${replicas.count > 1 ? 's' : ''}` : '';
    const what = best ? `best ${levelNames[0]} macro-F1 ${best.metric.toFixed(3)} at epoch ${best.epoch + 1}` : 'done';
    return { summary: used ? `${what}, ${used}` : what };
  };
}

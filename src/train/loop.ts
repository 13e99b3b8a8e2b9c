// The training loop: forward, hierarchical loss, gradients, optimizer update, EMA, per-epoch
// validation, history rows and checkpoints. Data comes from a per-epoch batch factory (the data
// pipeline keys its order and augmentation by (seed, epoch)), so the loop itself draws nothing
// random and a resume from model/last reproduces an uninterrupted run exactly on one backend.
// Epochs count from 0. Every tensor made in a step is freed inside it: memory stays flat.
// Gradients come from a GradientEngine (replicas.ts): the model in this thread, or with
// `replicas` > 1 data-parallel copies in worker threads (the batch split into shards).
// On a backend whose reads are asynchronous (webgpu) a step's kernels are only queued when its
// gradients are returned; the losses are read LOSS_LAG steps later, so the GPU runs step k while
// this thread prepares and queues step k+1 (its input upload included) and the data pipeline
// decodes the next batches. The lag also bounds how far this thread runs ahead of the GPU, so
// memory stays flat. A diverged loss is then caught LOSS_LAG steps late, still naming its own
// step. Other backends read each step's losses at once, as before.
// Preemption: once the run's signal aborts with SIGUSR2 or SIGTERM (errors.ts CHECKPOINT_SIGNALS),
// the loop finishes the step it is in (and the accumulation group, and the steps in flight), writes
// model/last with the position inside the epoch (TrainState.in_epoch: batches done, the epoch's loss
// sums so far) and then throws InterruptedError. A resume skips the batches already done (the
// source starts at `skip`; the order is keyed by (seed, epoch), the dropout masks by the global
// step, the learning rate by the step in the epoch) and ends bit-identical to an uninterrupted run.
import { tf } from '../model/tf.ts';
import { buildLevelLosses, type LevelInfo, type LossSpec } from '../model/losses.ts';
import { checkSchedule, lrAt, type ScheduleSpec } from '../model/schedules.ts';
import type { OptimizerState, Param } from '../model/optimizers.ts';
import { Ema, modelWeights } from '../model/ema.ts';
import { OptimizerPhases, type OptimizerPlan } from './phases.ts';
import { saveCheckpoint } from './checkpoint.ts';
import { createGradientEngine, type GradientEngine } from './replicas.ts';
import { InterruptedError, RunError, UserError, checkpointRequested, throwIfInterrupted } from '../errors.ts';
import { readsAreAsync, readVariablesToHost } from '../model/backend.ts';
import { join } from 'node:path';
import type { BatchSource } from './batch.ts';
export type { Batch, BatchSource } from './batch.ts';

/** Steps between queueing a step and reading its losses, where reads are asynchronous. */
export const LOSS_LAG = 2;

/** Validation metrics of one level (names as in metrics.json). */
export interface ValLevelMetrics {
  loss?: number;
  macro_f1?: number;
  accuracy?: number;
  top5?: number;
}
export type ValMetrics = Record<string, ValLevelMetrics>;

export interface StepProgress {
  epoch: number;
  epochs: number;
  step: number; // 1-based count of batches done in this epoch
  steps: number;
  loss: number; // total loss of this batch
  imagesPerSec: number;
  eta: number; // seconds left for the remaining training steps (validation not included)
}

/** One epoch's result (the train stage writes it as a line of history.jsonl: runs/schemas.ts HistoryRecord). */
export interface EpochResult {
  epoch: number;
  lr: number; // the rate of the epoch's first update
  optimizer: string;
  train_loss: Record<string, number>; // per level (unweighted) and `total` (weighted sum)
  val?: ValMetrics;
  val_ema?: ValMetrics;
  images_per_s: number;
  seconds: number;
}

/** model/last/state.json: what resume needs besides the weights. */
export interface TrainState {
  version: 1;
  epoch: number; // epochs completed = the next epoch to run
  /**
   * A checkpoint written inside epoch `epoch` (preemption): the batches of it already trained and
   * the sums its history row needs. Absent in a checkpoint written at the end of an epoch.
   */
  in_epoch?: InEpochState;
  seed: number | null;
  optimizers: OptimizerState[];
  schedule: { type: string; epoch: number; lr: number };
  best: { metric: number; epoch: number } | null;
  ema: { decay: number } | null;
}

export interface TrainOptions {
  model: tf.LayersModel;
  /** Label levels, finest first; the first is the target (best checkpoint). */
  levels: LevelInfo[];
  lossSpec: LossSpec;
  optimizerSpec: OptimizerPlan;
  scheduleSpec: ScheduleSpec;
  epochs: number;
  /** Batches per epoch (for the schedule's in-epoch position, progress and ETA). */
  stepsPerEpoch: number;
  /**
   * The batches of `epoch`, from batch number `skip` on (0 but when a mid-epoch checkpoint is
   * resumed): a source must leave out the first `skip` batches, ideally without decoding them.
   */
  batchesFor(epoch: number, skip: number): BatchSource;
  /** Gradient accumulation: one optimizer update per this many batches (default 1). */
  accumulate?: number;
  /** Recompute each block's activations in the backward pass instead of keeping them (default false). */
  recompute?: boolean;
  ema?: { decay: number } | null;
  evaluate?(epoch: number, weights: 'raw' | 'ema'): Promise<ValMetrics> | ValMetrics;
  onStep?(p: StepProgress): void;
  onEpoch?(row: EpochResult): void;
  /** The run's model/ folder: last/ is written every epoch, best/ when the target improves. */
  checkpointDir?: string;
  /** Told after each checkpoint is written (for the task's log line); `step` for a mid-epoch one. */
  onCheckpoint?(kind: 'best' | 'last', dir: string, epoch: number, step?: number): void;
  /** Continue from a checkpoint made by this loop (loadCheckpoint's state and emaWeights). */
  resume?: { state: TrainState; emaWeights?: Record<string, Float32Array> };
  seed?: number;
  signal?: AbortSignal;
  /**
   * Data-parallel replicas (default 1): the main thread and replicas-1 worker threads each
   * compute the gradient of a contiguous shard of every batch (see replicas.ts). Needs the wasm
   * (or cpu) backend; bit-identical for a given seed and replica count, not across counts.
   */
  replicas?: number;
}

export interface TrainResult {
  history: EpochResult[];
  state: TrainState;
}

/** Where a mid-epoch checkpoint stopped inside its epoch. */
export interface InEpochState {
  /** Batches of the epoch trained (the resumed epoch starts at this batch). */
  step: number;
  /** Per level (finest first), then the weighted total: sum of loss * batch size so far. */
  loss_sums: number[];
  /** Images trained in the epoch so far. */
  images: number;
  /** Seconds the epoch had run (its history row's seconds include them). */
  seconds: number;
}

/**
 * Output index per level. exp's models name their outputs `logits_<level>`, so the match is by
 * name; a model with exactly one output per level and no such names at all (an imported graph)
 * is read by position. Anything else, a missing level or a model built for other levels, is an
 * error: reading another level's logits would give plausible-looking, wrong metrics.
 */
export function outputOrder(model: tf.LayersModel, levels: readonly (string | { name: string })[]): number[] {
  const names = model.outputNames;
  const wanted = levels.map((l) => (typeof l === 'string' ? l : l.name));
  const byName = wanted.map((l) => names.indexOf(`logits_${l}`));
  if (byName.every((i) => i >= 0)) return byName;
  if (names.length === wanted.length && !names.some((n) => n.startsWith('logits_'))) return wanted.map((_l, i) => i);
  throw new RunError(
    `the model's outputs [${names.join(', ')}] do not match the levels [${wanted.join(', ')}]: ` +
      'expected one output named logits_<level> per level. Was the checkpoint trained with other data.levels?',
  );
}

function trainableParams(model: tf.LayersModel): Param[] {
  return model.trainableWeights.map((w) => ({ key: w.originalName, variable: w.read() as tf.Variable }));
}

function divergedError(epoch: number, step: number, levels: string[], vals: Float32Array): RunError {
  const parts = levels.map((l, i) => `${l}=${vals[i]}`).join(', ');
  return new RunError(
    `training diverged: the loss is ${vals[levels.length]} at epoch ${epoch}, step ${step} (${parts}). ` +
      `Lower optimizer.lr (e.g. 10x), check data.normalize (inputs should be about zero-mean, unit-variance), ` +
      `or add a warmup (schedule: {type: cosine, warmup_epochs: 1}).`,
  );
}

export async function train(opts: TrainOptions): Promise<TrainResult> {
  const { model, levels, epochs, stepsPerEpoch } = opts;
  const accumulate = opts.accumulate ?? 1;
  if (!(Number.isInteger(accumulate) && accumulate >= 1)) {
    throw new UserError(`train.accumulate must be a positive integer (got ${accumulate}).`);
  }
  checkSchedule(opts.scheduleSpec, epochs);
  buildLevelLosses(opts.lossSpec, levels); // a bad loss spec fails here, before any worker starts
  const order = outputOrder(model, levels);
  const params = trainableParams(model);
  const phases = new OptimizerPhases(opts.optimizerSpec, epochs);
  const ema = opts.ema ? new Ema(modelWeights(model), opts.ema.decay) : null;
  let best: TrainState['best'] = null;
  let startEpoch = 0;
  let resumeIn: InEpochState | undefined;

  if (opts.resume) {
    const s = opts.resume.state;
    if (opts.seed !== undefined && s.seed !== null && s.seed !== opts.seed) {
      throw new UserError(`the checkpoint was trained with seed ${s.seed}, the experiment says ${opts.seed}; resume with the run's own config.`);
    }
    phases.setState(s.optimizers);
    best = s.best;
    startEpoch = s.epoch;
    resumeIn = s.in_epoch;
    if (resumeIn && !(Number.isInteger(resumeIn.step) && resumeIn.step >= 0 && resumeIn.loss_sums.length === levels.length + 1)) {
      throw new UserError(`the checkpoint's in_epoch state (step ${resumeIn.step}, ${resumeIn.loss_sums.length} loss sums) does not fit this experiment's ${levels.length} levels; resume with the run's own config.`);
    }
    if (ema) {
      if (!opts.resume.emaWeights) throw new UserError('the experiment enables ema but the checkpoint has no ema/ weights; resume with the run\'s own config.');
      ema.setState({ weights: opts.resume.emaWeights });
    }
  }

  const history: EpochResult[] = [];
  const levelNames = levels.map((l) => l.name);
  const stateAt = (epoch: number, lr: number, inEpoch?: InEpochState): TrainState => ({
    version: 1,
    epoch,
    ...(inEpoch ? { in_epoch: inEpoch } : {}),
    seed: opts.seed ?? null,
    optimizers: phases.getState(),
    schedule: { type: opts.scheduleSpec.type, epoch, lr },
    best,
    ema: opts.ema ? { decay: opts.ema.decay } : null,
  });
  let lastLr = NaN;

  let engine: GradientEngine | null = null;
  try {
    engine = await createGradientEngine({ model, levels, lossSpec: opts.lossSpec, order, replicas: opts.replicas ?? 1, recompute: opts.recompute });
    const lag = readsAreAsync() && engine.gradsDeferred ? LOSS_LAG : 0;
    for (let epoch = startEpoch; epoch < epochs; epoch++) {
      const { optimizer, baseLr } = phases.optimizerForEpoch(epoch);
      const lrFor = (step: number) =>
        lrAt(opts.scheduleSpec, baseLr, { epoch, stepInEpoch: step, stepsPerEpoch, epochs });
      const epochLr = lrFor(0);
      lastLr = epochLr;
      const carried = epoch === startEpoch ? resumeIn : undefined;
      const t0 = performance.now() - (carried?.seconds ?? 0) * 1000;
      const sums = new Float64Array(levels.length + 1);
      if (carried) sums.set(carried.loss_sums);
      let images = carried?.images ?? 0;
      const skip = carried?.step ?? 0;
      let step = skip;
      let acc: tf.Tensor[] | null = null; // accumulated n-weighted gradients
      let accN = 0;
      let accCount = 0;
      let groupStart = 0;
      /** steps queued whose losses are not read yet (lag > 0) */
      const inFlight: { vals: Promise<Float32Array>; n: number; step: number }[] = [];

      /** A step's losses are known: stop on divergence, else add them to the epoch's sums. */
      const settle = (vals: Float32Array, n: number, at: number, grads: tf.Tensor[] = []) => {
        if (!Number.isFinite(vals[levels.length])) {
          grads.forEach((t) => t.dispose());
          acc?.forEach((t) => t.dispose());
          acc = null;
          throw divergedError(epoch, at, levelNames, vals);
        }
        for (let i = 0; i <= levels.length; i++) sums[i] += vals[i] * n;
        images += n;
      };
      const report = (done: number, loss: number) => {
        if (!opts.onStep || opts.signal?.aborted) return; // once interrupted, progress would throw
        const secs = (performance.now() - t0) / 1000;
        const rate = Math.max(done - skip, 1) / Math.max(secs - (carried?.seconds ?? 0), 1e-9);
        const left = stepsPerEpoch - done + (epochs - epoch - 1) * stepsPerEpoch;
        opts.onStep({
          epoch, epochs, step: done, steps: stepsPerEpoch, loss,
          imagesPerSec: images / Math.max(secs, 1e-9), eta: Math.max(0, left) / rate,
        });
      };
      /** Read the oldest queued step's losses (waits for the GPU to finish it). */
      const settleOldest = async () => {
        const p = inFlight.shift()!;
        const vals = await p.vals;
        settle(vals, p.n, p.step);
        report(p.step + 1, vals[levels.length]);
      };

      const flush = () => {
        if (!acc) return;
        const grads = acc;
        const mean = accCount === 1 ? grads : grads.map((g) => tf.tidy(() => tf.div(g, accN)));
        optimizer.lr = lrFor(groupStart);
        optimizer.apply(params, mean);
        engine!.syncWeights();
        if (mean !== grads) mean.forEach((g) => g.dispose());
        grads.forEach((g) => g.dispose());
        acc = null;
        accN = 0;
        accCount = 0;
        ema?.update();
      };

      /**
       * Preempted (SIGUSR2, SIGTERM): at a step boundary with nothing accumulated or in flight,
       * write model/last at this position in the epoch and stop. Other signals stop at once.
       */
      const stopIfInterrupted = async () => {
        if (!opts.signal?.aborted) return;
        if (!checkpointRequested(opts.signal) || !opts.checkpointDir) throwIfInterrupted(opts.signal);
        while (inFlight.length) await settleOldest();
        if (step > 0) { // at step 0 model/last already holds this state (the previous epoch's end)
          await readVariablesToHost(); // optimizer state is read synchronously below (stateAt)
          const inEpoch: InEpochState = { step, loss_sums: Array.from(sums), images, seconds: (performance.now() - t0) / 1000 };
          const dir = join(opts.checkpointDir!, 'last');
          await saveCheckpoint(dir, model, stateAt(epoch, epochLr, inEpoch), ema ? { ema } : {});
          opts.onCheckpoint?.('last', dir, epoch, step);
        }
        throw InterruptedError.of(opts.signal);
      };

      for await (const batch of opts.batchesFor(epoch, skip)) {
        // inside an accumulation group only a signal that needs no checkpoint stops at once
        if (accCount === 0) await stopIfInterrupted();
        else if (!checkpointRequested(opts.signal)) throwIfInterrupted(opts.signal);
        // dropout masks are keyed by the global step, so a resumed run draws the same ones
        const dropoutStep = epoch * stepsPerEpoch + step;
        let g: tf.Tensor[];
        let vals: Float32Array | null = null;
        if (lag === 0) {
          ({ vals, grads: g } = await engine.grads(batch, dropoutStep));
          settle(vals, batch.n, step, g);
        } else {
          const pending = engine.gradsDeferred!(batch, dropoutStep);
          g = pending.grads;
          inFlight.push({ vals: pending.vals, n: batch.n, step });
        }

        if (accumulate === 1) {
          acc = g;
          accN = batch.n;
          accCount = 1;
          groupStart = step;
        } else {
          // sum of n_i * g_i / sum n_i: the gradient of the mean loss over the whole group
          const weighted = g.map((t) => tf.tidy(() => tf.mul(t, batch.n)));
          g.forEach((t) => t.dispose());
          if (!acc) {
            acc = weighted;
            groupStart = step;
          } else {
            const prev: tf.Tensor[] = acc;
            acc = prev.map((a, i) => tf.tidy(() => tf.add(a, weighted[i])));
            prev.forEach((t) => t.dispose());
            weighted.forEach((t) => t.dispose());
          }
          accN += batch.n;
          accCount++;
        }
        if (accCount >= accumulate) flush();
        step++;
        if (accCount === 0 && step < stepsPerEpoch) await stopIfInterrupted(); // the epoch's last step: its end saves

        if (vals) report(step, vals[levels.length]);
        while (inFlight.length > lag) await settleOldest();
      }
      while (inFlight.length) await settleOldest();
      flush();
      if (images === 0) throw new RunError(`epoch ${epoch} produced no training batches`);
      const trainSeconds = (performance.now() - t0) / 1000;

      const train_loss: Record<string, number> = {};
      levels.forEach((l, i) => (train_loss[l.name] = sums[i] / images));
      train_loss.total = sums[levels.length] / images;

      const val = opts.evaluate ? await opts.evaluate(epoch, 'raw') : undefined;
      const val_ema = opts.evaluate && ema ? await ema.withAveraged(() => opts.evaluate!(epoch, 'ema')) : undefined;

      const row: EpochResult = {
        epoch, lr: epochLr, optimizer: optimizer.name, train_loss,
        ...(val ? { val } : {}), ...(val_ema ? { val_ema } : {}),
        images_per_s: images / trainSeconds,
        seconds: (performance.now() - t0) / 1000,
      };

      const f1 = val?.[levels[0].name]?.macro_f1;
      const improved = f1 !== undefined && Number.isFinite(f1) && (best === null || f1 > best.metric);
      if (improved) best = { metric: f1, epoch };
      if (opts.checkpointDir) {
        const withEma = ema ? { ema } : {};
        await readVariablesToHost(); // optimizer state is read synchronously below (stateAt)
        if (improved) {
          await saveCheckpoint(join(opts.checkpointDir, 'best'), model, undefined, withEma);
          opts.onCheckpoint?.('best', join(opts.checkpointDir, 'best'), epoch);
        }
        await saveCheckpoint(join(opts.checkpointDir, 'last'), model, stateAt(epoch + 1, epochLr), withEma);
        opts.onCheckpoint?.('last', join(opts.checkpointDir, 'last'), epoch);
      }
      history.push(row);
      opts.onEpoch?.(row);
    }
    await readVariablesToHost();
    return { history, state: stateAt(Math.max(startEpoch, epochs), lastLr) };
  } finally {
    phases.dispose();
    ema?.dispose();
    await engine?.dispose(); // terminates replica workers on every exit path
  }
}

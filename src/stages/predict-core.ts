// Predictions for one split: every label level, several TTA counts from one pass (view 0 plain,
// views 1.. augmented; the count-N result averages views 0..N-1), written as row blocks to .npy
// files so a 138k x 32k split never sits in memory; metrics accumulated on the way.
import { join } from 'node:path';
import { tf } from '../model/tf.ts';
import { BatchLoader, type SkippedImage } from '../data/loader.ts';
import type { Decoder } from '../data/jpeg.ts';
import type { AugmentSpec, Normalize } from '../data/image.ts';
import type { ImageCache } from '../data/cache.ts';
import { NpyWriter } from '../eval/npy.ts';
import { TtaAccumulator, type Reduction, type ScoreKind } from '../eval/tta.ts';
import { logitAdjust, logPriorFromCounts, ancestorMaps, hierarchicalScores } from '../eval/decode.ts';
import { ConsistencyAccumulator, MetricAccumulator, firstColumn, topK, type LevelMetrics } from '../eval/metrics.ts';
import { writeJsonAtomic } from '../util/fs.ts';
import type { PredictionIndex } from '../runs/schemas.ts';
import { throwIfInterrupted } from '../errors.ts';
import { outputOrder } from '../train/loop.ts';
import type { Subset } from './context.ts';

export interface PredictOptions {
  model: tf.LayersModel;
  subset: Subset;
  split: string;
  /** TTA counts to write, e.g. [1, 4]; one pass computes max(counts) views. */
  ttaCounts: number[];
  reduce: Reduction;
  image: { resize: number; size: number };
  augment: AugmentSpec;
  normalize: Normalize;
  seed: number;
  batchSize: number;
  concurrency: number;
  decoder?: Decoder;
  /** data.loader.worker: decode in the loader's worker thread. */
  worker?: boolean;
  onBadImage: 'fail' | 'skip';
  /** Told of each image left out under on_bad_image: skip. */
  onSkip?: (s: SkippedImage) => void;
  cache: ImageCache | null;
  /** Of the score arrays (top-5 arrays are int32). */
  dtype: PredictionIndex['dtype'];
  /**
   * Decoding for the rankings (top-5, metrics, submission); the saved scores stay the model's.
   * Off unless tau > 0 or hierarchical weights are given.
   */
  decode?: Decode;
  /** predictions/<split>/tta<N>/ for a count N. */
  dirFor(tta: number): string;
  /**
   * Writes the set's index.json into dirFor(index.tta): a run's is RunRecord.writePredictionIndex,
   * which checks it against index.schema.json (the file every reader validates).
   */
  writeIndex(index: PredictionIndex): void;
  /** Stops between batches (InterruptedError) once aborted; the partial files are removed. */
  signal?: AbortSignal;
  onProgress?(done: number, total: number): void;
}

export interface SplitMetrics {
  /** Per TTA count, per level; empty when the split has no labels. */
  [tta: string]: Record<string, LevelMetrics | number>;
}

const TOPK = 5;

export interface Decode {
  /** Logit adjustment strength (0 = off) and the training class counts per level. */
  tau: number;
  trainCounts: ArrayLike<number>[];
  /** Hierarchy-aware decoding of the target level: one weight per level, or null for off. */
  hierarchical: number[] | null;
}

/** The decode block of a config, or undefined when both options are off. */
export function decodeOf(
  cfg: { logit_adjust: { tau: number }; hierarchical: { enabled: boolean; weights: Record<string, number> } },
  levels: string[], trainCounts: ArrayLike<number>[],
): Decode | undefined {
  const hier = cfg.hierarchical.enabled ? levels.map((l) => cfg.hierarchical.weights[l] ?? 1) : null;
  if (!(cfg.logit_adjust.tau > 0) && !hier) return undefined;
  return { tau: cfg.logit_adjust.tau, trainCounts, hierarchical: hier };
}

/** Ranking scores per level from reduced scores: logit adjustment, then hierarchical decoding. */
function rankingScores(
  reduced: { scores: Float32Array; kind: ScoreKind }[], rows: number, cols: number[], d: Decode | undefined,
  priors: Float64Array[] | null, ancestors: Int32Array[] | null,
): Float32Array[] {
  if (!d) return reduced.map((r) => r.scores);
  const adjusted = reduced.map((r, li) => (priors ? logitAdjust(r.scores, rows, cols[li], priors[li], d.tau) : r.scores));
  if (!d.hierarchical || !ancestors) return adjusted;
  // adjusted logits minus a constant per row are still logits; log-probs minus tau*prior are not
  // normalised, so they are re-normalised as logits (log-softmax is shift-invariant).
  const blocks = adjusted.map((scores, li) => ({ scores, cols: cols[li], kind: (priors ? 'logits' : reduced[li].kind) as ScoreKind }));
  return [hierarchicalScores(blocks, ancestors, d.hierarchical, rows), ...adjusted.slice(1)];
}

/** Logits of one batch for each level: [level] -> Float32Array rows*cols. Read asynchronously
 * (webgpu has no synchronous readback), so several views can be queued before the first is read. */
export async function predictBatch(model: tf.LayersModel, x: Float32Array, n: number, size: number, order: number[]): Promise<Float32Array[]> {
  const logits = tf.tidy(() => {
    const input = tf.tensor4d(x, [n, size, size, 3]);
    const out = model.predict(input, { batchSize: n }) as tf.Tensor | tf.Tensor[];
    const outs = Array.isArray(out) ? out : [out];
    return order.map((i) => outs[i]);
  });
  try {
    return await Promise.all(logits.map((t) => t.data() as Promise<Float32Array>));
  } finally {
    tf.dispose(logits);
  }
}

export async function predictSplit(o: PredictOptions): Promise<{ metrics: SplitMetrics; rows: number; skipped: number }> {
  const { index } = o.subset;
  const levels = index.levels.map((l) => l.name);
  const cols = index.levels.map((l) => l.ids.length);
  const order = outputOrder(o.model, levels);
  const V = Math.max(...o.ttaCounts);
  const labelled = index.labels[0].length > 0 && o.subset.rows.some((r) => index.labels[0][r] >= 0);
  const loader = new BatchLoader(index, {
    rows: o.subset.rows,
    batchSize: o.batchSize,
    seed: o.seed,
    epoch: -1, // a key of its own, apart from every training epoch
    image: o.image,
    augment: o.augment,
    normalize: o.normalize,
    views: V,
    concurrency: o.concurrency,
    decoder: o.decoder,
    worker: o.worker,
    onBadImage: o.onBadImage,
    onSkip: o.onSkip,
    cache: o.cache,
  });

  type Out = { scores: NpyWriter[]; top: NpyWriter[]; acc: MetricAccumulator[]; cons: ConsistencyAccumulator; kind: ScoreKind };
  const outs = new Map<number, Out>();
  const parents = index.levels.slice(0, -1).map((l) => l.parent!).filter(Boolean);
  for (const n of o.ttaCounts) {
    outs.set(n, {
      scores: await Promise.all(levels.map((l, i) => NpyWriter.open(join(o.dirFor(n), `${l}.npy`), { dtype: o.dtype, cols: cols[i] }))),
      top: await Promise.all(levels.map((l, i) => NpyWriter.open(join(o.dirFor(n), `${l}.top5.npy`), { dtype: 'int32', cols: Math.min(TOPK, cols[i]) }))),
      acc: cols.map((c) => new MetricAccumulator(c)),
      cons: new ConsistencyAccumulator(parents),
      kind: n === 1 || o.reduce === 'logits' ? 'logits' : 'log_probs',
    });
  }
  const priors = o.decode && o.decode.tau > 0 ? o.decode.trainCounts.map((c) => logPriorFromCounts(c)) : null;
  const ancestors = o.decode?.hierarchical ? ancestorMaps(parents, cols[0]) : null;
  const ids: (number | string)[] = [];
  const labels: number[][] = levels.map(() => []);
  let done = 0;
  try {
    for await (const batch of loader) {
      throwIfInterrupted(o.signal);
      const B = batch.rows.length;
      const per = o.image.size * o.image.size * 3;
      // [view][level]; every view is queued before the first is read
      const views: Float32Array[][] = await Promise.all(Array.from({ length: V }, (_x, v) =>
        predictBatch(o.model, batch.x.subarray(v * B * per, (v + 1) * B * per), B, o.image.size, order)));
      for (const r of batch.rows) ids.push(index.ids[r]);
      levels.forEach((_l, li) => labels[li].push(...batch.labels[li]));
      for (const [n, out] of outs) {
        const top1: Int32Array[] = [];
        const reduced = levels.map((_l, li) => {
          const acc = new TtaAccumulator(B, cols[li], n === 1 ? 'logits' : o.reduce);
          for (let v = 0; v < n; v++) acc.add(views[v][li]);
          return acc.finish();
        });
        const ranking = rankingScores(reduced, B, cols, o.decode, priors, ancestors);
        for (let li = 0; li < levels.length; li++) {
          const k = Math.min(TOPK, cols[li]);
          const top = topK(ranking[li], B, cols[li], k);
          await out.scores[li].append(reduced[li].scores);
          await out.top[li].append(top);
          if (labelled) out.acc[li].add(top, k, batch.labels[li]);
          top1.push(firstColumn(top, B, k));
        }
        if (labelled && parents.length) out.cons.add(top1);
      }
      done += B;
      o.onProgress?.(done, o.subset.rows.length);
    }
  } catch (e) {
    for (const out of outs.values()) await Promise.all([...out.scores, ...out.top].map((w) => w.abort()));
    throw e;
  }

  const metrics: SplitMetrics = {};
  for (const [n, out] of outs) {
    await Promise.all([...out.scores, ...out.top].map((w) => w.close()));
    // compact: at 138k test rows the ids alone are megabytes
    o.writeIndex({
      split: o.split,
      ids,
      labels: Object.fromEntries(levels.map((l, li) => [l, labelled ? labels[li] : null])),
      classes: Object.fromEntries(index.levels.map((l) => [l.name, l.ids])),
      tta: n,
      reduce: o.reduce,
      dtype: o.dtype,
      scores: out.kind,
      rows: ids.length,
      levels,
      decode: o.decode ? { logit_adjust_tau: o.decode.tau, hierarchical_weights: o.decode.hierarchical } : null,
    });
    if (labelled) {
      const m: Record<string, LevelMetrics | number> = Object.fromEntries(levels.map((l, li) => [l, out.acc[li].finish()]));
      if (parents.length) m.hierarchy_consistency = out.cons.finish();
      metrics[`tta${n}`] = m;
      writeJsonAtomic(join(o.dirFor(n), 'per_class.json'), Object.fromEntries(levels.map((l, li) => {
        const pc = out.acc[li].perClass();
        return [l, { classes: index.levels[li].ids, names: index.levels[li].names, f1: [...pc.f1], precision: [...pc.precision], recall: [...pc.recall], support: [...pc.support] }];
      })));
    }
  }
  return { metrics, rows: ids.length, skipped: loader.skipped.length };
}

// `exp predict <run>`: new predictions from a trained run's checkpoint without retraining (another
// TTA count, or the test split), stored beside the originals and recorded in run.json. A plan of
// the run's own stage kinds (index, split, predict:<split>) through the run lifecycle, so it has
// stage records, Ctrl-C handling and failure states like `exp run`; the run's data record and
// status stay the ones it was trained with.
import type { ExperimentConfig } from '../config/types.gen.ts';
import { UserError } from '../errors.ts';
import { ImageCache } from '../data/cache.ts';
import type { BackendName } from '../model/backend.ts';
import type { RunRecord } from '../runs/record.ts';
import { loadRunConfig } from '../runs/read-config.ts';
import type { Plan } from '../plan/types.ts';
import type { PredictOutcome, RunContext } from './context.ts';
import type { Stage } from './kinds.ts';
import { indexParams, indexStage } from './index.ts';
import { splitParams, splitStage } from './split.ts';
import { predictStageFor } from './predict.ts';
import { runPipeline } from './lifecycle.ts';

export interface PredictRunOptions {
  split: 'val' | 'test';
  /** Views per image; the run's tta.count when absent. */
  tta?: number;
  backend: BackendName;
  quiet?: boolean;
}

/**
 * Stage ids of `exp predict` carry this prefix in run.json, so the trained run's own stage records
 * (index, split, predict:<split>) stay as training left them and a failed or interrupted
 * `exp predict` is recorded beside them, not over them.
 */
export const PREDICT_PREFIX = 'exp-predict:';

/** The plan of `exp predict`: the data stages (recording nothing about the data), then one predict stage. */
export function predictPlan(config: ExperimentConfig, split: 'val' | 'test', tta: number): Plan<Stage> {
  const data = [
    ...indexStage.plan!(config, []).map((s) => ({ ...s, params: indexParams(config, false) })),
    ...splitStage.plan!(config, []).map((s) => ({ ...s, params: splitParams(config, false) })),
  ];
  const predict = predictStageFor(config, { split, tta: [tta], reduce: config.tta.reduce, default: null }, data.map((s) => s.id));
  const prefixed = [...data, predict].map((s) => ({ ...s, id: PREDICT_PREFIX + s.id, needs: s.needs.map((n) => PREDICT_PREFIX + n) })) as Stage[];
  return { name: config.name, stages: prefixed };
}

export async function predictRun(record: RunRecord, o: PredictRunOptions): Promise<{ dir: string; tta: number; outcome: PredictOutcome }> {
  const dir = record.dir;
  if (record.json.kind !== 'train') throw new UserError(`${dir} is an ${record.json.kind} run; exp predict needs a trained run (it reads model/best).`);
  if (record.json.status === 'running') {
    throw new UserError(`${dir} is still running (or its process was killed before it could say so): its model/best may change under exp predict, and marking it finished would hide the run. Wait for it to finish, or continue a killed run with exp run --resume ${dir}.`);
  }
  // validated like an experiment file (data paths must exist): predicting acts on every setting
  const { config } = await loadRunConfig(dir);
  record.readMetrics(); // validated now: a damaged metrics.json stops here, not after predicting
  if (o.split === 'test' && !config.data.test) throw new UserError(`${dir} was trained without a test split (data.test is null); use --split val.`);
  const tta = o.tta ?? config.tta.count;
  const norm = record.json.normalize ?? (typeof config.data.normalize === 'object' ? config.data.normalize : undefined);
  if (!norm) throw new UserError(`${dir} has no recorded normalisation statistics (its stats stage did not finish); re-run it.`);

  const ctx = await runPipeline<RunContext>(predictPlan(config, o.split, tta), {
    config,
    record,
    backend: o.backend,
    noCache: false,
    normalize: { mean: norm.mean, std: norm.std },
    // the cache stage is not in this plan: read whatever of the shared cache the run built
    imageCache: config.data.cache.enabled ? new ImageCache(config.data.image.resize, { dir: config.data.cache.dir }) : null,
  }, { quiet: o.quiet, afterInterrupt: `the prediction stopped before it finished (${dir}'s training and earlier predictions are unchanged); run the same exp predict again` });
  return { dir: record.predictionsDir(o.split, tta), tta, outcome: ctx.predicted![o.split]! };
}

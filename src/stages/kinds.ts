// The table of stage kinds: the one place that lists them. Adding a kind is one module
// (src/stages/<kind>.ts exporting a StageKind) and one line here. From the table come the
// `Stage` union (discriminated on `kind`, with each kind's typed params), `compile` (a pure
// function from a validated config to the experiment's stages, in table order) and the
// dispatch from a stage to its kind's executor.
import type { ExperimentConfig } from '../config/types.gen.ts';
import type { Plan, StageIO, StageResult, StageSpec } from '../plan/types.ts';
import { loadDataset } from '../data/formats/index.ts';
import type { StageContext, StageKind, StatusProbe } from './context.ts';
import { indexStage } from './index.ts';
import { splitStage } from './split.ts';
import { cacheStage } from './cache.ts';
import { statsStage } from './stats.ts';
import { trainStage } from './train.ts';
import { predictStage } from './predict.ts';
import { submissionStage } from './submission.ts';
import { blendStage } from './blend.ts';

/** Kind name -> its module's StageKind. The order is the order `compile` plans them in. */
export const STAGE_KINDS = {
  index: indexStage,
  split: splitStage,
  cache: cacheStage,
  stats: statsStage,
  train: trainStage,
  predict: predictStage,
  submission: submissionStage,
  blend: blendStage,
} as const;

type Kinds = typeof STAGE_KINDS;
export type StageKindName = keyof Kinds;
export type ParamsOf<K extends StageKindName> = Kinds[K] extends StageKind<K, infer P, any> ? P : never;
/** A stage of any kind; `stage.kind` narrows `stage.params`. */
export type Stage = { [K in StageKindName]: StageSpec<K, ParamsOf<K>> }[StageKindName];

type AnyKind = StageKind<string, unknown, StageContext>;
const kinds = (): AnyKind[] => Object.values(STAGE_KINDS) as AnyKind[];

/** The stages of an experiment, from a validated, defaulted config. Pure: no I/O. */
export function compile(config: ExperimentConfig): Plan<Stage> {
  const stages: StageSpec[] = [];
  for (const k of kinds()) if (k.plan) stages.push(...k.plan(config, stages));
  return { name: config.name, stages: stages as Stage[] };
}

/**
 * The executor of a plan's stages. The context must be the one the plan's kinds expect (a
 * RunContext for an experiment's stages, an EnsembleContext for blends); each pipeline builds
 * its own, which is why this one call is not type-checked per kind.
 */
export function executorFor(ctx: StageContext): (stage: Stage, io: StageIO) => Promise<StageResult | void> {
  return (stage, io) => (STAGE_KINDS[stage.kind] as AnyKind).execute(stage.params, ctx, io);
}

/**
 * For `exp plan`: stage id -> whether its cached result exists, for the kinds that can tell.
 * Reads metadata and caches; writes nothing and starts no training backend. The datasets are
 * read once, whichever stages ask.
 */
export async function planStatus(plan: Plan<Stage>, config: ExperimentConfig): Promise<Record<string, string>> {
  let data: ReturnType<StatusProbe['data']> | undefined;
  const probe: StatusProbe = {
    data: () => (data ??= (async () => {
      const d = config.data;
      const train = await loadDataset(d.format, d.train, d.levels, 'train');
      // a test set that does not load is left out: the statuses are about the cached results
      const test = d.test ? await loadDataset(d.format, d.test, d.levels, 'test').catch(() => undefined) : undefined;
      return { train, test };
    })()),
  };
  const out: Record<string, string> = {};
  for (const s of plan.stages) {
    const k = STAGE_KINDS[s.kind] as AnyKind;
    if (!k.status) continue;
    try {
      out[s.id] = await k.status(s.params, config, probe);
    } catch (e) {
      out[s.id] = `unknown: ${(e as Error).message.split('.')[0]}`;
    }
  }
  return out;
}

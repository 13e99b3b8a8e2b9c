// What a stage kind is, and what the stages of one run share. Each stage reads what earlier
// stages put in its context and adds its own results; nothing else carries state between stages.
import type { ExperimentConfig } from '../config/types.gen.ts';
import type { DatasetIndex } from '../data/types.ts';
import type { Normalize } from '../data/image.ts';
import type { ImageCache } from '../data/cache.ts';
import type { RunRecord } from '../runs/record.ts';
import type { BackendName } from '../model/backend.ts';
import type { StageIO, StageResult, StageSpec } from '../plan/types.ts';
import type { BadImages } from './bad-images.ts';

/**
 * One stage kind: src/stages/<kind>.ts exports one of these, and src/stages/kinds.ts lists it.
 * `plan` and `status` are pure or read-only and must stay cheap to load: a module that needs
 * tfjs imports it inside `execute`, so compiling a plan (exp plan, exp run --dry-run) never does.
 */
export interface StageKind<K extends string, P, C extends StageContext = RunContext> {
  kind: K;
  /**
   * The stages of this kind an experiment needs (none, one, or one per split), given the stages
   * planned before it. Absent for kinds that other pipelines plan themselves (blend).
   */
  plan?(config: ExperimentConfig, before: readonly StageSpec[]): StageSpec<K, P>[];
  execute(params: P, ctx: C, io: StageIO): Promise<StageResult | void>;
  /** For `exp plan`: whether the result is already cached ("cached", "412/1000 images cached"). */
  status?(params: P, config: ExperimentConfig, probe: StatusProbe): Promise<string>;
}

/** What `status` functions share: each dataset is read once per `exp plan`. */
export interface StatusProbe {
  data(): Promise<{ train: DatasetIndex; test?: DatasetIndex }>;
}

/** What every pipeline gives its stages. */
export interface StageContext {
  record: RunRecord;
  /** Aborted, with the signal's name as reason, when the run is interrupted. */
  signal: AbortSignal;
  /**
   * Where stages report images left out under data.on_bad_image: skip; the lifecycle writes them
   * into run.json (data.bad_images) after each stage. Absent where the pipeline records no data
   * (exp predict adds to a trained run whose data record stays as it was trained).
   */
  badImages?: BadImages;
}

/** A set of examples: an index and the rows of it that belong to the set. */
export interface Subset {
  index: DatasetIndex;
  rows: Int32Array;
}

/** What predicting one split produced (the predict command prints it). */
export interface PredictOutcome {
  rows: number;
  skipped: number;
  /** tta<N> -> level -> metrics; empty when the split has no labels. */
  metrics: Record<string, Record<string, unknown>>;
}

/** The context of an experiment's stages (exp run, exp predict). */
export interface RunContext extends StageContext {
  config: ExperimentConfig;
  backend: BackendName;
  /** Recompute cached stages (--no-cache). */
  noCache: boolean;
  /** Resume training from this checkpoint directory (model/last of an interrupted run). */
  resumeFrom?: string;
  train?: Subset;
  val?: Subset;
  test?: Subset;
  normalize?: Normalize;
  imageCache?: ImageCache | null;
  predicted?: Partial<Record<'val' | 'test', PredictOutcome>>;
}

export function need<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`internal: stage ran before ${what} was prepared`);
  return value;
}

/** All rows of an index. */
export function allRows(index: DatasetIndex): Int32Array {
  return Int32Array.from({ length: index.files.length }, (_x, i) => i);
}

/** Training images per class at each level, over the subset's rows (class-balanced loss, priors). */
export function trainCounts(train: Subset): Int32Array[] {
  return train.index.levels.map((l, li) => {
    const counts = new Int32Array(l.ids.length);
    const lab = train.index.labels[li];
    for (const r of train.rows) if (lab[r] >= 0) counts[lab[r]]++;
    return counts;
  });
}

// What the stages of one run share. Each stage reads what earlier stages put here and adds its
// own results; nothing else carries state between stages.
import type { ExperimentConfig } from '../config/types.gen.ts';
import type { DatasetIndex } from '../data/types.ts';
import type { Normalize } from '../data/image.ts';
import type { ImageCache } from '../data/cache.ts';
import type { RunRecord } from '../runs/record.ts';
import type { BackendName } from '../model/backend.ts';

/** A set of examples: an index and the rows of it that belong to the set. */
export interface Subset {
  index: DatasetIndex;
  rows: Int32Array;
}

export interface RunContext {
  config: ExperimentConfig;
  record: RunRecord;
  backend: BackendName;
  /** Recompute cached stages (--no-cache). */
  noCache: boolean;
  signal: AbortSignal;
  /** Resume training from this checkpoint directory (model/last of an interrupted run). */
  resumeFrom?: string;
  train?: Subset;
  val?: Subset;
  test?: Subset;
  normalize?: Normalize;
  imageCache?: ImageCache | null;
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

// A compiled plan is plain data: which stages run, in what order, what each needs and writes,
// and how its result is keyed for the cross-run cache. `compile` (compile.ts) builds it from a
// validated config; `exp plan` prints it; listr.ts executes it.

export type StageKind =
  | 'index' // read dataset metadata (train, test), fingerprint it, build the label hierarchy
  | 'split' // validation split
  | 'stats' // per-channel mean/std for normalize: auto
  | 'cache' // resized-image cache
  | 'train' // training with per-epoch validation and checkpoints
  | 'predict' // predictions (+TTA) for one split, saved logits, metrics
  | 'submission'; // Id,Predicted CSV for the test split

/** What a cached stage's result depends on; hashed into its cache key once data is indexed. */
export interface CacheSpec {
  /** Cache namespace (a folder under data.cache.dir). */
  kind: 'stats' | 'images';
  /** Parameters that, together with the data fingerprint, determine the result. */
  params: Record<string, unknown>;
}

export interface Stage {
  id: string; // unique, e.g. "predict:val"
  kind: StageKind;
  title: string; // what the terminal shows
  needs: string[]; // ids of stages whose outputs it reads
  outputs: string[]; // run-record paths it writes (relative to the run directory)
  cache: CacheSpec | null; // null: always runs
  params: Record<string, unknown>; // stage-specific settings, from the config
}

export interface Plan {
  name: string;
  stages: Stage[];
}

// A compiled plan is plain data: which stages run, in what order, what each needs and writes,
// and how its result is keyed for the cross-run cache. What a stage of each kind does lives in
// src/stages/<kind>.ts; the table of kinds (src/stages/kinds.ts) turns a config into a Plan and
// narrows `Stage` to a union on `kind` with each kind's typed params. This folder holds only
// what every plan shares: these shapes and the runner (listr.ts).

/** What a cached stage's result depends on; hashed into its cache key once data is indexed. */
export interface CacheSpec {
  /** Cache namespace (a folder under data.cache.dir). */
  kind: 'stats' | 'images';
  /** Parameters that, together with the data fingerprint, determine the result. */
  params: Record<string, unknown>;
}

/** One stage of a plan; `params` are the kind's own typed settings. */
export interface StageSpec<K extends string = string, P = unknown> {
  id: string; // unique, e.g. "predict:val"
  kind: K;
  title: string; // what the terminal shows
  needs: string[]; // ids of stages whose outputs it reads
  outputs: string[]; // run-record paths it writes (relative to the run directory)
  cache: CacheSpec | null; // null: always runs
  params: P;
}

export interface Plan<S extends StageSpec = StageSpec> {
  name: string;
  stages: S[];
}

/** What a stage executor may tell the terminal while it runs. */
export interface StageIO {
  /**
   * One line of progress under the task (e.g. "epoch 3/10 step 40/120 loss 2.31 71 images/s ETA 1m20s").
   * Also where a long stage yields to Ctrl-C: once the run is interrupted, progress throws
   * InterruptedError, so a stage stops at its next report without checking a signal itself.
   */
  progress(line: string): void;
  /** Permanently log a line (also goes to the run's log.txt). */
  log(line: string): void;
}

export interface StageResult {
  cached?: boolean;
  /** A short summary shown in the final title, e.g. "val species macro-F1 0.412". */
  summary?: string;
}

// The data contract between dataset formats, the split, the image pipeline and training.
// Everything here is plain data; a 1M-image index is a few typed arrays and string arrays.

/** Classes of one label level, in dense-index order (training uses dense indices 0..n-1). */
export interface LevelClasses {
  /** Level name from data.levels, e.g. "species". */
  name: string;
  /** The dataset's own category id per dense index (a name where the metadata has no id). */
  ids: (number | string)[];
  /** Human-readable name per dense index. */
  names: string[];
  /**
   * Dense index of each class's parent at the next coarser level (levels[i+1]); absent for the
   * coarsest level. The hierarchy is a tree: a class has exactly one parent.
   */
  parent?: Int32Array;
}

/** One split of a dataset (train metadata, or test metadata without labels). */
export interface DatasetIndex {
  /** Registered format name ("herbarium", "folders"). */
  format: string;
  /** Detected variant, e.g. "herbarium2020", "herbarium2021", "herbarium2022", "folders". */
  variant: string;
  /** Absolute dataset root; files are relative to it. */
  root: string;
  /** Label levels, finest first (the first is the target). */
  levels: LevelClasses[];
  /** The dataset's own image ids, one per row. */
  ids: (number | string)[];
  /** Image paths relative to root, one per row. */
  files: string[];
  /** Dense label per row for each level (same order as levels); -1 where unknown (test split). */
  labels: Int32Array[];
  /** Bytes of the metadata file(s) hashed, for the data fingerprint. */
  metadataFiles: string[];
}

/** Row indices into a DatasetIndex. */
export interface Split {
  train: Int32Array;
  val: Int32Array;
}

// What a dataset format is, apart from the registry of formats (index.ts), so that the formats
// and the registry that lists them do not import each other.
import type { DatasetIndex } from '../types.ts';

export type SplitName = 'train' | 'test';

export interface LoadProgress {
  /** 'read' (metadata bytes, or directories walked) then 'index' (rows). */
  phase: 'read' | 'index';
  done: number;
  total: number;
}

export interface DatasetLoadOptions {
  root: string;
  /** Label level names, finest first (data.levels). */
  levels: string[];
  split: SplitName;
  onProgress?: (p: LoadProgress) => void;
  /** Metadata files above this size are parsed as a stream (tests lower it). */
  streamThresholdBytes?: number;
}

export interface DatasetFormat {
  /** One paragraph on the layout this format reads (for --help and error messages). */
  describe: string;
  /** The variant found in `root` (e.g. "herbarium2021"), or null when the layout is not this format's. */
  detect(root: string): Promise<string | null>;
  /** Level names a variant knows, finest first (all of them: the default for inspect). */
  levelsOf(root: string, variant: string): Promise<string[]>;
  load(opts: DatasetLoadOptions): Promise<DatasetIndex>;
}

// What exp compare knows about one run, built by load.ts from the run record; everything else in
// src/runs/compare/ works on this plain data.
import type { HistoryRecord, MetricsJson, RunStatus, SweepInfo } from '../schemas.ts';

export interface CompareRun {
  id: string;
  /** Short unique name for tables: the swept values of a sweep run ("color_jitter=on, seed=1"), else the run name, or name-<hex> when names repeat. */
  label: string;
  dir: string;
  name: string;
  kind: 'train' | 'ensemble';
  status: RunStatus;
  error: string | null;
  /** Flattened config (dotted path -> value), or null when the run has no readable config.yaml. */
  config: Record<string, unknown> | null;
  metrics: MetricsJson;
  history: HistoryRecord[];
  sweep: SweepInfo | null;
  seed: number | null;
  /** Level names, finest (target) first: data.levels of the config, else the metrics' levels. */
  levels: string[];
  /** split -> TTA count of the run's default predictions. */
  defaultTta: Record<string, number>;
  /** Classes per level (run.json data.classes), when recorded. */
  classes?: Record<string, number>;
  /** An ensemble's members (run ids) and their weights. */
  members?: { id: string; weight: number }[];
  /** An ensemble's blend method. */
  method?: string;
}

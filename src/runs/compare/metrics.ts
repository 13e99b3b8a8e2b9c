// Metrics side by side: per split, level and TTA count, with deltas from the baseline; the one
// number a run is known by (val, target level, default TTA, macro-F1), which exp ls shows too; and
// hierarchy consistency.
import type { LevelMetricsRecord, MetricsJson } from '../schemas.ts';
import type { CompareRun } from './types.ts';

export const METRIC_KEYS = ['macro_f1', 'accuracy', 'top5'] as const;
export type MetricKey = (typeof METRIC_KEYS)[number];
export type MetricCell = Record<MetricKey, number | null>;

export interface MetricBlock {
  split: string;
  level: string;
  /** "tta1", "tta4", ... present in any run, in count order. */
  ttas: string[];
  /** Per run (baseline first), per tta: the values and their deltas from the baseline (null where either lacks it). */
  rows: { values: Record<string, MetricCell | null>; deltas: Record<string, MetricCell | null> }[];
  /** Why top-5 is left out of the tables (5 or fewer classes, or 1 in every run), or null when shown. */
  top5Hidden: string | null;
}

export const ttaNum = (k: string): number => Number(k.replace(/^tta/, ''));

function cellOf(m: LevelMetricsRecord | number | undefined): MetricCell | null {
  if (!m || typeof m !== 'object') return null;
  return { macro_f1: m.macro_f1 ?? null, accuracy: m.accuracy ?? null, top5: m.top5 ?? null };
}

export function orderedUnion(lists: string[][], first: string[] = []): string[] {
  const out = [...first];
  for (const l of lists) for (const x of l) if (!out.includes(x)) out.push(x);
  return out;
}

/** Classes at a level: run.json data.classes, else the "classes" count metrics.json records. */
function classCount(r: CompareRun, split: string, level: string): number | null {
  if (r.classes?.[level] !== undefined) return r.classes[level];
  for (const byLevel of Object.values(r.metrics[split] ?? {})) {
    const m = byLevel[level];
    if (m && typeof m === 'object' && typeof m.classes === 'number') return m.classes;
  }
  return null;
}

/** Metrics side by side per split and level, every TTA count, with deltas from run 0. */
export function metricBlocks(runs: CompareRun[], opts: { split?: string; levels?: string[] } = {}): MetricBlock[] {
  const splits = orderedUnion(runs.map((r) => Object.keys(r.metrics)), runs.some((r) => r.metrics.val) ? ['val'] : []).filter((s) => !opts.split || s === opts.split);
  const blocks: MetricBlock[] = [];
  for (const split of splits) {
    const ttas = orderedUnion(runs.map((r) => Object.keys(r.metrics[split] ?? {}))).sort((a, b) => ttaNum(a) - ttaNum(b));
    const levelsInMetrics = runs.map((r) => Object.values(r.metrics[split] ?? {}).flatMap((byLevel) => Object.keys(byLevel).filter((l) => typeof byLevel[l] === 'object')));
    let levels = orderedUnion(levelsInMetrics, runs[0]?.levels.filter((l) => levelsInMetrics.some((x) => x.includes(l))) ?? []);
    if (opts.levels?.length) levels = levels.filter((l) => opts.levels!.includes(l));
    for (const level of levels) {
      const cells = runs.map((r) => Object.fromEntries(ttas.map((t) => [t, cellOf(r.metrics[split]?.[t]?.[level])])));
      const rows = cells.map((values) => ({
        values,
        deltas: Object.fromEntries(ttas.map((t) => {
          const [a, b] = [cells[0][t], values[t]];
          if (!a || !b) return [t, null];
          return [t, Object.fromEntries(METRIC_KEYS.map((k) => [k, a[k] === null || b[k] === null ? null : b[k]! - a[k]!])) as MetricCell];
        })),
      }));
      // Top-5 of 5 or fewer classes is 1 by construction, and 1 everywhere tells no run apart.
      const counts = runs.map((r) => classCount(r, split, level)).filter((c): c is number => c !== null);
      const top5s = cells.flatMap((c) => Object.values(c).map((x) => x?.top5 ?? null)).filter((x): x is number => x !== null);
      const top5Hidden = counts.length && Math.max(...counts) <= 5 ? `top-5 hidden: ${Math.max(...counts)} ${level} classes, so it is always 1`
        : top5s.length && top5s.every((x) => x === 1) ? 'top-5 hidden: 1 in every run, so it tells no run apart' : null;
      blocks.push({ split, level, ttas, rows, top5Hidden });
    }
  }
  return blocks;
}

/** The level compare reports significance and curves for: --level, else the baseline's target level. */
export function targetLevel(runs: CompareRun[], level?: string): string | null {
  if (level) return level;
  return runs.find((r) => r.levels.length)?.levels[0] ?? null;
}

export interface HeadlineMetric {
  split: string;
  level: string;
  tta: number;
  macro_f1: number;
}

/**
 * The number a run is known by: macro-F1 on `split` (val) at the target level (`level`, else the
 * first level metrics.json lists, which is the finest) and the run's default TTA count (else the
 * largest recorded). Null when the run has no such metrics.
 */
export function headlineMetric(metrics: MetricsJson | undefined, defaultTta: number | undefined, level?: string | null, split = 'val'): HeadlineMetric | null {
  const bySplit = metrics?.[split];
  if (!bySplit) return null;
  const key = defaultTta !== undefined && bySplit[`tta${defaultTta}`] ? `tta${defaultTta}` : Object.keys(bySplit).sort((a, b) => ttaNum(a) - ttaNum(b)).at(-1);
  if (!key) return null;
  const byLevel = bySplit[key] ?? {};
  const name = level ?? Object.keys(byLevel).find((l) => typeof byLevel[l] === 'object');
  const m = name ? byLevel[name] : undefined;
  if (!name || !m || typeof m !== 'object' || typeof m.macro_f1 !== 'number') return null;
  return { split, level: name, tta: ttaNum(key), macro_f1: m.macro_f1 };
}

/** Hierarchy consistency (share of rows whose top-1 predictions agree with the label tree) on val at the default TTA. */
export function hierarchyConsistency(r: CompareRun, split = 'val'): number | null {
  const bySplit = r.metrics[split];
  if (!bySplit) return null;
  const key = r.defaultTta[split] !== undefined && bySplit[`tta${r.defaultTta[split]}`] ? `tta${r.defaultTta[split]}` : Object.keys(bySplit).sort((a, b) => ttaNum(a) - ttaNum(b)).at(-1);
  const v = key ? bySplit[key]?.hierarchy_consistency : undefined;
  return typeof v === 'number' ? v : null;
}

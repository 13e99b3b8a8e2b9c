// The arithmetic of `exp compare`, on plain data (the command does the reading): which config keys
// differ, metric deltas from the baseline, paired significance on shared validation examples,
// learning curves and sweep groups. Everything here works from the run record alone, and pairing
// uses the top-1 column of the small top-5 arrays, never the full scores.
import { UserError } from '../errors.ts';
import { alignByIds, permute, type Id } from '../eval/align.ts';
import { stableStringify } from '../util/hash.ts';
import { Rng } from '../util/rng.ts';
import { mcnemar, pairedBootstrap, quantileSorted, type BootstrapResult, type McNemarResult, PURPOSE_BOOTSTRAP } from './significance.ts';
import type { HistoryRow, LevelMetrics, MetricsJson, RunStatus, SweepInfo } from './schemas.ts';

/** One run as compare sees it (built by the command from the record). */
export interface CompareRun {
  id: string;
  /** Short unique name for tables: the run name, or name-<hex> when names repeat. */
  label: string;
  dir: string;
  name: string;
  kind: 'train' | 'ensemble';
  status: RunStatus;
  error: string | null;
  /** Flattened config (dotted path -> value), or null when the run has no readable config.yaml. */
  config: Record<string, unknown> | null;
  metrics: MetricsJson;
  history: HistoryRow[];
  sweep: SweepInfo | null;
  seed: number | null;
  /** Level names, finest (target) first: data.levels of the config, else the metrics' levels. */
  levels: string[];
  /** split -> TTA count of the run's default predictions. */
  defaultTta: Record<string, number>;
}

/** Keys that name or describe a run rather than change what it computes. */
export const IGNORED_KEYS = ['name', 'description'];

const isMap = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Dotted path -> leaf value; lists are leaves (compared whole), as are empty maps. */
export function flattenConfig(config: unknown, ignore: readonly string[] = IGNORED_KEYS): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const walk = (v: unknown, path: string) => {
    if (isMap(v) && Object.keys(v).length > 0) {
      for (const [k, x] of Object.entries(v)) {
        const p = path ? `${path}.${k}` : k;
        if (!ignore.includes(p)) walk(x, p);
      }
    } else {
      out[path] = v;
    }
  };
  if (isMap(config)) walk(config, '');
  return out;
}

/**
 * Puts data paths back as the user wrote them (config.yaml holds them resolved to absolute paths,
 * which differ between machines and checkouts): the last --set/--sweep override of the key, else
 * the value in experiment.yaml, else the resolved value stays.
 */
export function pathsAsWritten(flat: Record<string, unknown>, pathKeys: readonly string[], experiment: unknown, overrides: readonly { key: string; value: unknown }[]): Record<string, unknown> {
  const out = { ...flat };
  const written = flattenConfig(experiment, []);
  for (const key of pathKeys) {
    if (!(key in out)) continue;
    const o = overrides.filter((x) => x.key === key).at(-1);
    if (o && typeof o.value === 'string') out[key] = o.value;
    else if (typeof written[key] === 'string') out[key] = written[key];
  }
  return out;
}

export interface ConfigDiffRow {
  key: string;
  /** One value per run, baseline first; undefined where the run's config lacks the key. */
  values: unknown[];
}

const same = (a: unknown, b: unknown): boolean => a === b || stableStringify(a ?? null) === stableStringify(b ?? null) && (a === undefined) === (b === undefined);

/** Keys whose value differs between the baseline (index 0) and any other run; runs without a config are left out of the test. */
export function configDiff(configs: (Record<string, unknown> | null)[]): ConfigDiffRow[] {
  const keys: string[] = [];
  const seen = new Set<string>();
  for (const c of configs) for (const k of Object.keys(c ?? {})) if (!seen.has(k)) {
    seen.add(k);
    keys.push(k);
  }
  const base = configs[0];
  const rows: ConfigDiffRow[] = [];
  for (const key of keys) {
    const values = configs.map((c) => c?.[key]);
    const differs = configs.some((c, i) => i > 0 && c !== null && base !== null && !same(values[0], values[i]));
    if (differs) rows.push({ key, values });
  }
  return rows;
}

/** Compact one-line rendering of a config value: lists and maps as flow YAML-ish text. */
export function formatValue(v: unknown): string {
  if (v === undefined) return '—';
  if (v === null) return 'null';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `[${v.map(formatValue).join(', ')}]`;
  if (isMap(v)) return `{${Object.entries(v).map(([k, x]) => `${k}: ${formatValue(x)}`).join(', ')}}`;
  return String(v);
}

// ---- metrics -------------------------------------------------------------------------------

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
}

const ttaNum = (k: string): number => Number(k.replace(/^tta/, ''));

function cellOf(m: LevelMetrics | number | undefined): MetricCell | null {
  if (!m || typeof m !== 'object') return null;
  return { macro_f1: m.macro_f1 ?? null, accuracy: m.accuracy ?? null, top5: m.top5 ?? null };
}

function orderedUnion(lists: string[][], first: string[] = []): string[] {
  const out = [...first];
  for (const l of lists) for (const x of l) if (!out.includes(x)) out.push(x);
  return out;
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
      blocks.push({ split, level, ttas, rows });
    }
  }
  return blocks;
}

// ---- paired significance ---------------------------------------------------------------------

/** One run's predictions on a split, reduced to what pairing needs. */
export interface PairSide {
  id: string;
  ids: readonly Id[];
  /** True class columns; null when the split has no labels. */
  labels: Int32Array | null;
  /** Class id of each score column. */
  classes: readonly Id[];
  /** Top-1 class column per row (first column of <level>.top5.npy). */
  top1: Int32Array;
  tta: number;
  config: Record<string, unknown> | null;
  dataFingerprint: string | null;
}

export type Verdict = 'real' | 'within noise';

export type PairResult =
  | {
      run: string; comparable: true; n: number; ttaA: number; ttaB: number;
      bootstrap: BootstrapResult; mcnemar: McNemarResult; verdict: Verdict;
      /** e.g. "+0.021 macro-F1 [0.004, 0.038], McNemar p=0.012: real" */
      summary: string;
    }
  | { run: string; comparable: false; reason: string };

const signed = (x: number, d = 3): string => `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(d)}`;
const ci = (lo: number, hi: number, d = 3): string => `[${lo.toFixed(d)}, ${hi.toFixed(d)}]`;

/** p-values to two significant digits, very small ones as "<1e-6". */
export function formatP(p: number): string {
  if (p < 1e-6) return '<1e-6';
  if (p >= 0.1) return p.toFixed(2);
  return p.toPrecision(2);
}

/** Why two validation sets differ, from the config keys that decide the split. */
function splitHint(a: PairSide, b: PairSide): string {
  const keys = ['data.train', 'data.val.path', 'data.val.fraction', 'data.val.seed', 'data.val.stratify', 'data.format'];
  const diffs = keys.filter((k) => a.config && b.config && !same(a.config[k], b.config[k]));
  if (diffs.length) return `their configs differ in ${diffs.map((k) => `${k} (${formatValue(a.config![k])} vs ${formatValue(b.config![k])})`).join(', ')}`;
  if (a.dataFingerprint && b.dataFingerprint && a.dataFingerprint !== b.dataFingerprint) return 'their data fingerprints differ: the dataset changed between the runs';
  return 'were they split with different data.val.seed, or from different data?';
}

function idSetCounts(a: readonly Id[], b: readonly Id[]): { onlyA: number; onlyB: number } {
  const sa = new Set(a.map(String));
  const sb = new Set(b.map(String));
  let onlyA = 0;
  let onlyB = 0;
  for (const x of sa) if (!sb.has(x)) onlyA++;
  for (const x of sb) if (!sa.has(x)) onlyB++;
  return { onlyA, onlyB };
}

/**
 * Maps B's class columns onto A's. Same list: identity. Same set in another order: a permutation.
 * Different sets: a UserError, because the metrics of the two runs do not measure the same task.
 */
export function classMapping(a: { id: string; classes: readonly Id[] }, b: { id: string; classes: readonly Id[] }, level: string): Int32Array | null {
  if (a.classes.length === b.classes.length && a.classes.every((c, i) => String(c) === String(b.classes[i]))) return null;
  const pos = new Map(a.classes.map((c, i) => [String(c), i]));
  const onlyB = b.classes.filter((c) => !pos.has(String(c)));
  const inB = new Set(b.classes.map(String));
  const onlyA = a.classes.filter((c) => !inB.has(String(c)));
  if (onlyA.length || onlyB.length || a.classes.length !== b.classes.length) {
    const eg = (xs: readonly Id[]) => xs.slice(0, 3).map((x) => JSON.stringify(x)).join(', ');
    throw new UserError(
      `Runs ${a.id} and ${b.id} were trained on different class sets at level "${level}" (${a.classes.length} vs ${b.classes.length} classes; ` +
        `${onlyA.length} only in the first${onlyA.length ? `, e.g. ${eg(onlyA)}` : ''}; ${onlyB.length} only in the second${onlyB.length ? `, e.g. ${eg(onlyB)}` : ''}). ` +
        'Their metrics measure different tasks, so exp compare will not put them side by side: compare runs of the same dataset (check data.train and data.levels in each run\'s config.yaml).',
    );
  }
  return Int32Array.from(b.classes, (c) => pos.get(String(c))!);
}

/** B's top-1 predictions in A's row order and class columns, or why the runs do not pair. */
export type Prepared = { ok: true; predB: Int32Array } | { ok: false; reason: string };

/** Aligns B with A by id and maps its classes onto A's; checks that both carry the same labels. */
export function preparePair(a: PairSide, b: PairSide, level: string): Prepared {
  const map = classMapping(a, b, level);
  if (!a.labels) return { ok: false, reason: `the baseline's predictions on this split have no labels` };
  if (!b.labels) return { ok: false, reason: `its predictions on this split have no labels` };
  const al = alignByIds(a.ids, b.ids);
  if (!al.ok) {
    const { onlyA, onlyB } = idSetCounts(a.ids, b.ids);
    const why = onlyA || onlyB ? `different validation sets: ${onlyA} ids only in the baseline, ${onlyB} only in this run — ${splitHint(a, b)}` : al.reason;
    return { ok: false, reason: why };
  }
  const C = a.classes.length;
  const remap = (x: Int32Array) => (map ? Int32Array.from(x, (c) => (c >= 0 && c < map.length ? map[c] : -1)) : x);
  const predB = remap(permute(b.top1, al.order));
  const labelsB = remap(permute(b.labels, al.order));
  let disagree = 0;
  for (let i = 0; i < labelsB.length; i++) if (labelsB[i] !== a.labels[i]) disagree++;
  if (disagree) return { ok: false, reason: `the same ids carry different true labels in ${disagree} of ${labelsB.length} rows — were the labels mapped differently (data.levels, dataset version)?` };
  for (const x of [a.top1, predB]) {
    if (x.some((c) => c < 0 || c >= C)) throw new UserError(`A top-5 file of ${x === a.top1 ? a.id : b.id} at level ${level} holds class columns outside 0..${C - 1}; its predictions are damaged. Re-create them with exp predict.`);
  }
  return { ok: true, predB };
}

function pairResult(run: string, ttaA: number, ttaB: number, bootstrap: BootstrapResult, mc: McNemarResult): PairResult {
  const f = bootstrap.macro_f1;
  const verdict: Verdict = f.lo > 0 || f.hi < 0 ? 'real' : 'within noise';
  const summary = `${signed(f.diff)} macro-F1 ${ci(f.lo, f.hi)}, McNemar p=${formatP(mc.p)}: ${verdict}`;
  return { run, comparable: true, n: bootstrap.n, ttaA, ttaB, bootstrap, mcnemar: mc, verdict, summary };
}

export interface PairOptions { resamples?: number; seed?: number }

/** Paired bootstrap and McNemar of B against A on the examples both scored, aligned by id. */
export function pairRuns(a: PairSide, b: PairSide, level: string, opts: PairOptions = {}): PairResult {
  const prep = preparePair(a, b, level);
  if (!prep.ok) return { run: b.id, comparable: false, reason: prep.reason };
  const paired = { truth: a.labels!, predA: a.top1, predB: prep.predB, numClasses: a.classes.length };
  return pairResult(b.id, a.tta, b.tta, pairedBootstrap(paired, { resamples: opts.resamples ?? 1000, seed: opts.seed ?? 0 }), mcnemar(paired));
}


/**
 * pairedBootstrap of many runs against one baseline at once, with identical results (the same
 * seeded draws; a test checks equality): each resample draws its examples once and counts the
 * baseline once, instead of once per run. This is what keeps comparing 200 runs fast.
 */
export function pairedBootstrapMany(truth: Int32Array, predA: Int32Array, predBs: Int32Array[], numClasses: number, opts: PairOptions & { confidence?: number } = {}): BootstrapResult[] {
  const resamples = opts.resamples ?? 1000;
  const seed = opts.seed ?? 0;
  const confidence = opts.confidence ?? 0.95;
  const keep: number[] = [];
  for (let i = 0; i < truth.length; i++) if (truth[i] >= 0) keep.push(i);
  const n = keep.length;
  if (n === 0) throw new RangeError('paired bootstrap: no labelled examples');
  const t = Int32Array.from(keep, (i) => truth[i]);
  const a = Int32Array.from(keep, (i) => predA[i]);
  const bs = predBs.map((p) => Int32Array.from(keep, (i) => p[i]));
  const C = numClasses;
  const K = bs.length;
  // per run: tp, fp, fn (flat, run k at k*C) and correct counts; run index K is the baseline
  const tp = new Int32Array((K + 1) * C);
  const fp = new Int32Array((K + 1) * C);
  const fn = new Int32Array((K + 1) * C);
  const correct = new Int32Array(K + 1);
  // macroF1FromCounts on run k's slice, inlined (same arithmetic, so the same bits) to spare a
  // subarray allocation per run per resample
  const f1 = (k: number) => {
    let sum = 0;
    let classes = 0;
    for (let c = k * C; c < (k + 1) * C; c++) {
      const d = 2 * tp[c] + fp[c] + fn[c];
      if (d > 0) {
        sum += (2 * tp[c]) / d;
        classes++;
      }
    }
    return classes ? sum / classes : NaN;
  };
  // One run's counts over the drawn rows: a tight loop per run (run k's predictions stay in cache).
  const idx = new Int32Array(n);
  const countRun = (k: number, pred: Int32Array) => {
    const base = k * C;
    let right = 0;
    for (let d = 0; d < n; d++) {
      const i = idx[d];
      const ti = t[i];
      const pi = pred[i];
      if (ti === pi) {
        tp[base + ti]++;
        right++;
      } else {
        fp[base + pi]++;
        fn[base + ti]++;
      }
    }
    correct[k] = right;
  };
  const countAll = () => {
    tp.fill(0);
    fp.fill(0);
    fn.fill(0);
    countRun(K, a);
    for (let k = 0; k < K; k++) countRun(k, bs[k]);
  };
  for (let d = 0; d < n; d++) idx[d] = d;
  countAll();
  const fullA = { f1: f1(K), acc: correct[K] / n };
  const full = bs.map((_b, k) => ({ f1: f1(k), acc: correct[k] / n }));
  const rng = new Rng(seed, PURPOSE_BOOTSTRAP);
  const dF1 = bs.map(() => new Float64Array(resamples));
  const dAcc = bs.map(() => new Float64Array(resamples));
  for (let s = 0; s < resamples; s++) {
    for (let d = 0; d < n; d++) idx[d] = rng.int(n);
    countAll();
    const fa = f1(K);
    for (let k = 0; k < K; k++) {
      dF1[k][s] = f1(k) - fa;
      dAcc[k][s] = (correct[k] - correct[K]) / n;
    }
  }
  const qlo = (1 - confidence) / 2;
  const qhi = 1 - qlo;
  return bs.map((_b, k) => {
    dF1[k].sort();
    dAcc[k].sort();
    return {
      macro_f1: { a: fullA.f1, b: full[k].f1, diff: full[k].f1 - fullA.f1, lo: quantileSorted(dF1[k], qlo), hi: quantileSorted(dF1[k], qhi) },
      accuracy: { a: fullA.acc, b: full[k].acc, diff: full[k].acc - fullA.acc, lo: quantileSorted(dAcc[k], qlo), hi: quantileSorted(dAcc[k], qhi) },
      resamples, confidence, seed, n,
    };
  });
}

/** pairRuns for many runs against one baseline: prepared pairs go through one batched bootstrap. */
export function pairMany(a: PairSide, others: { side: { id: string; tta: number }; prepared: Prepared }[], opts: PairOptions = {}): PairResult[] {
  const ok = others.filter((o): o is { side: { id: string; tta: number }; prepared: { ok: true; predB: Int32Array } } => o.prepared.ok);
  const boots = ok.length ? pairedBootstrapMany(a.labels!, a.top1, ok.map((o) => o.prepared.predB), a.classes.length, opts) : [];
  return others.map((o) => {
    if (!o.prepared.ok) return { run: o.side.id, comparable: false, reason: o.prepared.reason };
    const k = ok.indexOf(o as (typeof ok)[number]);
    const mc = mcnemar({ truth: a.labels!, predA: a.top1, predB: o.prepared.predB, numClasses: a.classes.length });
    return pairResult(o.side.id, a.tta, o.side.tta, boots[k], mc);
  });
}

// ---- learning curves -------------------------------------------------------------------------

export interface Curve {
  run: string;
  epochs: number[];
  /** Validation macro-F1 of the level per epoch; null where the epoch was not validated. */
  macro_f1: (number | null)[];
  /** Validation loss of the level per epoch (the total val_loss when the level has none). */
  loss: (number | null)[];
}

export function learningCurve(run: string, history: HistoryRow[], level: string): Curve {
  const num = (x: unknown): number | null => (typeof x === 'number' && Number.isFinite(x) ? x : null);
  return {
    run,
    epochs: history.map((h) => h.epoch),
    macro_f1: history.map((h) => num(h.val?.[level]?.macro_f1)),
    loss: history.map((h) => num(h.val?.[level]?.loss) ?? num(h.val_loss)),
  };
}

const BARS = '▁▂▃▄▅▆▇█';

/**
 * Unicode sparkline of `values` on the scale [lo, hi] (shared across runs, so heights compare);
 * gaps are spaces. Longer series are averaged into `width` buckets.
 */
export function sparkline(values: (number | null)[], lo: number, hi: number, width = 40): string {
  let v = values;
  if (v.length > width) {
    v = Array.from({ length: width }, (_x, i) => {
      const part = values.slice(Math.floor((i * values.length) / width), Math.floor(((i + 1) * values.length) / width)).filter((x): x is number => x !== null);
      return part.length ? part.reduce((s, x) => s + x, 0) / part.length : null;
    });
  }
  const span = hi - lo;
  return v.map((x) => (x === null ? ' ' : BARS[span > 0 ? Math.max(0, Math.min(7, Math.round(((x - lo) / span) * 7))) : 3])).join('');
}

/** [min, max] over every number in the series, or null when there is none. */
export function range(series: (number | null)[][]): [number, number] | null {
  let lo = Infinity;
  let hi = -Infinity;
  for (const s of series) for (const x of s) if (x !== null) {
    lo = Math.min(lo, x);
    hi = Math.max(hi, x);
  }
  return lo <= hi ? [lo, hi] : null;
}

// ---- sweeps ----------------------------------------------------------------------------------

export interface SweepGroup {
  /** The swept values (seed left out) shared by the group's runs. */
  point: Record<string, unknown>;
  runs: string[];
  /** Paired against the baseline's group by seed: per seed, both values and the delta. */
  perSeed: { seed: number | string; baseline: number | null; value: number | null; delta: number | null }[];
  meanDelta: number | null;
}

export interface SweepSummary {
  id: string;
  keys: string[];
  /** The key that repeats a point (seed), or null when the sweep has no repeats. */
  seedKey: string | null;
  metric: string;
  baselineGroup: Record<string, unknown>;
  groups: SweepGroup[];
}

/**
 * When every run belongs to one sweep: runs grouped by their swept values other than the seed, and
 * each group paired with the baseline's group seed by seed (same seed = same initialisation and
 * shuffling, so the delta isolates the swept change). `value` gives the metric of a run.
 */
export function sweepSummary(runs: CompareRun[], metric: string, value: (r: CompareRun) => number | null): SweepSummary | null {
  const id = runs[0]?.sweep?.id;
  if (!id || runs.length < 2 || !runs.every((r) => r.sweep?.id === id)) return null;
  const keys = runs[0].sweep!.keys;
  const seedKey = keys.includes('seed') ? 'seed' : null;
  const groupKeys = keys.filter((k) => k !== seedKey);
  const pointOf = (r: CompareRun) => Object.fromEntries(groupKeys.map((k) => [k, r.sweep!.point[k]]));
  const seedOf = (r: CompareRun): number | string => {
    const s = seedKey ? r.sweep!.point[seedKey] : r.seed;
    return typeof s === 'number' || typeof s === 'string' ? s : 'none';
  };
  const groups = new Map<string, CompareRun[]>();
  for (const r of runs) {
    const k = stableStringify(pointOf(r));
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  const baseKey = stableStringify(pointOf(runs[0]));
  const base = groups.get(baseKey)!;
  const baseBySeed = new Map(base.map((r) => [String(seedOf(r)), r]));
  const out: SweepGroup[] = [];
  for (const [k, members] of groups) {
    const perSeed = members.map((r) => {
      const b = baseBySeed.get(String(seedOf(r)));
      const bv = b ? value(b) : null;
      const v = value(r);
      return { seed: seedOf(r), baseline: bv, value: v, delta: bv !== null && v !== null ? v - bv : null };
    });
    const ds = perSeed.map((p) => p.delta).filter((d): d is number => d !== null);
    out.push({ point: pointOf(members[0]), runs: members.map((r) => r.id), perSeed, meanDelta: k === baseKey || !ds.length ? (k === baseKey ? 0 : null) : ds.reduce((s, d) => s + d, 0) / ds.length });
  }
  return { id, keys, seedKey, metric, baselineGroup: pointOf(runs[0]), groups: out };
}

// ---- the report ------------------------------------------------------------------------------

/** What the report keeps of each run: its identification and status, and how far it trained. */
export interface RunSummary extends Pick<CompareRun, 'id' | 'label' | 'dir' | 'name' | 'kind' | 'status' | 'error' | 'sweep'> {
  epochs: number;
}

export interface CompareReport {
  baseline: string;
  runs: RunSummary[];
  config: ConfigDiffRow[];
  metrics: MetricBlock[];
  significance: { split: string; level: string; resamples: number; seed: number; pairs: PairResult[] } | null;
  curves: { level: string; runs: Curve[] };
  sweep: SweepSummary | null;
  notes: string[];
}

/** Labels that tell runs apart in narrow columns: the name, or name-<id suffix> where names repeat. */
export function runLabels(runs: { id: string; name: string }[]): string[] {
  const count = new Map<string, number>();
  for (const r of runs) count.set(r.name, (count.get(r.name) ?? 0) + 1);
  const labels = runs.map((r) => (count.get(r.name)! > 1 ? `${r.name}-${r.id.slice(-6)}` : r.name));
  return labels.map((l, i) => (labels.indexOf(l) !== i ? runs[i].id : l));
}

/** The level compare reports significance and curves for: --level, else the baseline's target level. */
export function targetLevel(runs: CompareRun[], level?: string): string | null {
  if (level) return level;
  return runs.find((r) => r.levels.length)?.levels[0] ?? null;
}

export function buildReport(
  runs: CompareRun[],
  opts: { split?: string; level?: string; significance?: CompareReport['significance']; notes?: string[] },
): CompareReport {
  const level = targetLevel(runs, opts.level);
  const headline = (r: CompareRun): number | null => {
    const byTta = r.metrics.val ?? {};
    const key = r.defaultTta.val ? `tta${r.defaultTta.val}` : Object.keys(byTta).sort((a, b) => ttaNum(a) - ttaNum(b)).at(-1);
    const m = key && level ? byTta[key]?.[level] : undefined;
    return m && typeof m === 'object' ? m.macro_f1 : null;
  };
  return {
    baseline: runs[0].id,
    runs: runs.map((r) => ({ id: r.id, label: r.label, dir: r.dir, name: r.name, kind: r.kind, status: r.status, error: r.error, epochs: r.history.length, sweep: r.sweep })),
    config: configDiff(runs.map((r) => r.config)),
    metrics: metricBlocks(runs, { split: opts.split, levels: opts.level ? [opts.level] : undefined }),
    significance: opts.significance ?? null,
    curves: { level: level ?? '', runs: level ? runs.map((r) => learningCurve(r.id, r.history, level)) : [] },
    sweep: sweepSummary(runs, `val ${level ?? ''} macro-F1`.replace(/\s+/g, ' '), headline),
    notes: opts.notes ?? [],
  };
}

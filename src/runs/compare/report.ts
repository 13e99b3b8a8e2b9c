// The compare report: plain data that every format renders (render.ts, html.ts), answer first.
import { configDiff, type ConfigDiffRow } from './config-diff.ts';
import { learningCurve, type Curve } from './curves.ts';
import { analyse, type AnalysisOptions, type ClassChangeTable, type ConfusionTable, type Headline, type PredictionInput } from './analysis.ts';
import { partners, sweepSummary, type SweepSummary } from './groups.ts';
import { headlineMetric, metricBlocks, targetLevel, type MetricBlock } from './metrics.ts';
import type { PairResult } from './pairing.ts';
import type { CompareRun } from './types.ts';

/** What the report keeps of each run: its identification and status, and how far it trained. */
export interface RunSummary extends Pick<CompareRun, 'id' | 'label' | 'dir' | 'name' | 'kind' | 'status' | 'error' | 'sweep' | 'seed'> {
  epochs: number;
  /** The run it is compared with in the per-run table (its same-seed baseline), null for the baseline. */
  vs: string | null;
}

export interface EnsembleSummary {
  run: string;
  method: string | null;
  /** Members by label where they are among the compared runs, else by id, with their weights. */
  members: { run: string; weight: number }[];
}

export interface CompareReport {
  baseline: string;
  /** The answer: one effect per swept key and value, across seeds and validation examples. */
  headline: Headline[];
  /** What the headline's and the tables' words mean. */
  definitions: { term: string; meaning: string }[];
  runs: RunSummary[];
  config: ConfigDiffRow[];
  /** Runs of another kind than the baseline are left out of the config diff; ensembles are described here. */
  ensembles: EnsembleSummary[];
  metrics: MetricBlock[];
  hierarchy: { run: string; value: number | null; delta: number | null; vs: string | null }[];
  significance: { split: string; level: string; resamples: number; seed: number; pairs: PairResult[] } | null;
  curves: { level: string; levels: string[]; runs: Curve[] };
  sweep: SweepSummary | null;
  classes: ClassChangeTable[];
  confusions: ConfusionTable[];
  notes: string[];
}

/** The words of every format, defined once. */
export function definitions(minEffect: number): { term: string; meaning: string }[] {
  return [
    { term: 'effect', meaning: 'the mean over seed pairs of variant minus baseline, each pair two runs that differ only in the key under study (same seed, same validation split)' },
    { term: '95 % interval', meaning: 'where the true effect lies, allowing for both the training seeds (Student-t on the per-seed effects) and the validation examples (a bootstrap over the examples all pairs share, counting the part of their noise common to the pairs; the rest differs by seed and is in the seed spread)' },
    { term: 'P(better)', meaning: 'the probability that the variant\'s mean effect over seeds is above 0, given these runs' },
    { term: 'seed spread', meaning: 'the standard deviation of the per-seed effects: what changing only the seed does to the effect; the baseline runs\' own spread across seeds is beside it' },
    { term: 'better / worse', meaning: 'the 95 % interval lies entirely above / below 0' },
    { term: 'no effect', meaning: `the 95 % interval lies within ±${minEffect} (--min-effect)` },
    { term: 'cannot tell with N seeds', meaning: `the interval holds 0 and reaches beyond ±${minEffect}; "about M seeds" is how many seeds would resolve an effect of this size 4 times in 5 (80 % power), given the seed spread and validation set seen here` },
    { term: 'seed variance unknown', meaning: 'one seed per point: nothing shows how much seeds alone move the score, so the interval covers the validation examples only and no verdict is given' },
    { term: 'beyond / within example noise', meaning: 'per-run table: the bootstrap interval over validation examples of one run against its same-seed baseline excludes / includes 0; one run each, so seed variance is not in it' },
    { term: 'noise reference', meaning: 'per-run table: a run with the baseline\'s config (only the seed differs, or nothing): its difference is what seeds or repeats alone do, never an effect' },
  ];
}

export interface BuildOptions extends AnalysisOptions {
  split?: string;
  level?: string;
  predictions?: PredictionInput | null;
  notes?: string[];
}

export function buildReport(runs: CompareRun[], opts: BuildOptions = {}): CompareReport {
  const level = targetLevel(runs, opts.level);
  const minEffect = opts.minEffect ?? 0.01;
  const analysis = analyse(runs, opts.predictions ?? null, { resamples: opts.resamples, seed: opts.seed, minEffect });
  const part = partners(runs);
  const labelOf = new Map(runs.map((r) => [r.id, r.label]));
  // Mixed kinds: the config diff is over the baseline's kind; ensembles get their own lines.
  const kind = runs[0].kind;
  const mixed = runs.some((r) => r.kind !== kind);
  const ensembles: EnsembleSummary[] = runs.filter((r) => r.kind === 'ensemble').map((r) => ({
    run: r.id, method: r.method ?? null, members: (r.members ?? []).map((m) => ({ run: labelOf.get(m.id) ?? m.id, weight: m.weight })),
  }));
  const headlineValue = (r: CompareRun) => headlineMetric(r.metrics, r.defaultTta.val, level)?.macro_f1 ?? null;
  const sweepId = runs.find((r) => r.sweep)?.sweep?.id;
  const notes = [...(opts.notes ?? []), ...analysis.notes];
  if (mixed) notes.push(`the config diff compares the ${kind} runs only (a ${kind === 'train' ? 'training run and an ensemble share no config keys' : 'ensemble and a training run share no config keys'}); see "ensembles" for what each ensemble blends`);
  const outside = sweepId ? runs.filter((r) => r.sweep?.id !== sweepId).length : 0;
  if (sweepId && outside) notes.push(`${outside} of the ${runs.length} runs are not in sweep ${sweepId}; compare only the sweep with --sweep ${sweepId}`);
  const sig = opts.predictions && runs.length > 1 && level
    ? { split: opts.predictions.split, level: opts.predictions.level, resamples: opts.resamples ?? 1000, seed: opts.seed ?? 0, pairs: analysis.pairs }
    : null;
  const sweepCount = new Map<string, number>();
  for (const r of runs) if (r.sweep) sweepCount.set(r.sweep.id, (sweepCount.get(r.sweep.id) ?? 0) + 1);
  const mainSweep = runs[0].sweep?.id ?? [...sweepCount.entries()].sort((a, b) => b[1] - a[1])[0]?.[0];
  return {
    baseline: runs[0].id,
    headline: analysis.headline,
    definitions: definitions(minEffect),
    runs: runs.map((r, i) => ({
      id: r.id, label: r.label, dir: r.dir, name: r.name, kind: r.kind, status: r.status, error: r.error, epochs: r.history.length, sweep: r.sweep, seed: r.seed,
      vs: i === 0 ? null : runs[part[i]!.vs].id,
    })),
    config: configDiff(runs.map((r) => r.config), mixed ? (i) => runs[i].kind === kind : undefined),
    ensembles: mixed || kind === 'ensemble' ? ensembles : [],
    metrics: metricBlocks(runs, { split: opts.split, levels: opts.level ? [opts.level] : undefined }),
    hierarchy: analysis.hierarchy,
    significance: sig,
    curves: { level: level ?? '', levels: level ? [level, ...(runs[0].levels.filter((l) => l !== level))] : [], runs: level ? runs.map((r) => learningCurve(r.id, r.history, level, r.levels)) : [] },
    sweep: mainSweep ? sweepSummary(runs, `val ${level ?? ''} macro-F1`.replace(/\s+/g, ' '), headlineValue, mainSweep) : null,
    classes: analysis.classes,
    confusions: analysis.confusions,
    notes,
  };
}

// The statistics of a compare report from runs and their (already read) predictions: runs that
// were scored on the same validation examples are aligned into one group each and resampled once
// (significance.ts); from those shared resamples come the like-with-like table (each run against
// its same-seed baseline), the headline effects across seeds (effect.ts), the per-class changes
// and the confusions.
import { stableStringify } from '../../util/hash.ts';
import { classChanges, confusedPairs, type ClassChange } from './classes.ts';
import { seedEffect, type SeedEffect } from './effect.ts';
import { partners, studies, valueText, type Study } from './groups.ts';
import { headlineMetric, hierarchyConsistency } from './metrics.ts';
import { pairResult, preparePair, type PairResult, type PairSide } from './pairing.ts';
import { mcnemar, resampleMetrics, pairedInterval, type Resampled } from './significance.ts';
import type { CompareRun } from './types.ts';

/** One run's predictions on the split at the level, or why there are none. */
export type SideOrMissing = { side: PairSide } | { missing: string };

/** Runs scored on the same labelled examples, aligned to the first one's rows and class columns. */
interface ValGroup {
  /** The first run's side, ids and all (the others keep only their aligned top-1 column). */
  side: PairSide;
  ref: number;
  members: number[];
  preds: Int32Array[];
  resampled: Resampled | null;
}

/**
 * The runs' predictions folded, as they are read, into groups of runs scored on the same examples
 * (aligned by id to the group's first run), so that only each group's first run keeps its id list:
 * at Herbarium size (200k validation ids) a list per run would dominate the memory of comparing
 * many runs.
 */
export class ValidationSets {
  readonly groups: ValGroup[] = [];
  /** Per run: its group, or null with why it has no usable predictions. */
  readonly of: (number | null)[] = [];
  readonly missing: (string | null)[] = [];
  readonly tta: (number | null)[] = [];
  readonly config: (Record<string, unknown> | null)[] = [];
  readonly fingerprint: (string | null)[] = [];

  constructor(readonly level: string) {}

  add(run: number, s: SideOrMissing): void {
    this.of[run] = null;
    this.missing[run] = 'missing' in s ? s.missing : null;
    this.tta[run] = 'side' in s ? s.side.tta : null;
    this.config[run] = 'side' in s ? s.side.config : null;
    this.fingerprint[run] = 'side' in s ? s.side.dataFingerprint : null;
    if (!('side' in s)) return;
    for (const [g, group] of this.groups.entries()) {
      const prep = preparePair(group.side, s.side, this.level);
      if (prep.ok) {
        group.members.push(run);
        group.preds.push(prep.predB);
        this.of[run] = g;
        return;
      }
    }
    this.of[run] = this.groups.length;
    this.groups.push({ side: s.side, ref: run, members: [run], preds: [s.side.top1], resampled: null });
  }

  /** Why run b does not pair with run a (both read, in different groups). */
  reason(a: number, b: number, ids: { a: string; b: string }): string {
    const ga = this.groups[this.of[a]!].side;
    const gb = this.groups[this.of[b]!].side;
    const prep = preparePair({ ...ga, id: ids.a, config: this.config[a], dataFingerprint: this.fingerprint[a] }, { ...gb, id: ids.b, config: this.config[b], dataFingerprint: this.fingerprint[b] }, this.level);
    return prep.ok ? 'no labelled examples in common' : prep.reason;
  }
}

/** ValidationSets of sides already in memory (tests). */
export function validationSets(level: string, sides: SideOrMissing[]): ValidationSets {
  const v = new ValidationSets(level);
  sides.forEach((s, i) => v.add(i, s));
  return v;
}

export interface PredictionInput {
  split: string;
  level: string;
  sets: ValidationSets;
  /** Class names at the level for a run (per_class.json), read only for the runs that need them. */
  names?: (run: number) => readonly string[] | null;
}

export interface AnalysisOptions {
  resamples?: number;
  seed?: number;
  minEffect?: number;
}

export interface Headline {
  sweep: string | null;
  key: string;
  /** The key as labels show it ("color_jitter"). */
  short: string;
  baseline: unknown;
  variant: unknown;
  /** "color_jitter on vs off" */
  title: string;
  /** "val species macro-F1, TTA 4" */
  metric: string;
  pairs: { seed: string; baseline: string; variant: string; baseline_value: number | null; variant_value: number | null; delta: number | null }[];
  unpaired: string[];
  /** Other swept keys the effect is averaged over. */
  others: string[];
  effect: SeedEffect | null;
  /** Standard deviation of the baseline runs' metric across seeds: what seeds alone do to the score. */
  baseline_spread: number | null;
  /** Where the per-seed values come from: the aligned predictions (with the example level) or metrics.json (seeds only). */
  source: 'predictions' | 'metrics.json';
  /** Mean hierarchy consistency of the baseline and variant runs, when recorded. */
  hierarchy: { baseline: number; variant: number; delta: number } | null;
  /** Why there is no effect, when there is none. */
  reason?: string;
}

export interface ClassChangeTable {
  title: string;
  level: string;
  /** Runs averaged on each side. */
  runs: number;
  gained: ClassChange[];
  lost: ClassChange[];
}

export interface ConfusionTable {
  title: string;
  level: string;
  /** Column headers: one per group of runs. */
  columns: string[];
  rows: { truth: string; predicted: string; counts: number[] }[];
}

export interface Analysis {
  pairs: PairResult[];
  headline: Headline[];
  classes: ClassChangeTable[];
  confusions: ConfusionTable[];
  hierarchy: { run: string; value: number | null; delta: number | null; vs: string | null }[];
  notes: string[];
}

const sd = (xs: number[]): number | null => {
  if (xs.length < 2) return null;
  const m = xs.reduce((s, x) => s + x, 0) / xs.length;
  return Math.sqrt(xs.reduce((s, x) => s + (x - m) ** 2, 0) / (xs.length - 1));
};
const meanOf = (xs: number[]): number => xs.reduce((s, x) => s + x, 0) / xs.length;

export function analyse(runs: CompareRun[], input: PredictionInput | null, opts: AnalysisOptions = {}): Analysis {
  const resamples = opts.resamples ?? 1000;
  const seed = opts.seed ?? 0;
  const notes: string[] = [];
  const level = input?.level ?? null;
  const groups = input?.sets.groups ?? [];
  const of = input ? input.sets.of : runs.map(() => null);
  // One set of resamples per group (group g keyed seed + g: independent draws for other example sets).
  groups.forEach((g, gi) => {
    if (g.side.labels && g.members.length > 1) g.resampled = resampleMetrics(g.side.labels, g.preds, g.side.classes.length, { resamples, seed: seed + gi });
  });
  const slot = (i: number) => groups[of[i]!].members.indexOf(i);
  const predOf = (i: number) => groups[of[i]!].preds[slot(i)];
  const sameGroup = (a: number, b: number) => of[a] !== null && of[a] === of[b] && groups[of[a]!].resampled !== null;

  // ---- like with like
  const part = partners(runs);
  const pairs: PairResult[] = [];
  const missing = (i: number) => input?.sets.missing[i] ?? 'no predictions read';
  if (input && runs.length > 1) {
    for (let i = 1; i < runs.length; i++) {
      const { vs, relation } = part[i]!;
      const [run, other] = [runs[i].id, runs[vs].id];
      const who = vs === 0 ? 'the baseline' : `its same-seed baseline ${runs[vs].label}`;
      if (of[i] === null) pairs.push({ run, vs: other, relation, comparable: false, reason: missing(i) });
      else if (of[vs] === null) pairs.push({ run, vs: other, relation, comparable: false, reason: `${who} cannot be paired: ${missing(vs)}` });
      else if (!sameGroup(i, vs)) {
        pairs.push({ run, vs: other, relation, comparable: false, reason: of[i] === of[vs] ? 'its predictions on this split have no labels' : input.sets.reason(vs, i, { a: other, b: run }) });
      } else {
        const g = groups[of[i]!];
        const boot = pairedInterval(g.resampled!, slot(vs), slot(i));
        const mc = mcnemar({ truth: g.side.labels!, predA: predOf(vs), predB: predOf(i), numClasses: g.side.classes.length });
        pairs.push(pairResult(run, other, relation, input.sets.tta[vs]!, input.sets.tta[i]!, boot, mc));
      }
      if (part[i]!.note) notes.push(`${runs[i].label}: ${part[i]!.note}`);
    }
  }

  // ---- the headline
  const tta = input?.sets.tta.find((t) => t !== null);
  const metricName = `${input?.split ?? 'val'} ${level ?? ''} macro-F1${tta ? `, TTA ${tta}` : ''}`.replace(/\s+/g, ' ');
  const headline: Headline[] = [];
  const classes: ClassChangeTable[] = [];
  const confusions: ConfusionTable[] = [];
  const namesOf = (i: number) => input?.names?.(i) ?? null;
  const classTables = (title: string, gi: number, base: number[], variant: number[], cols: [string, string]) => {
    const g = groups[gi];
    const ids = g.side.classes;
    let names: readonly string[] | null = null;
    for (const m of g.members) if ((names = namesOf(m))) break;
    const ch = classChanges(g.side.labels!, ids, names, base.map(predOf), variant.map(predOf));
    classes.push({ title, level: level!, runs: base.length, ...ch });
    const conf = confusedPairs(g.side.labels!, [base.map(predOf), variant.map(predOf)], ids.length);
    const cname = (c: number) => (names?.[c] ? `${names[c]} (${ids[c]})` : String(ids[c]));
    confusions.push({ title, level: level!, columns: cols, rows: conf.map((r) => ({ truth: cname(r.truth), predicted: cname(r.predicted), counts: r.counts })) });
  };
  for (const st of studies(runs)) headline.push(headlineOf(st));

  function headlineOf(st: Study): Headline {
    const title = `${st.short} ${valueText(st.value)} vs ${valueText(st.baselineValue)}`;
    const fromMetrics = (i: number) => headlineMetric(runs[i].metrics, runs[i].defaultTta[input?.split ?? 'val'], level, input?.split ?? 'val')?.macro_f1 ?? null;
    const withPreds = st.pairs.length > 0 && st.pairs.every((p) => sameGroup(p.baseline, p.variant));
    const value = (i: number) => (withPreds ? groups[of[i]!].resampled!.full[slot(i)].f1 : fromMetrics(i));
    const rows = st.pairs.map((p) => {
      const [b, v] = [value(p.baseline), value(p.variant)];
      return { seed: p.seed, baseline: runs[p.baseline].id, variant: runs[p.variant].id, baseline_value: b, variant_value: v, delta: b !== null && v !== null ? v - b : null };
    });
    const usable = rows.map((r, k) => ({ r, p: st.pairs[k] })).filter((x) => x.r.delta !== null);
    const h: Headline = {
      sweep: st.sweep, key: st.key, short: st.short, baseline: st.baselineValue, variant: st.value, title, metric: metricName,
      pairs: rows, unpaired: st.unpaired, others: st.others, effect: null, baseline_spread: null,
      source: withPreds ? 'predictions' : 'metrics.json', hierarchy: null,
    };
    if (!usable.length) {
      h.reason = st.pairs.length ? `no ${metricName} for the paired runs` : `no run pairs that differ only in ${st.key}${st.unpaired.length ? ` (${st.unpaired.join('; ')})` : ''}`;
      return h;
    }
    const replicates = withPreds ? usable.map(({ p }) => {
      const m = groups[of[p.variant]!].resampled!;
      const [a, b] = [slot(p.baseline), slot(p.variant)];
      return Float64Array.from(m.f1[b], (x, s) => x - m.f1[a][s]);
    }) : null;
    const examples = withPreds ? groups[of[usable[0].p.variant]!].resampled!.n : null;
    h.effect = seedEffect({ deltas: usable.map((x) => x.r.delta!), replicates, examples }, { seed, minEffect: opts.minEffect, unit: st.others.length ? 'pairs' : 'seeds' });
    const baseRuns = [...new Set(usable.map((x) => x.p.baseline))];
    h.baseline_spread = sd(baseRuns.map((i) => value(i)!));
    const hc = usable.map(({ p }) => [hierarchyConsistency(runs[p.baseline]), hierarchyConsistency(runs[p.variant])]).filter((x): x is [number, number] => x[0] !== null && x[1] !== null);
    if (hc.length) h.hierarchy = { baseline: meanOf(hc.map((x) => x[0])), variant: meanOf(hc.map((x) => x[1])), delta: meanOf(hc.map((x) => x[1] - x[0])) };
    const mixedTta = usable.filter(({ p }) => input && input.sets.tta[p.baseline] !== input.sets.tta[p.variant]).length;
    if (withPreds && mixedTta) notes.push(`${title}: in ${mixedTta} pair(s) the two runs' predictions are at different TTA counts, so their effect includes the TTA difference`);
    if (!withPreds) notes.push(`${title}: the effect is from metrics.json over seeds only (no shared validation predictions for every pair), so the interval leaves out the validation examples`);
    const gis = new Set(usable.map(({ p }) => of[p.variant]));
    if (withPreds && gis.size === 1) {
      classTables(title, [...gis][0]!, usable.map((x) => x.p.baseline), usable.map((x) => x.p.variant), [`${st.short}=${valueText(st.baselineValue)}`, `${st.short}=${valueText(st.value)}`]);
    }
    return h;
  }

  // Without a headline, the per-class view is each changed run against its partner (a few).
  if (!headline.length && input) {
    let shown = 0;
    for (const p of pairs) {
      if (shown >= 3 || !p.comparable || p.relation !== 'variant') continue;
      const i = runs.findIndex((r) => r.id === p.run);
      const j = runs.findIndex((r) => r.id === p.vs);
      classTables(`${runs[i].label} vs ${runs[j].label}`, of[i]!, [j], [i], [runs[j].label, runs[i].label]);
      shown++;
    }
  }

  const hierarchy = runs.map((r, i) => {
    const v = hierarchyConsistency(r);
    const vs = i === 0 ? null : part[i]!.vs;
    const b = vs === null ? null : hierarchyConsistency(runs[vs]);
    return { run: r.id, value: v, delta: v !== null && b !== null ? v - b : null, vs: vs === null ? null : runs[vs].id };
  });
  const dupTitles = new Set<string>();
  for (const h of headline) {
    const k = stableStringify([h.sweep, h.title]);
    if (dupTitles.has(k)) notes.push(`${h.title} appears twice: the runs hold two sweeps of the same key; use --sweep ID to compare one`);
    dupTitles.add(k);
  }
  return { pairs, headline, classes, confusions, hierarchy, notes };
}

// Pairing two runs' predictions on the same validation examples: rows aligned by image id, class
// columns mapped by class id, labels checked to agree; then the paired bootstrap and McNemar of one
// run against another. Works from the top-1 column of the small top-5 arrays, never the full scores.
import { UserError } from '../../errors.ts';
import { alignByIds, permute, type Id } from '../../eval/align.ts';
import { formatValue, sameValue } from './config-diff.ts';
import { mcnemar, pairedBootstrap, pairedInterval, resampleMetrics, type BootstrapResult, type McNemarResult, type Resampled } from './significance.ts';

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

/**
 * What one run's paired test says, on the validation examples only (one run each side, so seed
 * variance is not in it; the headline has that):
 * - "beyond example noise": the 95 % bootstrap interval of the macro-F1 difference excludes 0;
 * - "within example noise": it includes 0;
 * - "noise reference": the two runs have the same config (but perhaps the seed), so whatever
 *   differs is what seeds and repeats alone do, never an effect of a change.
 */
export type Verdict = 'beyond example noise' | 'within example noise' | 'noise reference';

/** How a run relates to the run it is paired with. */
export type Relation = 'variant' | 'same config, other seed' | 'same config';

export type PairResult =
  | {
      run: string; vs: string; relation: Relation; comparable: true; n: number; ttaA: number; ttaB: number;
      bootstrap: BootstrapResult; mcnemar: McNemarResult; verdict: Verdict;
      /** e.g. "+0.021 macro-F1 [0.004, 0.038], McNemar p=0.012: beyond example noise" */
      summary: string;
    }
  | { run: string; vs: string; relation: Relation; comparable: false; reason: string };

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
  const diffs = keys.filter((k) => a.config && b.config && !sameValue(a.config[k], b.config[k]));
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

/** The verdict of one paired test; a noise reference whatever the interval says. */
export function verdictOf(bootstrap: BootstrapResult, relation: Relation): Verdict {
  if (relation !== 'variant') return 'noise reference';
  const f = bootstrap.macro_f1;
  return f.lo > 0 || f.hi < 0 ? 'beyond example noise' : 'within example noise';
}

export function pairResult(run: string, vs: string, relation: Relation, ttaA: number, ttaB: number, bootstrap: BootstrapResult, mc: McNemarResult): PairResult {
  const f = bootstrap.macro_f1;
  const verdict = verdictOf(bootstrap, relation);
  const summary = `${signed(f.diff)} macro-F1 ${ci(f.lo, f.hi)}, McNemar p=${formatP(mc.p)}: ${verdict}`;
  return { run, vs, relation, comparable: true, n: bootstrap.n, ttaA, ttaB, bootstrap, mcnemar: mc, verdict, summary };
}

export interface PairOptions { resamples?: number; seed?: number }

/** Paired bootstrap and McNemar of B against A on the examples both scored, aligned by id. */
export function pairRuns(a: PairSide, b: PairSide, level: string, opts: PairOptions & { relation?: Relation } = {}): PairResult {
  const relation = opts.relation ?? 'variant';
  const prep = preparePair(a, b, level);
  if (!prep.ok) return { run: b.id, vs: a.id, relation, comparable: false, reason: prep.reason };
  const paired = { truth: a.labels!, predA: a.top1, predB: prep.predB, numClasses: a.classes.length };
  return pairResult(b.id, a.id, relation, a.tta, b.tta, pairedBootstrap(paired, { resamples: opts.resamples ?? 1000, seed: opts.seed ?? 0 }), mcnemar(paired));
}

/** pairRuns for many runs against one baseline: prepared pairs go through one shared set of resamples. */
export function pairMany(a: PairSide, others: { side: { id: string; tta: number }; prepared: Prepared; relation?: Relation }[], opts: PairOptions = {}): PairResult[] {
  const ok = others.filter((o): o is (typeof others)[number] & { prepared: { ok: true; predB: Int32Array } } => o.prepared.ok);
  const m: Resampled | null = ok.length ? resampleMetrics(a.labels!, [a.top1, ...ok.map((o) => o.prepared.predB)], a.classes.length, { resamples: opts.resamples ?? 1000, seed: opts.seed ?? 0 }) : null;
  return others.map((o) => {
    const relation = o.relation ?? 'variant';
    if (!o.prepared.ok) return { run: o.side.id, vs: a.id, relation, comparable: false, reason: o.prepared.reason };
    const k = ok.indexOf(o as (typeof ok)[number]) + 1;
    const mc = mcnemar({ truth: a.labels!, predA: a.top1, predB: o.prepared.predB, numClasses: a.classes.length });
    return pairResult(o.side.id, a.id, relation, a.tta, o.side.tta, pairedInterval(m!, 0, k), mc);
  });
}

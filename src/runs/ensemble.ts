// `exp ensemble`: blends the saved predictions of several runs into a run of kind 'ensemble' whose
// predictions/<split>/tta<N>/ has the same layout as a training run's, so an ensemble can be
// compared, submitted, or be a member of another ensemble. Every check (same examples by id, same
// levels, same classes, same labels) happens here, in prepareEnsemble, before any arithmetic and
// before the run directory exists; the run itself (blend:<split> stages, then submission) goes
// through the one run lifecycle (src/stages/run-ensemble.ts). The scores stream through
// blendFiles in row blocks, so memory stays bounded whatever the members' sizes. Members' records
// are read through the validating reader (read.ts, read-predictions.ts).
import { join, relative } from 'node:path';
import { stringify as toYaml } from 'yaml';
import { UserError, throwIfInterrupted } from '../errors.ts';
import { writeNpy, type NpyReader } from '../eval/npy.ts';
import { alignByIds, type Id } from '../eval/align.ts';
import { MetricAccumulator, topK, type LevelMetrics } from '../eval/metrics.ts';
import { writeJsonAtomic } from '../util/fs.ts';
import { hashValue } from '../util/hash.ts';
import { blendBlock, blendFiles, blendKind, normalizeWeights, type BlendMethod } from './blend.ts';
import type { CreateRunOptions, RunRecord } from './record.ts';
import type { RunView } from './read.ts';
import type { EnsembleMember } from './schemas.ts';
import { findPredictions, openScores, readPredictionSet, readTopK, type PredictionSet } from './read-predictions.ts';

const TOPK = 5;
const BLOCK_BYTES = 32 * 1024 * 1024;

/** One member's prediction set for one split, read and checked (read-predictions.ts). */
export interface MemberSplit extends PredictionSet {
  view: RunView;
}

/** The member's default prediction set for `split` (run.json `default: true`), or the one with `tta`. */
export function selectPredictions(view: RunView, split: string, tta?: number): MemberSplit {
  const p = findPredictions(view, split, { tta });
  if (!p) {
    const have = view.run.predictions.filter((x) => x.split === split).map((x) => `tta${x.tta}`).join(', ');
    const what = tta === undefined ? `default predictions for the ${split} split` : `${split} predictions with --tta ${tta}`;
    const fix = have ? `it has ${have}; pass --tta with one of those` : `run \`exp predict ${view.dir} --split ${split}\`, or leave ${split} out with --split`;
    throw new UserError(`${view.dir} has no ${what} in run.json: ${fix}.`);
  }
  // Every level's score and top-5 headers are checked here, before any arithmetic.
  return { ...readPredictionSet(view, p, { scores: true }), view };
}

/** Splits to blend by default: those the first member has default predictions for, val first. */
export function defaultSplits(views: RunView[]): string[] {
  const splits = [...new Set((views[0]?.run.predictions ?? []).filter((p) => p.default).map((p) => p.split))];
  return splits.sort((a, b) => (a === 'val' ? -1 : b === 'val' ? 1 : a.localeCompare(b)));
}

const same = (a: readonly Id[], b: readonly Id[]): boolean => a.length === b.length && a.every((x, i) => String(x) === String(b[i]));

/**
 * Checks that every member holds the same levels, classes (same ids in the same column order),
 * examples (by id) and labels as the first; returns each member's row order in the first's order.
 */
export function checkMembers(members: MemberSplit[]): Int32Array[] {
  const base = members[0];
  const bi = base.index;
  const where = (m: MemberSplit) => `${relative(process.cwd(), m.dir) || m.dir}/index.json`;
  return members.map((m, k) => {
    const mi = m.index;
    if (k === 0) return Int32Array.from(mi.ids, (_x, i) => i);
    const them = `${where(m)} (member ${k + 1})`;
    const first = `${where(base)} (member 1)`;
    if (!same(mi.levels, bi.levels)) {
      throw new UserError(`${them} has levels [${mi.levels.join(', ')}] but ${first} has [${bi.levels.join(', ')}]; ensemble members must predict the same label levels.`);
    }
    for (const level of bi.levels) {
      const a = bi.classes[level] ?? [];
      const b = mi.classes[level] ?? [];
      if (same(a, b)) continue;
      const sa = new Set(a.map(String));
      const sb = new Set(b.map(String));
      const onlyThem = b.filter((c) => !sa.has(String(c)));
      const onlyFirst = a.filter((c) => !sb.has(String(c)));
      const detail = onlyThem.length || onlyFirst.length || a.length !== b.length
        ? `${b.length} vs ${a.length} classes; only in member ${k + 1}: ${JSON.stringify(onlyThem.slice(0, 3))}${onlyThem.length > 3 ? '...' : ''}, only in member 1: ${JSON.stringify(onlyFirst.slice(0, 3))}${onlyFirst.length > 3 ? '...' : ''}`
        : `the same ${a.length} classes in a different column order (first difference at column ${a.findIndex((c, i) => String(c) !== String(b[i]))})`;
      throw new UserError(`${them} and ${first} differ in the ${level} classes: ${detail}. Members must be trained on the same class list (same dataset and class mapping).`);
    }
    const al = alignByIds(bi.ids, mi.ids);
    if (!al.ok) {
      throw new UserError(`${them} and ${first} do not cover the same ${m.split} examples: comparing member 1 with member ${k + 1}, ${al.reason}. Members must predict the same split of the same dataset (same data.split settings and seed).`);
    }
    for (const level of bi.levels) {
      const la = bi.labels[level];
      const lb = mi.labels[level];
      if (!la || !lb) continue;
      for (let i = 0; i < la.length; i++) {
        if (la[i] !== lb[al.order[i]]) {
          throw new UserError(`${them} and ${first} disagree on the ${level} label of image ${JSON.stringify(bi.ids[i])} (${JSON.stringify(bi.classes[level][la[i]])} vs ${JSON.stringify(bi.classes[level][lb[al.order[i]]])}); the members were trained on different annotations.`);
        }
      }
    }
    return al.order;
  });
}

/** All weight vectors on the simplex with step 1/steps (each a multiple of 1/steps, summing to 1). */
export function simplexGrid(members: number, steps: number): number[][] {
  const out: number[][] = [];
  const cur: number[] = [];
  const rec = (left: number, slots: number) => {
    if (slots === 1) {
      out.push([...cur, left].map((x) => x / steps));
      return;
    }
    for (let a = left; a >= 0; a--) {
      cur.push(a);
      rec(left - a, slots - 1);
      cur.pop();
    }
  };
  rec(steps, members);
  return out;
}

const binom = (n: number, k: number): number => {
  let r = 1;
  for (let i = 1; i <= k; i++) r = (r * (n - k + i)) / i;
  return Math.round(r);
};

/** The finest grid step (at most 1/10) that keeps the number of candidate weightings <= max. */
export function gridSteps(members: number, max = 66): number {
  let steps = 1;
  while (steps < 10 && binom(steps + 1 + members - 1, members - 1) <= max) steps++;
  return steps;
}

export interface OptimizeResult {
  weights: number[];
  macroF1: number;
  level: string;
  steps: number;
  candidates: { weights: number[]; macro_f1: number }[];
}

/**
 * Searches a simplex grid of weights for the best target-level macro-F1 on the given (val) split.
 * Each block of rows is read once and scored under every candidate, so the search costs one pass
 * over the files. Ties go to the weighting nearest equal weights.
 */
export async function optimizeWeights(members: MemberSplit[], orders: Int32Array[], method: BlendMethod): Promise<OptimizeResult> {
  const index = members[0].index;
  const level = index.levels[0];
  const labels = index.labels[level];
  if (!labels) throw new UserError(`--optimize needs labels, but ${members[0].dir}/index.json has none for ${level}; optimise on the val split.`);
  const M = members.length;
  const steps = gridSteps(M);
  const grid = simplexGrid(M, steps);
  const cols = index.classes[level].length;
  const rows = index.rows;
  const readers: NpyReader[] = [];
  try {
    for (const m of members) readers.push(await openScores(m, level));
    const blockRows = Math.max(1, Math.floor(BLOCK_BYTES / (cols * 4)));
    const inputs = readers.map(() => new Float32Array(blockRows * cols));
    const out = new Float32Array(blockRows * cols);
    const top = new Int32Array(blockRows);
    const accs = grid.map(() => new MetricAccumulator(cols, false));
    const truth = Int32Array.from(labels);
    for (let start = 0; start < rows; start += blockRows) {
      const n = Math.min(blockRows, rows - start);
      await Promise.all(readers.map((r, k) => r.gatherRows(orders[k].subarray(start, start + n), inputs[k])));
      grid.forEach((w, c) => {
        blendBlock(inputs, w, method, n, cols, out);
        topK(out, n, cols, 1, top.subarray(0, n));
        accs[c].add(top.subarray(0, n), 1, truth.subarray(start, start + n));
      });
    }
    const candidates = grid.map((w, c) => ({ weights: w, macro_f1: accs[c].finish().macro_f1 }));
    const dist = (w: number[]) => w.reduce((s, x) => s + Math.abs(x - 1 / M), 0);
    let best = candidates[0];
    for (const c of candidates) {
      if (c.macro_f1 > best.macro_f1 || (c.macro_f1 === best.macro_f1 && dist(c.weights) < dist(best.weights))) best = c;
    }
    return { weights: best.weights, macroF1: best.macro_f1, level, steps, candidates };
  } finally {
    for (const r of readers) await r.close();
  }
}

/** Metrics of one member's saved top-5 predictions, rows in the ensemble's order. */
export async function memberMetrics(m: MemberSplit, order: Int32Array, labels: Record<string, number[] | null>): Promise<Record<string, LevelMetrics>> {
  const out: Record<string, LevelMetrics> = {};
  for (const level of m.index.levels) {
    const truth = labels[level];
    if (!truth) continue;
    const { k, top } = await readTopK(m, level);
    const aligned = new Int32Array(order.length * k);
    for (let i = 0; i < order.length; i++) aligned.set(top.subarray(order[i] * k, order[i] * k + k), i * k);
    const C = m.index.classes[level].length;
    const acc = new MetricAccumulator(C, k >= Math.min(TOPK, C));
    acc.add(aligned, k, Int32Array.from(truth));
    out[level] = acc.finish();
  }
  return out;
}

/** Blends one split into record's predictions/<split>/tta<N>/; returns the ensemble's metrics (empty without labels). */
export async function blendSplit(
  record: RunRecord, members: MemberSplit[], orders: Int32Array[], weights: number[], method: BlendMethod, tta: number,
  opts: { signal?: AbortSignal; onProgress?: (level: string, done: number, rows: number) => void } = {},
): Promise<{ metrics: Record<string, LevelMetrics> }> {
  const index = members[0].index;
  const dir = record.predictionsDir(index.split, tta);
  const rows = index.rows;
  const metrics: Record<string, LevelMetrics> = {};
  // float16 members give a float16 ensemble (same size on disk); any float32 member keeps float32.
  const dtype = members.every((m) => m.index.dtype === 'float16') ? 'float16' : 'float32';
  for (const level of index.levels) {
    const cols = index.classes[level].length;
    const k = Math.min(TOPK, cols);
    const top = new Int32Array(rows * k); // rows x 5 int32: 2.8 MB at 138k rows
    const truth = index.labels[level] ? Int32Array.from(index.labels[level]!) : null;
    const acc = new MetricAccumulator(cols);
    await blendFiles({
      members: members.map((m, i) => ({ npyPath: join(m.dir, `${level}.npy`), rowOrder: orders[i] })),
      weights,
      method,
      dtype,
      outPath: join(dir, `${level}.npy`),
      onBlock: (start, n, scores) => {
        throwIfInterrupted(opts.signal); // between blocks: a Herbarium-size split takes minutes
        const t = top.subarray(start * k, (start + n) * k);
        topK(scores, n, cols, k, t);
        if (truth) acc.add(t, k, truth.subarray(start, start + n));
        opts.onProgress?.(level, start + n, rows);
      },
    });
    await writeNpy(join(dir, `${level}.top5.npy`), top, { dtype: 'int32', cols: k });
    if (truth) metrics[level] = acc.finish();
  }
  record.writePredictionIndex({ ...index, tta, reduce: method, dtype, scores: blendKind(method) });
  return { metrics };
}

export interface EnsembleOptions {
  views: RunView[];
  method: BlendMethod;
  /** Relative weights, one per member; equal when absent. */
  weights?: number[];
  optimize?: boolean;
  /** Splits to blend; defaultSplits when absent. */
  splits?: string[];
  /** Use each member's predictions with this TTA count instead of its default. */
  tta?: number;
  /** Where the ensemble run directory is created. */
  outDir: string;
  name?: string;
  argv: string[];
  cwdForGit?: string;
  /** No terminal output from the stages (the library default; the CLI shows them). */
  quiet?: boolean;
}

export interface MemberReport {
  id: string;
  path: string;
  weight: number;
  metrics: Record<string, LevelMetrics>;
}

export interface EnsembleResult {
  record: RunRecord;
  weights: number[];
  optimized: OptimizeResult | null;
  /** Ensemble metrics on val per level (empty without val labels). */
  metrics: Record<string, LevelMetrics>;
  members: MemberReport[];
  splits: string[];
  submission: string | null;
}

/** One split to blend: each member's prediction set and its row order in the first member's order. */
export interface BlendSplitPlan {
  split: string;
  members: MemberSplit[];
  orders: Int32Array[];
  /** The ensemble's TTA label: the members' common count, else the largest (ensemble.json keeps each). */
  tta: number;
}

/** Everything checked and decided before the ensemble run exists. */
export interface PreparedEnsemble {
  method: BlendMethod;
  weights: number[];
  optimized: OptimizeResult | null;
  splits: BlendSplitPlan[];
  /** What run.json#members and ensemble.json say about each member. */
  members: (EnsembleMember & { path: string; predictions: Record<string, { tta: number; path: string }> })[];
  /** The ensemble's resolved config (config.yaml). */
  config: Record<string, unknown>;
}

/**
 * Checks everything (member status, weights, that every split of every member lines up) and, with
 * optimize, searches the weights on val: all before a run directory exists, so a mismatch in any
 * split stops before a byte is blended.
 */
export async function prepareEnsemble(o: Pick<EnsembleOptions, 'views' | 'method' | 'weights' | 'optimize' | 'splits' | 'tta'>): Promise<PreparedEnsemble> {
  const { views, method } = o;
  if (views.length < 2) throw new UserError(`An ensemble needs at least two member runs; got ${views.length}. Pass several run directories, ids or a quoted glob like "runs/*".`);
  for (const v of views) {
    if (v.run.status !== 'completed') throw new UserError(`${v.dir} is ${v.run.status}, not completed; only finished runs can be ensemble members.`);
  }
  if (o.optimize && o.weights) throw new UserError('Give either --weights or --optimize, not both: --optimize chooses the weights.');
  let weights = Array.from(normalizeWeights(o.weights, views.length));
  const splitNames = o.splits ?? defaultSplits(views);
  if (splitNames.length === 0) throw new UserError(`${views[0].dir} has no default predictions for any split; run \`exp predict\` on it, or name splits with --split.`);
  const splits = splitNames.map((split) => {
    const members = views.map((v) => selectPredictions(v, split, o.tta));
    return { split, members, orders: checkMembers(members), tta: Math.max(...members.map((m) => m.tta)) };
  });
  // The top-5 columns are read whole later (member metrics, after the run directory exists):
  // check their values now, with everything else.
  for (const p of splits) for (const m of p.members) for (const level of m.index.levels) await readTopK(m, level);
  const val = splits.find((p) => p.split === 'val');
  if (o.optimize && !val) throw new UserError('--optimize searches the weights on the val split, which is not among --split; add val.');
  const levels = splits[0].members[0].index.levels;
  for (const p of splits) {
    if (!same(p.members[0].index.levels, levels)) throw new UserError(`The first member's ${p.split} predictions have levels [${p.members[0].index.levels.join(', ')}] but its ${splits[0].split} predictions have [${levels.join(', ')}].`);
  }

  let optimized: OptimizeResult | null = null;
  if (o.optimize && val) {
    optimized = await optimizeWeights(val.members, val.orders, method);
    weights = optimized.weights;
  }
  const members = views.map((v, i) => ({
    path: v.dir, id: v.id, identity: v.run.identity, git_sha: v.run.git?.sha ?? null, config_hash: v.run.config_hash, weight: weights[i],
    predictions: Object.fromEntries(splits.map((p) => [p.split, { tta: p.members[i].tta, path: relative(v.dir, p.members[i].dir) }])),
  }));
  const config = {
    kind: 'ensemble', method, weights, optimize: optimized ? { split: 'val', level: optimized.level, metric: 'macro_f1', grid_step: 1 / optimized.steps } : null,
    splits: splitNames, tta: o.tta ?? null, data: { levels },
    members: members.map((m) => ({ id: m.id, identity: m.identity, weight: m.weight })),
  };
  return { method, weights, optimized, splits, members, config };
}

/** The options of createRun for a prepared ensemble. */
export function ensembleRunOptions(e: PreparedEnsemble, o: Pick<EnsembleOptions, 'outDir' | 'name' | 'argv' | 'cwdForGit'>): CreateRunOptions {
  return {
    runsDir: o.outDir, name: o.name ?? 'ensemble', kind: 'ensemble', experimentText: null, experimentPath: null,
    resolvedConfigYaml: toYaml(e.config), configHash: hashValue(e.config), seed: null, argv: o.argv, cwdForGit: o.cwdForGit ?? process.cwd(),
    members: e.members.map((m) => ({ id: m.id, identity: m.identity, weight: m.weight, path: m.path, git_sha: m.git_sha, config_hash: m.config_hash })),
  };
}

/**
 * ensemble.json: run.json has the members and the method; this adds each member's own val metrics
 * (recomputed on the aligned examples; null until the val split is blended) and which prediction
 * sets were blended.
 */
export function writeEnsembleJson(record: RunRecord, e: PreparedEnsemble, memberMetrics: Record<string, LevelMetrics>[] | null): void {
  writeJsonAtomic(record.path('ensemble.json'), {
    method: e.method, scores: blendKind(e.method), weights: e.weights, optimized: e.optimized,
    members: e.members.map((m, i) => ({ ...m, metrics: memberMetrics && Object.keys(memberMetrics[i]).length ? { val: memberMetrics[i] } : null })),
  });
}

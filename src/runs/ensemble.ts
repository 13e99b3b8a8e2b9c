// `exp ensemble`: blends the saved predictions of several runs into a run of kind 'ensemble' whose
// predictions/<split>/tta<N>/ has the same layout as a training run's, so an ensemble can be
// compared, submitted, or be a member of another ensemble. Every check (same examples by id, same
// levels, same classes, same labels) happens before any arithmetic and before the run directory
// exists; the scores stream through blendFiles in row blocks, so memory stays bounded whatever
// the members' sizes.
import { join, relative } from 'node:path';
import { stringify as toYaml } from 'yaml';
import { UserError } from '../errors.ts';
import { writeNpy, type NpyReader } from '../eval/npy.ts';
import { alignByIds, type Id } from '../eval/align.ts';
import { MetricAccumulator, topK, type LevelMetrics } from '../eval/metrics.ts';
import { writeSubmission } from '../eval/submission.ts';
import { writeJsonAtomic } from '../util/fs.ts';
import { hashValue } from '../util/hash.ts';
import { blendBlock, blendFiles, blendKind, normalizeWeights, type BlendMethod } from './blend.ts';
import { createRun, type RunRecord } from './record.ts';
import type { RunView } from './read.ts';
import type { MetricsJson } from './schemas.ts';
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
export async function blendSplit(record: RunRecord, members: MemberSplit[], orders: Int32Array[], weights: number[], method: BlendMethod, tta: number): Promise<{ metrics: Record<string, LevelMetrics>; top1: Int32Array }> {
  const index = members[0].index;
  const dir = record.predictionsDir(index.split, tta);
  const rows = index.rows;
  const metrics: Record<string, LevelMetrics> = {};
  let top1 = new Int32Array(0);
  // float16 members give a float16 ensemble (same size on disk); any float32 member keeps float32.
  const dtype = members.every((m) => m.index.dtype === 'float16') ? 'float16' : 'float32';
  for (const [li, level] of index.levels.entries()) {
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
        const t = top.subarray(start * k, (start + n) * k);
        topK(scores, n, cols, k, t);
        if (truth) acc.add(t, k, truth.subarray(start, start + n));
      },
    });
    await writeNpy(join(dir, `${level}.top5.npy`), top, { dtype: 'int32', cols: k });
    if (truth) metrics[level] = acc.finish();
    if (li === 0) top1 = Int32Array.from({ length: rows }, (_x, r) => top[r * k]);
  }
  record.writePredictionIndex({ ...index, tta, reduce: method, dtype, scores: blendKind(method) });
  return { metrics, top1 };
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

/** Checks everything, then creates the ensemble run and blends every split. */
export async function runEnsemble(o: EnsembleOptions): Promise<EnsembleResult> {
  const { views, method } = o;
  if (views.length < 2) throw new UserError(`An ensemble needs at least two member runs; got ${views.length}. Pass several run directories, ids or a quoted glob like "runs/*".`);
  for (const v of views) {
    if (v.run.status !== 'completed') throw new UserError(`${v.dir} is ${v.run.status}, not completed; only finished runs can be ensemble members.`);
  }
  if (o.optimize && o.weights) throw new UserError('Give either --weights or --optimize, not both: --optimize chooses the weights.');
  let weights = Array.from(normalizeWeights(o.weights, views.length));
  const splits = o.splits ?? defaultSplits(views);
  if (splits.length === 0) throw new UserError(`${views[0].dir} has no default predictions for any split; run \`exp predict\` on it, or name splits with --split.`);
  // All checks first: a mismatch in any split stops before a byte is blended.
  const plan = splits.map((split) => {
    const members = views.map((v) => selectPredictions(v, split, o.tta));
    return { split, members, orders: checkMembers(members) };
  });
  // The top-5 columns are read whole later (member metrics, after the run directory exists):
  // check their values now, with everything else.
  for (const p of plan) for (const m of p.members) for (const level of m.index.levels) await readTopK(m, level);
  const val = plan.find((p) => p.split === 'val');
  if (o.optimize && !val) throw new UserError('--optimize searches the weights on the val split, which is not among --split; add val.');
  const levels = plan[0].members[0].index.levels;
  for (const p of plan) {
    if (!same(p.members[0].index.levels, levels)) throw new UserError(`The first member's ${p.split} predictions have levels [${p.members[0].index.levels.join(', ')}] but its ${plan[0].split} predictions have [${levels.join(', ')}].`);
  }

  let optimized: OptimizeResult | null = null;
  if (o.optimize && val) {
    optimized = await optimizeWeights(val.members, val.orders, method);
    weights = optimized.weights;
  }
  // The ensemble's TTA label: the members' common count, else the largest (ensemble.json keeps each).
  const ttaOf = (p: (typeof plan)[number]) => Math.max(...p.members.map((m) => m.tta));
  const memberInfo = views.map((v, i) => ({
    path: v.dir, id: v.id, identity: v.run.identity, git_sha: v.run.git?.sha ?? null, config_hash: v.run.config_hash, weight: weights[i],
    predictions: Object.fromEntries(plan.map((p) => [p.split, { tta: p.members[i].tta, path: relative(v.dir, p.members[i].dir) }])),
  }));
  const config = {
    kind: 'ensemble', method, weights, optimize: optimized ? { split: 'val', level: optimized.level, metric: 'macro_f1', grid_step: 1 / optimized.steps } : null,
    splits, tta: o.tta ?? null, data: { levels },
    members: memberInfo.map((m) => ({ id: m.id, identity: m.identity, weight: m.weight })),
  };
  const record = await createRun({
    runsDir: o.outDir, name: o.name ?? 'ensemble', kind: 'ensemble', experimentText: null, experimentPath: null,
    resolvedConfigYaml: toYaml(config), configHash: hashValue(config), seed: null, argv: o.argv, cwdForGit: o.cwdForGit ?? process.cwd(),
    members: memberInfo.map((m) => ({ id: m.id, identity: m.identity, weight: m.weight, path: m.path, git_sha: m.git_sha, config_hash: m.config_hash })),
  });
  record.update({ ensemble: { method, weights, optimized: optimized ? { ...optimized } as Record<string, unknown> : null } });
  try {
    record.log(`${method} ensemble of ${views.length} runs, weights ${weights.map((w) => w.toFixed(4)).join(', ')}`);
    if (optimized) record.log(`weights chosen on val (grid step 1/${optimized.steps}, ${optimized.level} macro-F1 ${optimized.macroF1}); val metrics flatter this ensemble`);
    const reports: MemberReport[] = memberInfo.map((m) => ({ id: m.id, path: m.path, weight: m.weight, metrics: {} }));
    let valMetrics: Record<string, LevelMetrics> = {};
    let submission: string | null = null;
    for (const p of plan) {
      const tta = ttaOf(p);
      record.stageStarted(`blend:${p.split}`);
      const { metrics, top1 } = await blendSplit(record, p.members, p.orders, weights, method, tta);
      record.addPredictions({ split: p.split, tta, reduce: method, default: true });
      if (Object.keys(metrics).length) record.writeMetrics({ [p.split]: { [`tta${tta}`]: metrics } } as unknown as MetricsJson);
      if (p.split === 'val') {
        valMetrics = metrics;
        for (const [i, m] of p.members.entries()) reports[i].metrics = await memberMetrics(m, p.orders[i], p.members[0].index.labels);
      }
      if (p.split === 'test') {
        const idx = p.members[0].index;
        submission = record.path('submission.csv');
        writeSubmission(submission, { ids: idx.ids, predicted: top1, classIds: idx.classes[idx.levels[0]] });
      }
      record.stageFinished(`blend:${p.split}`);
    }
    // run.json has the members and the method; ensemble.json adds each member's own val metrics
    // (recomputed on the aligned examples) and which prediction sets were blended.
    writeJsonAtomic(record.path('ensemble.json'), {
      method, scores: blendKind(method), weights, optimized,
      members: memberInfo.map((m, i) => ({ ...m, metrics: Object.keys(reports[i].metrics).length ? { val: reports[i].metrics } : null })),
    });
    record.complete();
    return { record, weights, optimized, metrics: valMetrics, members: reports, splits, submission };
  } catch (e) {
    record.fail(e);
    throw e;
  }
}

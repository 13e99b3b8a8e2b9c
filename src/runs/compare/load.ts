// Reading what exp compare needs from run records: run.json, config.yaml (experiment.yaml only when
// data paths differ), metrics.json, history.jsonl, and per run the validation predictions' index.json
// and <level>.top5.npy (first column only); per_class.json for class names. Every record file goes
// through the validating reader (../read*.ts), so a damaged one is an error naming it. Loads neither
// tfjs nor sharp nor ajv's schema compiler (the validators are generated ahead of time): comparing
// 200 runs must stay fast, and a run record is all it needs.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { UserError } from '../../errors.ts';
import { PATH_KEYS } from '../../config/paths.ts';
import { listRuns, readRun, resolveRunArgs, type RunView } from '../read.ts';
import { readConfigYaml } from '../read-config.ts';
import { readRecordJson } from '../read-file.ts';
import { findPredictions, predictionsFix, readPredictionSet, readTop1 } from '../read-predictions.ts';
import { resolveSweepId, sweepIds } from '../sweep-id.ts';
import { ValidationSets, type SideOrMissing } from './analysis.ts';
import { flattenConfig, pathsAsWritten } from './config-diff.ts';
import { runLabels } from './groups.ts';
import { targetLevel } from './metrics.ts';
import { buildReport, type CompareReport } from './report.ts';
import type { CompareRun } from './types.ts';

export interface CompareOptions {
  'runs-dir'?: string;
  baseline?: string;
  split?: string;
  level?: string;
  /** Every run of this sweep (an id or a unique prefix), besides the runs named. */
  sweep?: string;
  /** Effects within +-this count as "no effect" (default 0.01). */
  'min-effect'?: string | number;
}

/** Bootstrap resamples and seed: fixed, so the same runs always get the same intervals. */
export const RESAMPLES = 1000;
export const SEED = 0;

function readYaml(file: string, notes: string[]): unknown {
  if (!existsSync(file)) return undefined;
  try {
    return parseYaml(readFileSync(file, 'utf8'));
  } catch (e) {
    notes.push(`${file} is not readable YAML (${(e as Error).message.split('\n')[0]}); its config is left out of the diff`);
    return undefined;
  }
}

function loadRun(view: RunView, notes: string[]): Omit<CompareRun, 'label'> {
  const r = view.run;
  const raw = readConfigYaml(view.dir);
  let config: Record<string, unknown> | null = null;
  if (raw === undefined) notes.push(`${r.id} has no config.yaml; it is left out of the config diff`);
  if (raw !== undefined) {
    config = flattenConfig(raw);
    // What the config cannot show but changes results: the code and the data.
    const g = r.git;
    if (g?.available) config['(git)'] = `${g.sha.slice(0, 10)}${g.dirty ? ` + patch ${g.patch_sha256.slice(0, 8)}` : ''}`;
    if (r.data?.fingerprint) config['(data)'] = r.data.fingerprint.slice(0, 12);
  }
  // Validated when read: a damaged metrics.json or history.jsonl is an error naming the file (leave
  // that run out, or repair it); a torn last history line is left out with a note.
  const metrics = view.metrics();
  const history = view.history();
  notes.push(...view.notes);
  const levels = raw && typeof raw === 'object' ? ((raw as { data?: { levels?: unknown } }).data?.levels) : undefined;
  const defaultTta: Record<string, number> = {};
  for (const p of r.predictions ?? []) if (p.default || !(p.split in defaultTta)) defaultTta[p.split] = p.tta;
  return {
    id: r.id, dir: view.dir, name: r.name, kind: r.kind, status: r.status,
    error: r.error ? `${r.error.message}${r.error.stage ? ` (stage ${r.error.stage})` : ''}` : null,
    config, metrics, history, sweep: r.sweep ?? null, seed: r.seed ?? null,
    levels: Array.isArray(levels) ? levels.map(String) : Object.values(metrics as Record<string, Record<string, Record<string, unknown>>>)
      .flatMap((byTta) => Object.values(byTta)).flatMap((byLevel) => Object.keys(byLevel).filter((l) => typeof byLevel[l] === 'object')).filter((l, i, a) => a.indexOf(l) === i),
    defaultTta,
    classes: r.data?.classes,
    members: r.members?.map((m) => ({ id: m.id, weight: m.weight })),
    method: r.ensemble?.method,
  };
}

/** Runs whose record names a different number of classes at a level they share: not one task. */
function checkClassCounts(views: RunView[]): void {
  const withCounts = views.filter((v) => v.run.data?.classes);
  const base = withCounts[0];
  if (!base) return;
  for (const v of withCounts.slice(1)) {
    for (const [level, n] of Object.entries(v.run.data!.classes!)) {
      const m = base.run.data!.classes![level];
      if (m !== undefined && m !== n) {
        throw new UserError(`${base.dir} and ${v.dir} were trained on different class sets: ${m} vs ${n} ${level} classes (run.json data.classes). Their metrics measure different tasks; compare runs of the same dataset.`);
      }
    }
  }
}

/** One run's top-1 predictions on `split` at `level`: index.json and the first top-5 column. */
async function loadSide(view: RunView, run: CompareRun, split: string, level: string, preferTta?: number): Promise<SideOrMissing> {
  const rec = findPredictions(view, split, { tta: preferTta, fallback: true });
  if (!rec) return { missing: `no predictions on ${split} (status ${run.status})` };
  const set = readPredictionSet(view, rec, { levels: [level] });
  const { index } = set;
  if (!index.levels.includes(level)) return { missing: `its predictions on ${split} have no level "${level}" (levels: ${index.levels.join(', ')})` };
  const top1 = await readTop1(set, level);
  const labels = index.labels[level];
  return {
    side: {
      id: run.id, ids: index.ids, labels: labels ? Int32Array.from(labels) : null, classes: index.classes[level],
      top1, tta: index.tta, config: run.config, dataFingerprint: view.run.data?.fingerprint ?? null,
    },
  };
}

interface PerClassLevel {
  classes: (string | number)[];
  names?: string[];
}

/**
 * Class names of a level from a run's per_class.json (written beside labelled predictions),
 * validated; null when the run has none (unlabelled, or written before names were kept).
 */
function classNames(view: RunView, split: string, level: string, tta?: number): string[] | null {
  const rec = findPredictions(view, split, { tta, fallback: true });
  if (!rec) return null;
  const file = join(view.dir, rec.path || join('predictions', split, `tta${rec.tta}`), 'per_class.json');
  const perClass = readRecordJson<Record<string, PerClassLevel>>(file, 'per-class', predictionsFix(view.dir, view.run.kind, rec.split, rec.tta));
  return perClass?.[level]?.names ?? null;
}

/** The run directories to compare: the arguments, then every run of --sweep; --baseline first. */
function runDirs(args: string[], opts: CompareOptions, runsDir: string, notes: string[]): string[] {
  let dirs = args.length ? resolveRunArgs(args, runsDir) : [];
  if (opts.sweep) {
    const listing = listRuns(runsDir);
    const id = resolveSweepId(opts.sweep, sweepIds(runsDir, listing), runsDir);
    // point order; a point run again (failed, then re-run) lists its completed run first
    const members = listing.filter((r) => r.run?.sweep?.id === id).sort((a, b) =>
      (a.run!.sweep!.point_index ?? 0) - (b.run!.sweep!.point_index ?? 0) || Number(b.status === 'completed') - Number(a.status === 'completed') || (b.started ?? '').localeCompare(a.started ?? ''));
    if (!members.length) throw new UserError(`Sweep ${id} has no runs in ${runsDir} yet (its definition is there). Run it with: exp run --point ${id}/0, or the exp run command that defined it.`);
    if (opts.sweep !== id) notes.push(`--sweep ${opts.sweep}: sweep ${id}`);
    for (const m of members) if (!dirs.some((d) => resolve(d) === resolve(m.dir))) dirs.push(m.dir);
  }
  if (!dirs.length) throw new UserError('exp compare needs runs: give run directories, ids or a quoted glob ("runs/*"), or --sweep ID for every run of a sweep.');
  if (opts.baseline) {
    const [b] = resolveRunArgs([opts.baseline], runsDir);
    dirs = [b, ...dirs.filter((d) => resolve(d) !== resolve(b))];
  }
  return dirs;
}

function minEffectOf(opts: CompareOptions): number {
  const raw = opts['min-effect'];
  if (raw === undefined) return 0.01;
  const x = Number(raw);
  if (!(x >= 0 && x < 1) || raw === '') throw new UserError(`--min-effect ${raw}: expected a number in [0, 1), the smallest macro-F1 difference that matters (default 0.01).`);
  return x;
}

/** Reads the runs and builds the report (no printing); used by the command, the tests and the benchmark. */
export async function compareRuns(args: string[], opts: CompareOptions = {}): Promise<CompareReport> {
  const runsDir = resolve(opts['runs-dir'] ?? 'runs');
  const minEffect = minEffectOf(opts);
  const notes: string[] = [];
  const views = runDirs(args, opts, runsDir, notes).map((d) => readRun(d));
  checkClassCounts(views);
  const loaded = views.map((v) => loadRun(v, notes));
  // Data paths: config.yaml holds them resolved (absolute). Where they differ between runs, show and
  // compare them as written instead (experiment.yaml, --set); parsing those files only then keeps
  // 200-run comparisons fast.
  const pathKeys = PATH_KEYS.map((k) => k.join('.'));
  const base = loaded[0].config;
  if (base && pathKeys.some((k) => loaded.some((r) => r.config && r.config[k] !== base[k]))) {
    loaded.forEach((r, i) => {
      if (r.config) r.config = pathsAsWritten(r.config, pathKeys, readYaml(views[i].path('experiment.yaml'), []), views[i].run.overrides ?? []);
    });
  }
  const labels = runLabels(loaded);
  const runs: CompareRun[] = loaded.map((r, i) => ({ ...r, label: labels[i] }));
  const level = targetLevel(runs, opts.level);
  if (opts.level && !runs.some((r) => r.levels.includes(opts.level!))) {
    throw new UserError(`--level ${opts.level}: no run has that level (levels: ${[...new Set(runs.flatMap((r) => r.levels))].join(', ') || 'none recorded'}).`);
  }
  const split = opts.split ?? 'val';
  let predictions = null;
  if (runs.length > 1 && level) {
    // Each run is read and folded into its validation set (aligned to that set's first run, reduced
    // to its top-1 column) before the next is read; one shared set of resamples then serves every
    // comparison within a set.
    const sets = new ValidationSets(level);
    const first = await loadSide(views[0], runs[0], split, level);
    sets.add(0, first);
    const tta = 'side' in first ? first.side.tta : undefined;
    for (let i = 1; i < runs.length; i++) sets.add(i, await loadSide(views[i], runs[i], split, level, tta));
    predictions = { split, level, sets, names: (i: number) => classNames(views[i], split, level, tta) };
  }
  return buildReport(runs, { split: opts.split, level: opts.level, predictions, notes, resamples: RESAMPLES, seed: SEED, minEffect });
}

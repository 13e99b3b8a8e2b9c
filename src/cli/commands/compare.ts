// exp compare <run>...: reads run records (run.json, config.yaml, experiment.yaml, metrics.json,
// history.jsonl, predictions/<split>/tta<N>/index.json and <level>.top5.npy), computes the report
// with src/runs/compare.ts and prints it. Loads neither tfjs nor sharp nor ajv's schema compiler
// (the record validators are generated ahead of time): comparing 200 runs must stay fast, and a
// run record is all it needs.
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { UserError } from '../../errors.ts';
import { PATH_KEYS } from '../../config/paths.ts';
import { readRun, resolveRunArgs, type RunView } from '../../runs/read.ts';
import { readConfigYaml } from '../../runs/read-config.ts';
import { findPredictions, readPredictionSet, readTop1 } from '../../runs/read-predictions.ts';
import { writeAtomic } from '../../util/fs.ts';
import {
  buildReport, flattenConfig, pairMany, pathsAsWritten, preparePair, runLabels, targetLevel,
  type CompareReport, type CompareRun, type PairResult, type PairSide, type Prepared,
} from '../../runs/compare.ts';
import { FORMATS, render, type Format } from '../../runs/compare-render.ts';
import { renderHtml } from '../../runs/compare-html.ts';

export interface CompareOptions {
  'runs-dir'?: string;
  baseline?: string;
  format?: string;
  html?: string;
  split?: string;
  level?: string;
}

/** Bootstrap resamples and seed: fixed, so the same runs always get the same intervals. */
const RESAMPLES = 1000;
const SEED = 0;

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

type Side = { side: PairSide } | { missing: string };

/** One run's top-1 predictions on `split` at `level`: index.json and the first top-5 column. */
async function loadSide(view: RunView, run: CompareRun, split: string, level: string, preferTta?: number): Promise<Side> {
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

/** Reads the runs and builds the report (no printing); used by the command, the tests and the benchmark. */
export async function compareRuns(args: string[], opts: CompareOptions = {}): Promise<CompareReport> {
  const runsDir = resolve(opts['runs-dir'] ?? 'runs');
  let dirs = resolveRunArgs(args, runsDir);
  if (opts.baseline) {
    const [b] = resolveRunArgs([opts.baseline], runsDir);
    dirs = [b, ...dirs.filter((d) => resolve(d) !== resolve(b))];
  }
  const views = dirs.map((d) => readRun(d));
  checkClassCounts(views);
  const notes: string[] = [];
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
  let significance: CompareReport['significance'] = null;
  if (runs.length > 1 && level) {
    const base = await loadSide(views[0], runs[0], split, level);
    let pairs: PairResult[];
    if ('missing' in base) {
      pairs = runs.slice(1).map((r) => ({ run: r.id, comparable: false, reason: `the baseline cannot be paired: ${base.missing}` }));
    } else {
      // Each run is read, aligned to the baseline and reduced to its top-1 column, then dropped;
      // one batched bootstrap then serves every run (the draws are shared).
      const others: { side: { id: string; tta: number }; prepared: Prepared }[] = [];
      for (let i = 1; i < runs.length; i++) {
        const other = await loadSide(views[i], runs[i], split, level, base.side.tta);
        others.push('missing' in other
          ? { side: { id: runs[i].id, tta: 0 }, prepared: { ok: false, reason: other.missing } }
          : { side: { id: runs[i].id, tta: other.side.tta }, prepared: preparePair(base.side, other.side, level) });
      }
      pairs = pairMany(base.side, others, { resamples: RESAMPLES, seed: SEED });
    }
    significance = { split, level, resamples: RESAMPLES, seed: SEED, pairs };
  }
  return buildReport(runs, { split: opts.split, level: opts.level, significance, notes });
}

export async function run(args: string[], opts: CompareOptions): Promise<number> {
  const format = (opts.format ?? 'table') as Format;
  if (!FORMATS.includes(format)) throw new UserError(`--format ${opts.format}: expected one of ${FORMATS.join(', ')}.`);
  const report = await compareRuns(args, opts);
  process.stdout.write(render(report, format));
  if (opts.html) {
    try {
      writeAtomic(resolve(opts.html), renderHtml(report, { generated: new Date().toISOString() }));
    } catch (e) {
      throw new UserError(`Cannot write --html ${opts.html}: ${(e as Error).message}. Check that its folder exists and is writable.`);
    }
    process.stderr.write(`wrote ${opts.html}\n`);
  }
  return 0;
}

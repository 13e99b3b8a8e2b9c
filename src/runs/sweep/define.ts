// What a sweep is: a grid of overrides, each point of which is one run. The grid comes from two
// places, applied in the override order (extends chain, the file, the sweep point, --sweep,
// --set): the experiment file's `sweep:` block (grid keys, then `seeds` as the key `seed`) and
// `--sweep key=v1,v2` arguments (their product, in argument order). Running one is run.ts's
// business; where the points run, a launcher's (launcher.ts).
//
// A sweep is identified by a hash of the base config (the experiment with its --set overrides)
// and the grid, so running the same sweep again finds the same id and the runs it already made.
// Its definition is stored in the runs directory, so any process that shares that directory (an
// array job on a cluster) can run point n alone with `exp run --point <id>/<n>`:
//
//   <runs>/.sweeps/<id>.json   (written atomically; rewritten identically when the sweep is re-run)
//   {
//     "schema_version": 2,
//     "id": "sw-<12 hex>",
//     "created": ISO time of the first definition,
//     "experiment": the experiment file, relative to the runs directory,
//     "cwd": the directory --set/--sweep paths were resolved against, relative to the runs directory,
//     "sets": ["key=value", ...]            the --set arguments as typed,
//     "base_config_hash": config hash of the experiment + --set (no sweep block),
//     "keys": ["augment.color_jitter.enabled", "seed"],   swept keys in sweep order,
//     "points": [{ "index": 0, "point": {key: value}, "overrides": [{key, value, from: "file"|"cli", source}] }]
//   }
// Points are numbered from 0 in row-major order (the last key varies fastest), matching a
// scheduler's array index (SLURM --array=0-5). The paths are relative to the runs directory, so
// the record is valid on every machine that mounts the runs directory and the checkout side by
// side, whatever their absolute paths (a cluster node, a laptop with the share mounted elsewhere);
// records of schema_version 1 hold absolute paths and are still read.
import { isAbsolute, join, relative, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { UserError, type Problem } from '../../errors.ts';
import type { Override } from '../../config/overrides.ts';
import { locate, type SourceNode, type Origin } from '../../config/source.ts';
import { writeJsonAtomic } from '../../util/fs.ts';
import { readSweepFile } from '../read.ts';
import { hashValue } from '../../util/hash.ts';

export interface SweepAxis {
  key: string;
  values: unknown[];
  /** 'file': the experiment's sweep: block (applied before --sweep); 'cli': a --sweep argument. */
  from: 'file' | 'cli';
  /** Where the axis was written, for problems ("file:line:col" or "--sweep key"). */
  source: string;
}

export interface PointOverride {
  key: string;
  value: unknown;
  from: 'file' | 'cli';
  source: string;
}

export interface SweepPoint {
  index: number;
  /** This point's value for each swept key (run.json sweep.point). */
  point: Record<string, unknown>;
  overrides: PointOverride[];
}

export interface SweepRecord {
  /** 1: experiment and cwd are absolute paths; 2: relative to the runs directory. */
  schema_version: 1 | 2;
  id: string;
  created: string;
  experiment: string;
  cwd: string;
  sets: string[];
  base_config_hash: string;
  keys: string[];
  points: SweepPoint[];
}

/**
 * Parses `key=v1,v2`. The values are read as a YAML flow list, so `false,true` are booleans,
 * `1e-3,3e-4` numbers, and a value with commas is quoted or braced (`{a: 1, b: 2},{a: 3, b: 4}`).
 */
export function parseSweepArg(arg: string): { axis?: SweepAxis; problems: Problem[] } {
  const eq = arg.indexOf('=');
  const key = eq < 0 ? arg.trim() : arg.slice(0, eq).trim();
  const file = `--sweep ${key || arg}`;
  const bad = (message: string) => ({ problems: [{ file, message, severity: 'error' as const }] });
  if (eq < 0 || !key) return bad('expected --sweep key=v1,v2, e.g. --sweep loss.gamma=0,1,2');
  if (!/^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$/.test(key)) return bad(`'${key}' is not a dotted key like loss.gamma`);
  let values: unknown;
  try {
    values = parseYaml(`[${arg.slice(eq + 1)}]`, { prettyErrors: false });
  } catch (e) {
    return bad(`cannot read '${arg.slice(eq + 1)}' as a comma-separated list of YAML values: ${(e as Error).message.split('\n')[0]}`);
  }
  if (!Array.isArray(values) || values.length === 0) return bad(`--sweep ${key} needs at least one value, e.g. --sweep ${key}=a,b`);
  const uniq = new Set(values.map((v) => JSON.stringify(v)));
  if (uniq.size !== values.length) return bad(`--sweep ${key} lists a value twice; each point must differ`);
  return { axis: { key, values: values.map((v) => v ?? null), from: 'cli', source: file }, problems: [] };
}

const label = (o: Origin | undefined, fallback: string): string => (o?.line ? `${o.file}:${o.line}:${o.col ?? 1}` : o?.file ?? fallback);

/** Axes of the experiment's resolved `sweep:` block (grid keys in file order, then seeds). */
export function fileAxes(block: { grid?: Record<string, unknown[]>; seeds?: number[] } | null | undefined, source: SourceNode): SweepAxis[] {
  if (!block) return [];
  const axes: SweepAxis[] = Object.entries(block.grid ?? {}).map(([key, values]) => ({
    key, values, from: 'file', source: label(locate(source, ['sweep', 'grid', key], 'key'), `sweep.grid.${key}`),
  }));
  if (block.seeds?.length) axes.push({ key: 'seed', values: block.seeds, from: 'file', source: label(locate(source, ['sweep', 'seeds'], 'key'), 'sweep.seeds') });
  return axes;
}

/** Every combination of the axes' values; the last axis varies fastest. A key swept twice is an error. */
export function expandPoints(axes: SweepAxis[]): SweepPoint[] {
  const seen = new Map<string, SweepAxis>();
  for (const a of axes) {
    const prev = seen.get(a.key);
    if (prev) throw new UserError(`${a.source}: '${a.key}' is already swept by ${prev.source}; sweep each key once (--set fixes a value for every point).`);
    seen.set(a.key, a);
  }
  let points: PointOverride[][] = [[]];
  for (const a of axes) points = points.flatMap((p) => a.values.map((v) => [...p, { key: a.key, value: v, from: a.from, source: a.source }]));
  return points.map((overrides, index) => ({ index, point: Object.fromEntries(overrides.map((o) => [o.key, o.value])), overrides }));
}

/** Deterministic id: the same base config and grid give the same id on any machine. */
export function sweepId(baseConfigHash: string, axes: SweepAxis[]): string {
  return `sw-${hashValue({ base: baseConfigHash, axes: axes.map((a) => ({ key: a.key, values: a.values, from: a.from })) }).slice(0, 12)}`;
}

/** The point's overrides as loadExperiment options: the file block's, then --sweep's. */
export function loadOptionsOf(point: SweepPoint): { sweepPoint: Override[]; sweeps: Override[] } {
  const toOverride = (o: PointOverride): Override => ({ key: o.key, value: o.value, source: { file: o.from === 'cli' ? `--sweep ${o.key}` : o.source } });
  return {
    sweepPoint: point.overrides.filter((o) => o.from === 'file').map(toOverride),
    sweeps: point.overrides.filter((o) => o.from === 'cli').map(toOverride),
  };
}

export const sweepsDir = (runsDir: string): string => join(runsDir, '.sweeps');
export const sweepRecordPath = (runsDir: string, id: string): string => join(sweepsDir(runsDir), `${id}.json`);

/** The record's experiment file and working directory as paths here (absolute). */
export function sweepPaths(rec: Pick<SweepRecord, 'schema_version' | 'experiment' | 'cwd'>, runsDir: string): { experiment: string; cwd: string } {
  const at = (p: string) => (isAbsolute(p) ? p : resolve(runsDir, p));
  return { experiment: at(rec.experiment), cwd: at(rec.cwd) };
}

/**
 * Writes the sweep's record, keeping the original creation time when it already exists. `rec`
 * may hold absolute paths (as prepareExperiment makes them); they are stored relative to the
 * runs directory (schema_version 2), and the record as stored is returned.
 */
export function writeSweepRecord(runsDir: string, rec: SweepRecord): SweepRecord {
  let prev: SweepRecord | undefined;
  try {
    prev = readSweepFile<SweepRecord>(sweepRecordPath(runsDir, rec.id));
  } catch {
    // a damaged record of this sweep is rewritten whole (the definition is recomputed from the experiment)
  }
  const abs = sweepPaths(rec, runsDir);
  const rel = (p: string) => relative(resolve(runsDir), p) || '.';
  const out: SweepRecord = { ...rec, schema_version: 2, experiment: rel(abs.experiment), cwd: rel(abs.cwd), created: prev?.created ?? rec.created };
  writeJsonAtomic(sweepRecordPath(runsDir, rec.id), out);
  return out;
}

export function readSweepRecord(runsDir: string, id: string): SweepRecord {
  const file = sweepRecordPath(runsDir, id);
  const rec = readSweepFile<SweepRecord>(file);
  if (!rec) throw new UserError(`no sweep ${id} in ${sweepsDir(runsDir)}: run the sweep once (exp run <experiment> --sweep ...) to define it, or pass the runs directory it was defined in with --runs-dir.`);
  return rec;
}

/** `<sweep id>/<n>` -> its parts. */
export function parsePointRef(ref: string): { id: string; n: number } {
  const m = /^(sw-[0-9a-f]+)\/(\d+)$/.exec(ref.trim());
  if (!m) throw new UserError(`--point ${ref}: expected <sweep id>/<point number>, e.g. --point sw-0123456789ab/3 (the sweep prints its id; points count from 0).`);
  return { id: m[1], n: Number(m[2]) };
}

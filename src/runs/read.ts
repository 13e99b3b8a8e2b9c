// Reading run records: what compare, ensemble, predict, reproduce, resume, ls and show use to find
// and open runs. Every record file is validated when read (read-file.ts; .npy predictions in
// read-predictions.ts, config.yaml in read-config.ts), so a damaged run is a located UserError.
// Run arguments may be directories, quoted globs ("runs/*", which a shell without a match, or a
// Windows shell, passes through unexpanded), or run ids and unique prefixes/substrings of ids in
// the runs directory.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, sep } from 'node:path';
import { UserError } from '../errors.ts';
import { checkRecord, parseJsonText, readJsonLines, readRecordJson, readRecordText, RecordFileError } from './read-file.ts';
import type { CheckpointState, HistoryRecord, MetricsJson, RunJson, RunStatus } from './schemas.ts';

export interface RunView {
  dir: string;
  id: string;
  /** run.json, validated against run.schema.json. */
  run: RunJson;
  /** metrics.json, validated, read on first use; {} when the run has none yet. */
  metrics(): MetricsJson;
  /** history.jsonl rows, validated, read on first use; a torn last line is left out (see notes). */
  history(): HistoryRecord[];
  /** What reading noticed without failing (a torn last history line), for the command to print. */
  readonly notes: string[];
  path(...parts: string[]): string;
}

const ID_PATTERN = /^(\d{8})-(\d{6})-.+-[0-9a-f]{6}$/;

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

const isRunDir = (p: string): boolean => existsSync(join(p, 'run.json'));

/** How to repair each record file; `dir` is the run directory. */
export const FIX = {
  run: (dir: string) => `the run's record is damaged: restore ${dir} from a copy of the run, or delete that directory if the run is not needed`,
  metrics: (dir: string, kind: string = 'train') => kind === 'train'
    ? `delete it and recompute the metrics with \`exp predict ${dir} --split val\` (and --split test for a test split)`
    : `delete it, or re-create the ensemble with \`exp ensemble\` over the same member runs`,
  history: (dir: string) => `restore ${join(dir, 'history.jsonl')} from a copy of the run; deleting the damaged line loses that epoch from compare's learning curves but nothing else`,
  checkpoint: (dir: string) => `the checkpoint is damaged: restore ${dir} from a copy of the run, or start the run again (a resume cannot continue from it)`,
};

/**
 * A checkpoint's state.json (model/last), validated (checkpoint-state.schema.json), with every
 * array it references inside state.bin; undefined when the checkpoint has no state (model/best).
 * The weights themselves are read by the checkpoint loader (train/checkpoint.ts).
 */
export function readCheckpointState(checkpointDir: string): CheckpointState | undefined {
  const file = join(checkpointDir, 'state.json');
  const fix = FIX.checkpoint(checkpointDir);
  const state = readRecordJson<CheckpointState>(file, 'checkpoint-state', fix);
  if (!state) return undefined;
  const bin = join(checkpointDir, 'state.bin');
  let size = 0;
  try {
    size = statSync(bin).size;
  } catch {
    // a state without arrays needs no state.bin
  }
  for (const [i, o] of state.optimizers.entries()) {
    for (const [name, ref] of Object.entries(o.slots)) {
      if (ref.offset + ref.length * 4 > size) {
        throw new RecordFileError(bin, `${size} bytes, but state.json's optimizers[${i}].slots["${name}"] lies at bytes ${ref.offset}..${ref.offset + ref.length * 4}`, fix);
      }
    }
  }
  return state;
}

/**
 * run.json, parsed and validated (schemas/run/run.schema.json). Missing, empty, truncated, not a
 * run record, or of a newer layout: a RecordFileError naming the file.
 */
export function readRunJson(file: string): RunJson {
  const dir = dirname(file);
  const fix = FIX.run(dir);
  const text = readRecordText(file, fix);
  if (text === undefined) {
    throw new UserError(`${dir} is not a run directory: no run.json. Pass a directory under runs/, a run id, or a quoted glob like "runs/*" (see \`exp ls\`).`);
  }
  const value = parseJsonText(text, file, fix) as { schema_version?: unknown } | null;
  if (value && typeof value === 'object' && typeof value.schema_version === 'number' && value.schema_version > 1) {
    throw new RecordFileError(file, `written by a newer exp (record layout ${value.schema_version}; this exp reads layout 1)`, 'upgrade exp to read it');
  }
  return checkRecord<RunJson>(value, 'run', file, fix);
}

/** metrics.json of the run in `dir`, validated; {} when there is none. */
export function readMetricsFile(dir: string, kind?: string): MetricsJson {
  return readRecordJson<MetricsJson>(join(dir, 'metrics.json'), 'metrics', FIX.metrics(dir, kind)) ?? {};
}

/** history.jsonl of the run in `dir`, every row validated; [] when there is none. */
export function readHistoryFile(dir: string): { rows: HistoryRecord[]; note: string | null } {
  return readJsonLines<HistoryRecord>(join(dir, 'history.jsonl'), 'history-row', FIX.history(dir)) ?? { rows: [], note: null };
}

/**
 * A sweep record (runs/.sweeps/<id>.json), validated against sweep.schema.json; undefined when
 * there is none. The type is the sweep module's SweepRecord.
 */
export function readSweepFile<T>(file: string): T | undefined {
  return readRecordJson<T>(file, 'sweep', 'run the sweep again (exp run <experiment> --sweep ... in the same runs directory) to rewrite it');
}

export function readRun(path: string): RunView {
  const dir = basename(path) === 'run.json' && !isDir(path) ? dirname(path) : path;
  const run = readRunJson(join(dir, 'run.json'));
  let metrics: MetricsJson | undefined;
  let history: HistoryRecord[] | undefined;
  const notes: string[] = [];
  return {
    dir,
    id: run.id,
    run,
    notes,
    path: (...parts) => join(dir, ...parts),
    metrics() {
      metrics ??= readMetricsFile(dir, run.kind);
      return metrics;
    },
    history() {
      if (!history) {
        const h = readHistoryFile(dir);
        if (h.note) notes.push(h.note);
        history = h.rows;
      }
      return history;
    },
  };
}

const hasGlob = (s: string): boolean => /[*?]/.test(s);

function segmentRegex(seg: string): RegExp {
  const body = seg.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]');
  return new RegExp(`^${body}$`);
}

/**
 * Shell-style expansion of `*` and `?` within path segments, matching what exists, sorted per
 * segment. As in sh, a wildcard does not match a leading dot unless the pattern segment has one.
 */
export function expandGlob(pattern: string): string[] {
  const segs = pattern.split(sep === '/' ? /\/+/ : /[\\/]+/).filter((s, i) => s !== '' || i === 0);
  let bases: string[] = [isAbsolute(pattern) ? sep : ''];
  if (isAbsolute(pattern)) segs.shift();
  for (const seg of segs) {
    if (!hasGlob(seg)) {
      bases = bases.map((b) => (b === '' ? seg : join(b, seg)));
      continue;
    }
    const re = segmentRegex(seg);
    const next: string[] = [];
    for (const b of bases) {
      const d = b === '' ? '.' : b;
      if (!isDir(d)) continue;
      const names = readdirSync(d).filter((n) => re.test(n) && (!n.startsWith('.') || seg.startsWith('.'))).sort();
      for (const n of names) next.push(b === '' ? n : join(b, n));
    }
    bases = next;
  }
  return bases.filter((b) => b !== '' && existsSync(b));
}

function runIds(runsDir: string): string[] {
  if (!isDir(runsDir)) return [];
  return readdirSync(runsDir).filter((n) => isDir(join(runsDir, n))).sort();
}

function lookupId(arg: string, runsDir: string): string {
  const ids = runIds(runsDir);
  if (ids.includes(arg)) return join(runsDir, arg);
  let hits = ids.filter((id) => id.startsWith(arg));
  if (hits.length === 0) hits = ids.filter((id) => id.includes(arg));
  if (hits.length === 1) return join(runsDir, hits[0]);
  if (hits.length > 1) {
    const shown = hits.slice(0, 10).map((h) => `  ${h}`).join('\n');
    throw new UserError(`"${arg}" matches ${hits.length} runs in ${runsDir}:\n${shown}${hits.length > 10 ? '\n  ...' : ''}\nGive more of the run id, or a quoted glob to mean all of them.`);
  }
  throw new UserError(`No run matches "${arg}": it is not a directory, and no run id in ${runsDir} starts with or contains it. List runs with \`exp ls --runs-dir ${runsDir}\`.`);
}

/**
 * Run directories named by command-line arguments, in argument order without duplicates: paths,
 * quoted globs (only matches holding a run.json count), and run ids or unique parts of ids
 * relative to `runsDir`. A bare glob without a folder ("*focal*") is also tried inside runsDir.
 */
export function resolveRunArgs(args: string[], runsDir: string): string[] {
  const out: string[] = [];
  const add = (p: string) => {
    if (!out.includes(p)) out.push(p);
  };
  for (const arg of args) {
    if (hasGlob(arg)) {
      let hits = expandGlob(arg).filter(isRunDir);
      if (hits.length === 0 && !/[\\/]/.test(arg)) hits = expandGlob(join(runsDir, arg)).filter(isRunDir);
      if (hits.length === 0) throw new UserError(`"${arg}" matches no run directory (a directory holding run.json). List runs with \`exp ls --runs-dir ${runsDir}\`.`);
      hits.forEach(add);
    } else if (isDir(arg)) {
      add(arg);
    } else if (basename(arg) === 'run.json' && existsSync(arg)) {
      add(dirname(arg));
    } else {
      add(lookupId(arg, runsDir));
    }
  }
  return out;
}

export interface RunListing {
  id: string;
  dir: string;
  status: RunStatus | 'unreadable';
  /** ISO start time; from the directory name when run.json cannot be read. */
  started: string | null;
  run: RunJson | null;
  /** Why the record is unreadable, short: "run.json: <what is wrong>". */
  problem?: string;
  /** The same as a whole message: "<path>: <what is wrong>; <how to fix>". */
  error?: string;
}

function startedFromId(id: string): string | null {
  const m = ID_PATTERN.exec(id);
  if (!m) return null;
  const [d, t] = [m[1], m[2]];
  return `${d.slice(0, 4)}-${d.slice(4, 6)}-${d.slice(6, 8)}T${t.slice(0, 2)}:${t.slice(2, 4)}:${t.slice(4, 6)}.000Z`;
}

/**
 * Every run in `runsDir`, oldest first. A run.json that is missing, torn or not a run record is
 * listed with status "unreadable" and the problem, never an exception: ls must work on a runs
 * folder where something crashed. Directories that are not runs (no run.json, no run-id name)
 * are left out.
 */
export function listRuns(runsDir: string): RunListing[] {
  const out: RunListing[] = [];
  for (const id of runIds(runsDir)) {
    const dir = join(runsDir, id);
    const file = join(dir, 'run.json');
    if (!existsSync(file)) {
      if (ID_PATTERN.test(id)) {
        out.push({ id, dir, status: 'unreadable', started: startedFromId(id), run: null, problem: 'no run.json', error: `${file}: missing (the run's directory exists but its record does not); ${FIX.run(dir)}` });
      }
      continue;
    }
    try {
      const run = readRunJson(file);
      out.push({ id, dir, status: run.status, started: run.started, run });
    } catch (err) {
      const e = err as Error;
      const problem = err instanceof RecordFileError ? `run.json: ${err.what}` : `run.json: ${e.message}`;
      out.push({ id, dir, status: 'unreadable', started: startedFromId(id), run: null, problem, error: e.message });
    }
  }
  return out.sort((a, b) => (a.started ?? '').localeCompare(b.started ?? '') || a.id.localeCompare(b.id));
}

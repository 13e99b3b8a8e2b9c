// Reading run records: what compare, ensemble, reproduce, ls and show use to find and open runs.
// Run arguments may be directories, quoted globs ("runs/*", which a shell without a match, or a
// Windows shell, passes through unexpanded), or run ids and unique prefixes/substrings of ids in
// the runs directory.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, sep } from 'node:path';
import { UserError } from '../errors.ts';
import type { HistoryRow, MetricsJson, RunJson, RunStatus } from './schemas.ts';

export interface RunView {
  dir: string;
  id: string;
  run: RunJson;
  /** metrics.json, read on first use; {} when the run has none yet. */
  metrics(): MetricsJson;
  /** history.jsonl rows, read on first use; a torn last line (crash mid-write) is left out. */
  history(): HistoryRow[];
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

export function readRun(path: string): RunView {
  const dir = basename(path) === 'run.json' && !isDir(path) ? dirname(path) : path;
  const file = join(dir, 'run.json');
  if (!existsSync(file)) {
    throw new UserError(`${dir} is not a run directory: no run.json. Pass a directory under runs/, a run id, or a quoted glob like "runs/*" (see \`exp ls\`).`);
  }
  let run: RunJson;
  try {
    run = JSON.parse(readFileSync(file, 'utf8')) as RunJson;
  } catch (err) {
    throw new UserError(`${file} is unreadable (${(err as Error).message}); the run's record is damaged, so it cannot be compared, ensembled or reproduced.`);
  }
  if (!run || typeof run !== 'object' || typeof run.id !== 'string' || typeof run.status !== 'string') {
    throw new UserError(`${file} is not a run record (no id or status); it was not written by exp.`);
  }
  if (typeof run.schema_version === 'number' && run.schema_version > 1) {
    throw new UserError(`${file} was written by a newer exp (record layout ${run.schema_version}); upgrade exp to read it.`);
  }
  let metrics: MetricsJson | undefined;
  let history: HistoryRow[] | undefined;
  return {
    dir,
    id: run.id,
    run,
    path: (...parts) => join(dir, ...parts),
    metrics() {
      if (!metrics) {
        const f = join(dir, 'metrics.json');
        try {
          metrics = existsSync(f) ? (JSON.parse(readFileSync(f, 'utf8')) as MetricsJson) : {};
        } catch (err) {
          throw new UserError(`${f} is unreadable (${(err as Error).message}).`);
        }
      }
      return metrics;
    },
    history() {
      if (!history) history = readHistory(join(dir, 'history.jsonl'));
      return history;
    },
  };
}

function readHistory(file: string): HistoryRow[] {
  if (!existsSync(file)) return [];
  const lines = readFileSync(file, 'utf8').split('\n').filter((l) => l.trim() !== '');
  const rows: HistoryRow[] = [];
  lines.forEach((line, i) => {
    try {
      rows.push(JSON.parse(line) as HistoryRow);
    } catch (err) {
      if (i < lines.length - 1) throw new UserError(`${file}:${i + 1} is not JSON (${(err as Error).message}).`);
      // the last line can be torn by a crash during the append; the epochs before it stand
    }
  });
  return rows;
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
  /** Why the record is unreadable. */
  problem?: string;
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
      if (ID_PATTERN.test(id)) out.push({ id, dir, status: 'unreadable', started: startedFromId(id), run: null, problem: 'no run.json' });
      continue;
    }
    try {
      const run = JSON.parse(readFileSync(file, 'utf8')) as RunJson;
      if (!run || typeof run !== 'object' || typeof run.status !== 'string') throw new Error('not a run record (no status)');
      out.push({ id, dir, status: run.status, started: typeof run.started === 'string' ? run.started : startedFromId(id), run });
    } catch (err) {
      out.push({ id, dir, status: 'unreadable', started: startedFromId(id), run: null, problem: `run.json: ${(err as Error).message}` });
    }
  }
  return out.sort((a, b) => (a.started ?? '').localeCompare(b.started ?? '') || a.id.localeCompare(b.id));
}

// Overrides: `--set a.b.c=value` (value read as YAML), `--sweep` points and the points of a
// `sweep:` block all become Override records, applied in order onto the merged file layer.
// Each override replaces the value at its key (no merging), and its source node replaces the
// file's, so a bad value points at "--set a.b.c" rather than into a file.
import { parse as parseYaml } from 'yaml';
import type { Problem } from '../errors.ts';
import { checkKeyPath, type Seg } from './schema.ts';
import { isMap, nodeAt, formatPath, type Layer, type Origin } from './source.ts';
import { unknownKeyMessage } from '../util/didyoumean.ts';

export interface Override {
  key: string; // dotted, e.g. "train.epochs"; list items by index: "data.levels.0"
  value: unknown;
  source: Origin; // e.g. { file: '--set train.epochs' } or a sweep block's grid entry in a file
}

/** What run.json records: the overrides that were applied, in order. */
export interface AppliedOverride {
  key: string;
  value: unknown;
  source: string;
}

export function splitKey(key: string): Seg[] {
  return key.split('.').map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

export function getAtPath(root: unknown, path: readonly Seg[]): unknown {
  let cur = root;
  for (const seg of path) {
    if (Array.isArray(cur) && /^\d+$/.test(String(seg))) cur = cur[Number(seg)];
    else if (isMap(cur)) cur = cur[String(seg)];
    else return undefined;
  }
  return cur;
}

/**
 * Sets `value` at `path` inside `root` (a map), creating maps (or lists, for numeric segments) on
 * the way. Returns an error message instead of throwing when the path cannot be set.
 */
export function setAtPath(root: Record<string, unknown>, path: readonly Seg[], value: unknown): string | undefined {
  if (path.length === 0) return 'empty key';
  let cur: Record<string, unknown> | unknown[] = root;
  for (let i = 0; i < path.length; i++) {
    const seg = path[i];
    const last = i === path.length - 1;
    let slot: string | number;
    if (Array.isArray(cur)) {
      if (!/^\d+$/.test(String(seg))) return `'${formatPath(path.slice(0, i))}' is a list; use an index, not '${seg}'`;
      slot = Number(seg);
      if (slot > cur.length) return `index ${slot} is past the end of '${formatPath(path.slice(0, i))}' (length ${cur.length})`;
    } else {
      slot = String(seg);
    }
    const container = cur as Record<string | number, unknown>;
    if (last) {
      container[slot] = value;
      break;
    }
    const next = container[slot];
    if (!isMap(next) && !Array.isArray(next)) container[slot] = /^\d+$/.test(String(path[i + 1])) ? [] : {};
    cur = container[slot] as Record<string, unknown> | unknown[];
  }
  return undefined;
}

/** Parses one `key=value` argument; the value is read as YAML (`3` a number, `false` a boolean). */
export function parseSetArg(arg: string, flag = '--set'): { override?: Override; problems: Problem[] } {
  const eq = arg.indexOf('=');
  const key = eq < 0 ? arg.trim() : arg.slice(0, eq).trim();
  const source: Origin = { file: `${flag} ${key || arg}` };
  if (eq < 0 || !key) {
    return { problems: [{ file: source.file, message: `expected ${flag} key=value, e.g. ${flag} train.epochs=3`, severity: 'error' }] };
  }
  if (!/^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$/.test(key)) {
    return { problems: [{ file: source.file, message: `'${key}' is not a dotted key like train.epochs`, severity: 'error' }] };
  }
  const text = arg.slice(eq + 1);
  try {
    const value: unknown = parseYaml(text, { prettyErrors: false });
    return { override: { key, value: value ?? null, source }, problems: [] };
  } catch (e) {
    const first = (e as Error).message.split('\n')[0];
    return {
      problems: [{ file: source.file, path: key, message: `cannot read value '${text}' as YAML: ${first}; quote it, e.g. ${flag} '${key}="..."'`, severity: 'error' }],
    };
  }
}

export function originLabel(o: Origin): string {
  return o.line ? `${o.file}:${o.line}:${o.col ?? 1}` : o.file;
}

/**
 * Applies overrides in order (last wins) onto a layer, in place. Unknown keys are problems with a
 * "did you mean" and are skipped; the rest are applied and recorded.
 */
export function applyOverrides(layer: Layer, overrides: readonly Override[]): { layer: Layer; applied: AppliedOverride[]; problems: Problem[] } {
  const applied: AppliedOverride[] = [];
  const problems: Problem[] = [];
  if (!isMap(layer.value)) layer.value = {};
  const root = layer.value as Record<string, unknown>;
  for (const o of overrides) {
    const path = splitKey(o.key);
    const at = { file: o.source.file, line: o.source.line, col: o.source.col, severity: 'error' as const };
    const check = checkKeyPath(path);
    if (!check.ok) {
      const bad = String(path[check.index]);
      const where = check.index > 0 ? ` under '${formatPath(path.slice(0, check.index))}'` : '';
      problems.push({ ...at, path: o.key, message: `${unknownKeyMessage(bad, check.allowed)} (in '${o.key}'${where})` });
      continue;
    }
    const value = structuredClone(o.value);
    const err = setAtPath(root, path, value);
    if (err) {
      problems.push({ ...at, path: o.key, message: err });
      continue;
    }
    const node = nodeAt(layer.source, path);
    node.key = o.source;
    node.value = o.source;
    node.children = undefined;
    applied.push({ key: o.key, value, source: originLabel(o.source) });
  }
  return { layer, applied, problems };
}

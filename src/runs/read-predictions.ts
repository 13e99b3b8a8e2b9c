// Reading a saved prediction set (predictions/<split>/tta<N>/ of a run): the one implementation
// that compare, ensemble and the submission stage use. index.json is validated against its schema
// and against itself (one id per row, ids unique, labels within the classes), and the .npy headers
// beside it are checked against it (dtype, rows = index.json's ids, columns = the level's classes,
// file length) before anything reads a score, so a damaged or mixed-up set is a RecordFileError
// naming the file, never a wrong number or an exception deep in the arithmetic.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { join, relative } from 'node:path';
import { UserError } from '../errors.ts';
import { NpyReader, parseNpyHeader, type NpyDtype, type NpyHeader } from '../eval/npy.ts';
import { checkRecord, parseJsonText, readRecordText, RecordFileError } from './read-file.ts';
import type { RunView } from './read.ts';
import type { PredictionIndex, PredictionRecord } from './schemas.ts';

const TOPK = 5;

export interface PredictionSet {
  /** The run directory it belongs to. */
  runDir: string;
  /** predictions/<split>/tta<N> inside it. */
  dir: string;
  split: string;
  tta: number;
  /** index.json, validated. */
  index: PredictionIndex;
  /** How to re-create the set (the end of every error about it). */
  fix: string;
}

/** How to re-create a run's prediction set. */
export function predictionsFix(runDir: string, kind: string, split: string, tta: number): string {
  return kind === 'train'
    ? `re-create the predictions with \`exp predict ${runDir} --split ${split} --tta ${tta}\``
    : `re-create the ensemble with \`exp ensemble\` over the same member runs (this one is an ensemble run: ${runDir})`;
}

/**
 * run.json's entry for `split`: the one with `tta` when given, else the default; with
 * `fallback`, else the largest TTA count (compare pairs whatever a run has).
 */
export function findPredictions(view: RunView, split: string, opts: { tta?: number; fallback?: boolean } = {}): PredictionRecord | undefined {
  const recs = view.run.predictions.filter((p) => p.split === split);
  const withTta = opts.tta === undefined ? undefined : recs.find((p) => p.tta === opts.tta);
  if (opts.tta !== undefined && !opts.fallback) return withTta;
  return withTta ?? recs.find((p) => p.default) ?? (opts.fallback ? [...recs].sort((a, b) => b.tta - a.tta)[0] : undefined);
}

interface HeaderInfo extends NpyHeader {
  bytes: number;
}

/** A .npy file's header, read synchronously (a few hundred bytes), checked for truncation. */
function npyHeader(file: string, fix: string): HeaderInfo {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new RecordFileError(file, code === 'ENOENT' ? 'missing, though index.json beside it lists this level' : `cannot be opened (${(e as Error).message})`, fix);
  }
  try {
    const st = fstatSync(fd);
    if (st.isDirectory()) throw new RecordFileError(file, 'this is a directory, where exp expects a .npy file', fix);
    const pre = new Uint8Array(Math.min(st.size, 65536 + 12));
    readSync(fd, pre, 0, pre.length, 0);
    let header: NpyHeader;
    try {
      header = parseNpyHeader(pre, file);
    } catch (e) {
      if (!(e instanceof UserError)) throw e;
      const why = /is not a \.npy file exp can read: (.*?)\. exp reads/.exec(e.message)?.[1] ?? e.message;
      throw new RecordFileError(file, `not a .npy file exp can read: ${why}`, fix);
    }
    const cols = header.shape.length === 2 ? header.shape[1] : 1;
    const need = header.dataOffset + header.shape[0] * cols * (header.dtype === 'float16' ? 2 : 4);
    if (st.size < need) throw new RecordFileError(file, `truncated: its header promises shape (${header.shape.join(', ')}), ${need} bytes, but the file has ${st.size}`, fix);
    return { ...header, bytes: st.size };
  } finally {
    closeSync(fd);
  }
}

function checkArray(file: string, h: HeaderInfo, dtype: NpyDtype, rows: number, cols: number, index: string, fix: string): void {
  if (h.dtype !== dtype) throw new RecordFileError(file, `holds ${h.dtype} values, but ${index} says ${dtype}`, fix);
  const shape = h.shape.length === 2 ? h.shape : [h.shape[0], 1];
  if (h.shape.length !== 2 && cols !== 1) throw new RecordFileError(file, `is 1-D (shape (${h.shape.join(',')})), but a score array has one row per example and one column per class`, fix);
  if (shape[0] !== rows) throw new RecordFileError(file, `has ${shape[0]} rows, but ${index} lists ${rows} ids (one row per id): the arrays and the index come from different predictions`, fix);
  if (shape[1] !== cols) throw new RecordFileError(file, `has ${shape[1]} columns, but ${index} implies ${cols}`, fix);
}

/** index.json's consistency with itself: what the schema cannot say. */
function checkIndex(index: PredictionIndex, file: string, fix: string, expect: { split?: string; tta?: number }): void {
  const bad = (what: string): never => {
    throw new RecordFileError(file, what, fix);
  };
  if (expect.split !== undefined && index.split !== expect.split) bad(`says split "${index.split}", but it lies in the ${expect.split} predictions (a file copied from another set?)`);
  if (expect.tta !== undefined && index.tta !== expect.tta) bad(`says tta ${index.tta}, but run.json lists this set as tta${expect.tta}`);
  if (index.ids.length !== index.rows) bad(`lists ${index.ids.length} ids but "rows" is ${index.rows}`);
  const seen = new Set<string>();
  for (const id of index.ids) {
    const key = String(id);
    if (seen.has(key)) bad(`lists the id ${JSON.stringify(id)} twice; each row is one example`);
    seen.add(key);
  }
  if (new Set(index.levels).size !== index.levels.length) bad(`lists a level twice in "levels" (${index.levels.join(', ')})`);
  for (const level of index.levels) {
    const classes = index.classes[level];
    if (!classes || classes.length === 0) bad(`has no classes for the level "${level}" that "levels" lists`);
    if (!(level in index.labels)) bad(`has no "labels" entry for the level "${level}" (null when the split has no labels)`);
    const labels = index.labels[level];
    if (labels === null) continue;
    if (labels.length !== index.rows) bad(`has ${labels.length} ${level} labels for ${index.rows} rows`);
    const C = classes.length;
    const i = labels.findIndex((l) => l >= C);
    if (i >= 0) bad(`gives row ${i} the ${level} label ${labels[i]}, but there are only ${C} ${level} classes`);
  }
}

/**
 * Reads the set in `dir` (predictions/<split>/tta<N> of the run in `runDir`): index.json
 * validated, and for every level its <level>.top5.npy header checked (with `scores`, its
 * <level>.npy too). A missing index.json is a RecordFileError; the caller decides whether a set it
 * looked for and did not find in run.json is an error.
 */
export function readPredictionDir(dir: string, o: { runDir: string; fix: string; split?: string; tta?: number; scores?: boolean; levels?: string[] }): PredictionSet {
  const file = join(dir, 'index.json');
  const text = readRecordText(file, o.fix);
  if (text === undefined) throw new RecordFileError(file, 'missing, though run.json lists these predictions', o.fix);
  const index = checkRecord<PredictionIndex>(parseJsonText(text, file, o.fix), 'index', file, o.fix);
  checkIndex(index, file, o.fix, { split: o.split, tta: o.tta });
  const rel = relative(dir, file);
  for (const level of o.levels ?? index.levels) {
    if (!index.levels.includes(level)) continue;
    const C = index.classes[level].length;
    const top = join(dir, `${level}.top5.npy`);
    checkArray(top, npyHeader(top, o.fix), 'int32', index.rows, Math.min(TOPK, C), rel, o.fix);
    if (o.scores) {
      const f = join(dir, `${level}.npy`);
      checkArray(f, npyHeader(f, o.fix), index.dtype, index.rows, C, rel, o.fix);
    }
  }
  return { runDir: o.runDir, dir, split: index.split, tta: index.tta, index, fix: o.fix };
}

/** The set run.json lists as `rec`, read and checked as readPredictionDir does. */
export function readPredictionSet(view: RunView, rec: PredictionRecord, o: { scores?: boolean; levels?: string[] } = {}): PredictionSet {
  const dir = join(view.dir, rec.path || join('predictions', rec.split, `tta${rec.tta}`));
  const fix = predictionsFix(view.dir, view.run.kind, rec.split, rec.tta);
  return readPredictionDir(dir, { runDir: view.dir, fix, split: rec.split, tta: rec.tta, ...o });
}

/** The whole <level>.top5.npy (rows x k class columns), every column index checked. */
export async function readTopK(set: PredictionSet, level: string): Promise<{ k: number; top: Int32Array }> {
  const file = join(set.dir, `${level}.top5.npy`);
  const C = set.index.classes[level].length;
  const r = await NpyReader.open(file);
  try {
    checkArray(file, { ...r.header, bytes: r.fileBytes }, 'int32', set.index.rows, Math.min(TOPK, C), 'index.json', set.fix);
    const top = (await r.readRows(0, r.rows)) as Int32Array;
    const bad = top.findIndex((c) => c < 0 || c >= C);
    if (bad >= 0) throw new RecordFileError(file, `row ${Math.floor(bad / r.cols)} names class column ${top[bad]}, outside the ${C} ${level} classes`, set.fix);
    return { k: r.cols, top };
  } finally {
    await r.close();
  }
}

/** Top-1 class column per row at `level` (the target level, finest, by default). */
export async function readTop1(set: PredictionSet, level: string = set.index.levels[0]): Promise<Int32Array> {
  const { k, top } = await readTopK(set, level);
  return Int32Array.from({ length: set.index.rows }, (_x, i) => top[i * k]);
}

/** A reader over <level>.npy, its dtype and shape checked against index.json. */
export async function openScores(set: PredictionSet, level: string): Promise<NpyReader> {
  const file = join(set.dir, `${level}.npy`);
  const r = await NpyReader.open(file);
  try {
    checkArray(file, { ...r.header, bytes: r.fileBytes }, set.index.dtype, set.index.rows, set.index.classes[level].length, 'index.json', set.fix);
  } catch (e) {
    await r.close();
    throw e;
  }
  return r;
}

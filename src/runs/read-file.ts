// Reading one record file of a run directory, validated. Run directories are copied, edited,
// truncated and shared, so every file is checked against its schema (schemas/run/) when read, and
// anything wrong with it (absent where required, empty, truncated, not JSON, wrong types, a
// directory where a file belongs, unreadable) is a RecordFileError: one paragraph
// "<path>: <what is wrong>; <how to fix>", exit 2, never an exception from deep inside a command.
import { readFileSync, statSync } from 'node:fs';
import type { ErrorObject } from 'ajv';
import { UserError } from '../errors.ts';
import { validator, type RunSchemaName } from './schemas.ts';

/** A run-record file that cannot be used: names the file, what is wrong with it and what to do. */
export class RecordFileError extends UserError {
  constructor(readonly file: string, readonly what: string, readonly fix: string) {
    super(`${file}: ${what}; ${fix}`);
  }
}

const errno = (e: unknown): string | undefined => (e as NodeJS.ErrnoException)?.code;

/**
 * The file's text, or undefined when it does not exist. A directory in its place, a file that
 * cannot be read, or an empty file (what a crash or a full disk leaves) is a RecordFileError.
 */
export function readRecordText(file: string, fix: string, opts: { allowEmpty?: boolean } = {}): string | undefined {
  let text: string;
  try {
    if (statSync(file).isDirectory()) throw new RecordFileError(file, 'this is a directory, where exp expects a file', fix);
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if (e instanceof RecordFileError) throw e;
    const code = errno(e);
    if (code === 'ENOENT') return undefined;
    if (code === 'EACCES' || code === 'EPERM') throw new RecordFileError(file, 'permission denied when reading it', `make it readable (chmod u+r ${file}) or run exp as a user who may read it`);
    throw new RecordFileError(file, `cannot be read (${(e as Error).message})`, fix);
  }
  if (!opts.allowEmpty && text.trim() === '') throw new RecordFileError(file, `the file is empty (${text.length} bytes), as a crash or a full disk can leave it`, fix);
  return text;
}

/** 1-based line and column of a character offset. */
function lineCol(text: string, pos: number): { line: number; col: number } {
  const before = text.slice(0, pos);
  const line = before.split('\n').length;
  return { line, col: pos - before.lastIndexOf('\n') };
}

/** JSON.parse with a located message: line and column, and whether the text just ends early. */
export function parseJsonText(text: string, file: string, fix: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    const msg = (e as Error).message;
    const pos = /at position (\d+)/.exec(msg);
    // an error at the very end of the text: what was there is fine, the rest is missing
    if (/Unexpected end of JSON input|Unterminated string/.test(msg) || (pos && Number(pos[1]) >= text.trimEnd().length)) {
      throw new RecordFileError(file, `the JSON ends early after ${text.length} bytes: the file is truncated`, fix);
    }
    const where = pos ? (({ line, col }) => ` at line ${line}, column ${col}`)(lineCol(text, Number(pos[1]))) : '';
    const why = msg.replace(/^JSON\.parse: /, '').replace(/ in JSON at position \d+.*$/, '').replace(/ \(line \d+ column \d+\)$/, '');
    throw new RecordFileError(file, `not valid JSON${where} (${why})`, fix);
  }
}

/** JSON pointer -> `a.b[0].c`, the way users read paths. */
function dotted(pointer: string): string {
  const parts = pointer.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  return parts.reduce((s, p) => (/^\d+$/.test(p) ? `${s}[${p}]` : /^[A-Za-z_][\w-]*$/.test(p) ? (s ? `${s}.${p}` : p) : `${s}[${JSON.stringify(p)}]`), '');
}

function valueAt(root: unknown, pointer: string): unknown {
  let v = root;
  for (const p of pointer.split('/').slice(1)) v = v && typeof v === 'object' ? (v as Record<string, unknown>)[p.replace(/~1/g, '/').replace(/~0/g, '~')] : undefined;
  return v;
}

function shown(v: unknown): string {
  const s = JSON.stringify(v);
  if (s === undefined) return String(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/**
 * The schema errors as one phrase about the deepest problem. ajv reports an anyOf as each
 * branch's failure plus a summary; "must be object or null (got 5)" says it in one.
 */
export function describeSchemaErrors(errors: ErrorObject[], value: unknown): string {
  let real = errors.filter((e) => e.keyword !== 'anyOf' && e.keyword !== 'if' && e.keyword !== 'oneOf');
  if (!real.length) return errors[0]?.message ?? 'it does not match its schema';
  // A failed if/then ("error must be null" because status is not failed) follows from another
  // field; a plain error about a field says what is actually wrong, when there is one.
  const plain = real.filter((e) => !/\/(then|else)\//.test(e.schemaPath));
  if (plain.length) real = plain;
  const depth = (e: ErrorObject) => (e.instancePath.match(/\//g) ?? []).length;
  const deepest = Math.max(...real.map(depth));
  const at = real.filter((e) => depth(e) === deepest);
  // "must match format date-time" says more than the pattern that goes with it
  const e = at.find((x) => x.keyword === 'format') ?? at[0];
  const where = dotted(e.instancePath);
  const got = ` (got ${shown(valueAt(value, e.instancePath))})`;
  const types = at.filter((x) => x.keyword === 'type' && x.instancePath === e.instancePath).map((x) => String((x.params as { type: string }).type));
  const subject = where ? `"${where}"` : 'the top level';
  if (types.length > 1 || (types.length === 1 && at.length === 1)) return `${subject} must be ${[...new Set(types.flatMap((t) => t.split(',')))].join(' or ')}${got}`;
  switch (e.keyword) {
    case 'required':
      return `${where ? `"${where}"` : 'the record'} lacks the required key "${(e.params as { missingProperty: string }).missingProperty}"`;
    case 'additionalProperties':
      return `${where ? `"${where}"` : 'the record'} has the key "${(e.params as { additionalProperty: string }).additionalProperty}", which exp never writes there`;
    case 'enum':
      return `${subject} must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map((x) => JSON.stringify(x)).join(', ')}${got}`;
    case 'format':
      return `${subject} must be a ${(e.params as { format: string }).format}${(e.params as { format: string }).format === 'date-time' ? ' in UTC such as 2024-05-01T12:00:00.000Z' : ''}${got}`;
    case 'const':
      return `${subject} must be ${JSON.stringify((e.params as { allowedValue: unknown }).allowedValue)}${got}`;
    default:
      return `${subject} ${e.message ?? 'is not valid'}${got}`;
  }
}

/** Checks `value` against the schema; a RecordFileError naming the first problem otherwise. */
export function checkRecord<T>(value: unknown, schema: RunSchemaName, file: string, fix: string, what = ''): T {
  const v = validator(schema);
  if (!v(value)) throw new RecordFileError(file, `${what}${describeSchemaErrors(v.errors ?? [], value)}`, fix);
  return value as T;
}

/** A JSON record file, parsed and validated; undefined when it does not exist. */
export function readRecordJson<T>(file: string, schema: RunSchemaName, fix: string): T | undefined {
  const text = readRecordText(file, fix);
  if (text === undefined) return undefined;
  return checkRecord<T>(parseJsonText(text, file, fix), schema, file, fix);
}

export interface JsonLines<T> {
  rows: T[];
  /** Set when the last line was torn and left out. */
  note: string | null;
}

/**
 * A JSON Lines file (history.jsonl), every row validated. The rule for a bad line: the LAST line
 * without its newline is what a process killed mid-append leaves, so it is dropped with a note
 * (the rows before it stand); any other bad line means the file was damaged, and is an error
 * naming file:line.
 */
export function readJsonLines<T>(file: string, schema: RunSchemaName, fix: string): JsonLines<T> | undefined {
  const text = readRecordText(file, fix, { allowEmpty: true });
  if (text === undefined) return undefined;
  const lines = text.split('\n');
  const rows: T[] = [];
  let note: string | null = null;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line.trim() === '') continue;
    const at = `${file}:${i + 1}`;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (e) {
      const torn = i === lines.length - 1; // no newline after it: the append did not finish
      if (torn) {
        note = `${at}: the last line is incomplete (a run stopped while writing it) and was left out`;
        break;
      }
      throw new RecordFileError(at, `line ${i + 1} is not valid JSON (${(e as Error).message.replace(/ in JSON at position \d+.*$/, '')}), and it is not the last line, so the file was damaged`, fix);
    }
    rows.push(checkRecord<T>(value, schema, at, fix, `line ${i + 1}: `));
  }
  return { rows, note };
}

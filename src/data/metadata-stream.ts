// Reads a dataset's JSON metadata file, whatever its size and encoding.
//
// Encoding: the real Herbarium 2020 metadata.json is not valid UTF-8 (author names in latin-1).
// A file is decoded as UTF-8 when every byte of it is valid UTF-8, otherwise as latin-1 (which
// maps every byte to one character, so nothing is lost and valid UTF-8 files are never mangled).
//
// Size: Herbarium 2021's train metadata (2.5M images) is larger than the longest string V8 can
// hold (about 512 MB), so JSON.parse cannot read it. Files above `streamThresholdBytes` are
// parsed as a stream by a small reader for the known shape (a top-level object whose values are
// mostly arrays of flat objects, or a top-level array): it parses one array element at a time
// from a byte buffer, so memory holds the parsed elements and one chunk, never the whole text.
// Below the threshold JSON.parse (native, fastest) is used. Both give the same values.
import { open, readFile, stat } from 'node:fs/promises';
import { isUtf8 } from 'node:buffer';
import { UserError } from '../errors.ts';

/** Files larger than this are parsed as a stream (JSON.parse needs the file as one string). */
export const DEFAULT_STREAM_THRESHOLD = 256 * 1024 * 1024;
const CHUNK = 4 * 1024 * 1024;

/** A top-level array is returned under this key. */
export const ROOT_ARRAY_KEY = '$';

export interface ReadMetadataOptions {
  /** Top-level keys to keep (default: all). Others are parsed and dropped. */
  keys?: string[];
  /**
   * Per top-level key, the fields to keep of each array element. A memory hint: the streaming
   * path drops other fields as it parses; the JSON.parse path keeps them.
   */
  fields?: Record<string, string[]>;
  /** Default DEFAULT_STREAM_THRESHOLD; tests lower it to exercise the streaming path. */
  streamThresholdBytes?: number;
  /** Read size of the streaming path (default 4 MiB); tests use tiny chunks to split every token. */
  chunkBytes?: number;
  /** Called with bytes read so far and the file size. */
  onBytes?: (done: number, total: number) => void;
}

export interface MetadataDoc {
  /** Top-level values by key (a top-level array under ROOT_ARRAY_KEY). */
  data: Record<string, unknown>;
  /** Every top-level key in the file, kept or not, in file order. */
  keys: string[];
  encoding: 'utf-8' | 'latin1';
  streamed: boolean;
  bytes: number;
}

export async function readMetadata(path: string, opts: ReadMetadataOptions = {}): Promise<MetadataDoc> {
  const bytes = (await stat(path)).size;
  const threshold = opts.streamThresholdBytes ?? DEFAULT_STREAM_THRESHOLD;
  if (bytes > threshold) {
    // One validating pass first (native, about a second per GB from the page cache), so the
    // parse decodes every string right the first time.
    return await streamParse(path, bytes, !(await fileIsUtf8(path, opts.chunkBytes ?? CHUNK)), opts);
  }
  const buf = await readFile(path);
  opts.onBytes?.(bytes, bytes);
  const { text, encoding } = decodeText(buf);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new UserError(`${path} is not valid JSON (${(e as Error).message}). Re-download the metadata file; it may be truncated.`);
  }
  return { ...shapeDoc(path, value, opts.keys), encoding, streamed: false, bytes };
}

/** UTF-8 when the bytes are valid UTF-8, otherwise latin-1. A UTF-8 byte-order mark is dropped. */
export function decodeText(buf: Uint8Array): { text: string; encoding: 'utf-8' | 'latin1' } {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  // isUtf8 is the validation TextDecoder's `fatal` mode performs, without building a string
  // (a failed fatal decode of a 200 MB file would decode most of it for nothing).
  if (isUtf8(b)) {
    const bom = b.length >= 3 && b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf ? 3 : 0;
    return { text: b.toString('utf8', bom), encoding: 'utf-8' };
  }
  return { text: b.toString('latin1'), encoding: 'latin1' };
}

function shapeDoc(path: string, value: unknown, keep?: string[]): { data: Record<string, unknown>; keys: string[] } {
  if (Array.isArray(value)) return { data: { [ROOT_ARRAY_KEY]: value }, keys: [ROOT_ARRAY_KEY] };
  if (!value || typeof value !== 'object') {
    throw new UserError(`${path} holds a JSON ${value === null ? 'null' : typeof value}, not an object with images and annotations. Check that this is the dataset's metadata file.`);
  }
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj);
  if (!keep) return { data: obj, keys };
  const data: Record<string, unknown> = {};
  for (const k of keep) if (k in obj) data[k] = obj[k];
  return { data, keys };
}

/** Whether the whole file is valid UTF-8, read in chunks (a character may span two chunks). */
export async function fileIsUtf8(path: string, chunkBytes = CHUNK): Promise<boolean> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(Math.max(chunkBytes, 8));
    let carry = 0;
    let pos = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, carry, buf.length - carry, pos);
      pos += bytesRead;
      const end = carry + bytesRead;
      if (bytesRead === 0) return isUtf8(buf.subarray(0, end));
      // Cut before the last character start among the final 4 bytes; it may be incomplete.
      let cut = end;
      for (let i = end - 1; i >= Math.max(0, end - 4); i--) {
        if ((buf[i] & 0xc0) !== 0x80) { cut = i; break; }
      }
      if (!isUtf8(buf.subarray(0, cut))) return false;
      buf.copy(buf, 0, cut, end);
      carry = end - cut;
    }
  } finally {
    await fh.close();
  }
}

class NeedMore extends Error {}
const NEED_MORE = new NeedMore('need more input');

/** The streaming reader: a byte-level recursive-descent parser over a refillable buffer. */
class Parser {
  buf: Buffer = Buffer.alloc(0);
  pos = 0;
  end = 0;
  base = 0; // file offset of buf[0], for error messages
  final = false;

  constructor(readonly path: string, readonly latin1: boolean) {}

  fail(what: string): never {
    throw new UserError(`${this.path} is not valid JSON: ${what} at byte ${this.base + this.pos}. Re-download the metadata file; it may be truncated or damaged.`);
  }

  /** Skip whitespace and return the next byte without consuming it. */
  peek(): number {
    const b = this.buf;
    let p = this.pos;
    while (p < this.end) {
      const c = b[p];
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) p++;
      else { this.pos = p; return c; }
    }
    this.pos = p;
    if (!this.final) throw NEED_MORE;
    return -1;
  }

  expect(c: number, what: string): void {
    if (this.peek() !== c) this.fail(`expected ${what}`);
    this.pos++;
  }

  value(fields: Set<string> | null): unknown {
    const c = this.peek();
    if (c === 0x22) return this.string();
    if (c === 0x7b) return this.object(fields);
    if (c === 0x5b) return this.array();
    if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return this.number();
    if (c === 0x74) return this.literal('true', true);
    if (c === 0x66) return this.literal('false', false);
    if (c === 0x6e) return this.literal('null', null);
    return this.fail(c < 0 ? 'unexpected end of file' : `unexpected '${String.fromCharCode(c)}'`);
  }

  object(fields: Set<string> | null): Record<string, unknown> {
    this.pos++; // {
    const out: Record<string, unknown> = {};
    if (this.peek() === 0x7d) { this.pos++; return out; }
    for (;;) {
      if (this.peek() !== 0x22) this.fail('expected a key');
      const key = this.string();
      this.expect(0x3a, "':'");
      const v = this.value(null);
      if (!fields || fields.has(key)) out[key] = v;
      const c = this.peek();
      this.pos++;
      if (c === 0x7d) return out;
      if (c !== 0x2c) { this.pos--; this.fail("expected ',' or '}'"); }
    }
  }

  array(): unknown[] {
    this.pos++; // [
    const out: unknown[] = [];
    if (this.peek() === 0x5d) { this.pos++; return out; }
    for (;;) {
      out.push(this.value(null));
      const c = this.peek();
      this.pos++;
      if (c === 0x5d) return out;
      if (c !== 0x2c) { this.pos--; this.fail("expected ',' or ']'"); }
    }
  }

  string(): string {
    const b = this.buf;
    const start = this.pos + 1;
    let p = start;
    let escaped = false;
    let high = false;
    for (;;) {
      if (p >= this.end) { if (this.final) this.fail('unterminated string'); throw NEED_MORE; }
      const c = b[p];
      if (c === 0x22) break;
      if (c === 0x5c) { escaped = true; p += 2; continue; }
      if (c >= 0x80) high = true;
      p++;
    }
    this.pos = p + 1;
    let s: string;
    if (!high || this.latin1) s = b.toString('latin1', start, p);
    else s = b.toString('utf8', start, p);
    if (escaped) {
      try { s = JSON.parse(`"${s}"`) as string; } catch { this.pos = start; this.fail('invalid string escape'); }
    }
    return s;
  }

  number(): number {
    const b = this.buf;
    const start = this.pos;
    let p = start;
    let int = true;
    while (p < this.end) {
      const c = b[p];
      if (c >= 0x30 && c <= 0x39) { p++; continue; }
      if (c === 0x2d && p === start) { p++; continue; }
      if (c === 0x2e || c === 0x65 || c === 0x45 || c === 0x2b || c === 0x2d) { int = false; p++; continue; }
      break;
    }
    if (p >= this.end && !this.final) throw NEED_MORE; // the number may continue in the next chunk
    let v: number;
    if (int && p - start <= 15 && p - start > (b[start] === 0x2d ? 1 : 0)) {
      v = 0;
      for (let i = b[start] === 0x2d ? start + 1 : start; i < p; i++) v = v * 10 + (b[i] - 0x30);
      if (b[start] === 0x2d) v = -v;
    } else {
      v = Number(b.toString('latin1', start, p));
      if (Number.isNaN(v)) this.fail('invalid number');
    }
    this.pos = p;
    return v;
  }

  literal<T>(word: string, v: T): T {
    if (this.pos + word.length > this.end) { if (this.final) this.fail('unexpected end of file'); throw NEED_MORE; }
    if (this.buf.toString('latin1', this.pos, this.pos + word.length) !== word) this.fail('invalid literal');
    this.pos += word.length;
    return v;
  }
}

type State = 'start' | 'key' | 'afterValue' | 'arrayFirst' | 'element' | 'done';

async function streamParse(path: string, bytes: number, latin1: boolean, opts: ReadMetadataOptions): Promise<MetadataDoc> {
  const p = new Parser(path, latin1);
  const keep = opts.keys ? new Set(opts.keys) : null;
  const fieldSets = new Map(Object.entries(opts.fields ?? {}).map(([k, f]) => [k, new Set(f)]));
  const data: Record<string, unknown> = {};
  const keys: string[] = [];
  let state: State = 'start';
  let topArray = false;
  let arr: unknown[] | null = null; // the array being filled (null: parse and drop)
  let arrFields: Set<string> | null = null;
  let arrKey = '';
  const fh = await open(path, 'r');
  let read = 0;
  try {
    for (;;) {
      try {
        // Each step either completes or throws NEED_MORE before changing any state but p.pos,
        // which is restored to the step's start; the step is retried after a refill.
        for (;;) {
          const mark = p.pos;
          try {
            if (state === 'start') {
              if (p.base + p.pos === 0) { // a UTF-8 byte-order mark
                if (p.end < 3 && !p.final) throw NEED_MORE;
                if (p.buf[0] === 0xef && p.buf[1] === 0xbb && p.buf[2] === 0xbf) p.pos = 3;
              }
              const c = p.peek();
              if (c === 0x5b) {
                p.pos++;
                topArray = true;
                arrKey = ROOT_ARRAY_KEY;
                keys.push(arrKey);
                arr = keep && !keep.has(arrKey) ? null : (data[arrKey] = []);
                arrFields = fieldSets.get(arrKey) ?? null;
                state = 'arrayFirst';
              } else if (c === 0x7b) {
                p.pos++;
                state = p.peek() === 0x7d ? (p.pos++, 'done') : 'key';
              } else p.fail('expected an object or array');
            } else if (state === 'key') {
              if (p.peek() !== 0x22) p.fail('expected a key');
              const key = p.string();
              p.expect(0x3a, "':'");
              if (p.peek() === 0x5b) {
                p.pos++;
                keys.push(key);
                arrKey = key;
                arr = keep && !keep.has(key) ? null : (data[key] = []);
                arrFields = fieldSets.get(key) ?? null;
                state = 'arrayFirst';
              } else {
                const v = p.value(null); // small values (info, a license) are parsed whole
                keys.push(key);
                if (!keep || keep.has(key)) data[key] = v;
                state = 'afterValue';
              }
            } else if (state === 'afterValue') {
              const c = p.peek();
              p.pos++;
              if (c === 0x2c) state = 'key';
              else if (c === 0x7d) state = 'done';
              else { p.pos--; p.fail("expected ',' or '}'"); }
            } else if (state === 'arrayFirst') {
              if (p.peek() === 0x5d) { p.pos++; state = topArray ? 'done' : 'afterValue'; } else state = 'element';
            } else if (state === 'element') {
              const v = p.value(arrFields);
              const c = p.peek(); // the separator must be there too before the element counts
              if (c !== 0x2c && c !== 0x5d) p.fail("expected ',' or ']'");
              p.pos++;
              if (arr) arr.push(v);
              if (c === 0x5d) state = topArray ? 'done' : 'afterValue';
            } else {
              if (p.peek() !== -1) p.fail('unexpected data after the end');
              return { data, keys, encoding: latin1 ? 'latin1' : 'utf-8', streamed: true, bytes };
            }
          } catch (e) {
            if (e === NEED_MORE) p.pos = mark;
            throw e;
          }
        }
      } catch (e) {
        if (e !== NEED_MORE) throw e;
      }
      // Refill: keep the unconsumed tail, append the next chunk (growing when one value is larger).
      const tail = p.end - p.pos;
      const size = Math.max(opts.chunkBytes ?? CHUNK, tail * 2);
      const next = p.buf.length >= size && p.pos > 0 ? p.buf : Buffer.allocUnsafe(size);
      p.buf.copy(next, 0, p.pos, p.end);
      const { bytesRead } = await fh.read(next, tail, next.length - tail, read);
      read += bytesRead;
      p.base += p.pos;
      p.buf = next;
      p.pos = 0;
      p.end = tail + bytesRead;
      if (bytesRead === 0) p.final = true;
      opts.onBytes?.(read, bytes);
    }
  } finally {
    await fh.close();
  }
}

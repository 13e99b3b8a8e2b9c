// NPY (numpy's .npy, format 1.0) files, written and read in row blocks so that 138k x 32k scores
// (17.7 GB as float32) never sit in memory. Only what exp stores: little-endian float32 ('<f4'),
// float16 ('<f2') and int32 ('<i4'), C order, 1-D or 2-D.
//
// The writer reserves a fixed 128-byte header (numpy pads headers to a multiple of 64 bytes with
// spaces; a longer padded header is just as valid) so that close() can rewrite the final row count
// in place without moving the data. It writes a sibling temp file and renames it on close, so a
// crash never leaves a truncated .npy under the final name.
import { open, rename, rm, mkdir, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { randomBytes } from 'node:crypto';
import { endianness } from 'node:os';
import { UserError } from '../errors.ts';
import { writeFailure } from '../util/fs.ts';
import { encodeHalf, decodeHalf } from './float16.ts';

export type NpyDtype = 'float32' | 'float16' | 'int32';

const DESCR: Record<NpyDtype, string> = { float32: '<f4', float16: '<f2', int32: '<i4' };
const ITEMSIZE: Record<NpyDtype, number> = { float32: 4, float16: 2, int32: 4 };
const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
const HEADER_BYTES = 128; // whole preamble: magic, version, length, dict, padding, newline

// Typed arrays use the platform's byte order; .npy files here are little-endian.
if (endianness() !== 'LE') throw new Error('exp writes little-endian .npy files and needs a little-endian CPU');

function headerBytes(dtype: NpyDtype, shape: number[], total: number): Buffer {
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  const dict = `{'descr': '${DESCR[dtype]}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const dictLen = total - 10;
  if (dict.length + 1 > dictLen) throw new Error(`npy header for shape ${shapeText} does not fit in ${total} bytes`);
  const buf = Buffer.alloc(total, 0x20);
  Buffer.from(MAGIC).copy(buf, 0);
  buf[6] = 1; // version 1.0
  buf[7] = 0;
  buf.writeUInt16LE(dictLen, 8);
  buf.write(dict, 10, 'latin1');
  buf[total - 1] = 0x0a;
  return buf;
}

export interface NpyWriterOptions {
  dtype: NpyDtype;
  /** Columns per row; omit for a 1-D array. */
  cols?: number;
}

/** Appends row blocks to a new .npy file; the file appears under its name only after close(). */
export class NpyWriter {
  private rows = 0;
  private pos = HEADER_BYTES;
  private half?: Uint16Array;
  private closed = false;

  private constructor(
    readonly path: string,
    private readonly tmp: string,
    private readonly fh: FileHandle,
    readonly dtype: NpyDtype,
    readonly cols: number | undefined,
  ) {}

  static async open(path: string, opts: NpyWriterOptions): Promise<NpyWriter> {
    if (opts.cols !== undefined && !(Number.isInteger(opts.cols) && opts.cols > 0)) {
      throw new Error(`NpyWriter: cols must be a positive integer, got ${opts.cols}`);
    }
    const tmp = `${path}.tmp-${process.pid}-${randomBytes(3).toString('hex')}`;
    let fh: FileHandle | undefined;
    try {
      await mkdir(dirname(path), { recursive: true });
      fh = await open(tmp, 'w');
      const w = new NpyWriter(path, tmp, fh, opts.dtype, opts.cols);
      // Placeholder shape (0 rows); close() rewrites it with the same header length.
      await fh.write(headerBytes(opts.dtype, w.shape(), HEADER_BYTES), 0, HEADER_BYTES, 0);
      return w;
    } catch (e) {
      await fh?.close().catch(() => undefined);
      await rm(tmp, { force: true });
      throw writeFailure(e, path, HEADER_BYTES);
    }
  }

  private shape(): number[] {
    return this.cols === undefined ? [this.rows] : [this.rows, this.cols];
  }

  /** Rows written so far. */
  get rowCount(): number {
    return this.rows;
  }

  /**
   * Appends whole rows (length a multiple of cols). Float32 input is rounded to float16 when the
   * file is float16; int32 files take Int32Array. The block may be reused once the promise settles.
   */
  async append(block: Float32Array | Int32Array): Promise<void> {
    if (this.closed) throw new Error(`NpyWriter: ${this.path} is already closed`);
    const width = this.cols ?? 1;
    if (block.length % width !== 0) {
      throw new Error(`NpyWriter: block of ${block.length} values is not a whole number of ${width}-column rows`);
    }
    const wantInt = this.dtype === 'int32';
    if (wantInt !== block instanceof Int32Array) {
      throw new Error(`NpyWriter: ${this.dtype} file needs ${wantInt ? 'Int32Array' : 'Float32Array'} blocks`);
    }
    let bytes: Uint8Array;
    if (this.dtype === 'float16') {
      if (!this.half || this.half.length < block.length) this.half = new Uint16Array(block.length);
      const h = encodeHalf(block as Float32Array, this.half.subarray(0, block.length));
      bytes = new Uint8Array(h.buffer, h.byteOffset, h.byteLength);
    } else {
      bytes = new Uint8Array(block.buffer, block.byteOffset, block.byteLength);
    }
    let off = 0;
    const end = this.pos + bytes.length;
    try {
      while (off < bytes.length) {
        const { bytesWritten } = await this.fh.write(bytes, off, bytes.length - off, this.pos);
        off += bytesWritten;
        this.pos += bytesWritten;
      }
    } catch (e) {
      // the file so far plus this block: what it needed at least (abort() drops the temp file)
      throw writeFailure(e, this.path, end);
    }
    this.rows += block.length / width;
  }

  /** Writes the final shape into the header, and moves the file to its name. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.fh.write(headerBytes(this.dtype, this.shape(), HEADER_BYTES), 0, HEADER_BYTES, 0);
      await this.fh.close();
      await rename(this.tmp, this.path);
    } catch (e) {
      await this.fh.close().catch(() => undefined);
      await rm(this.tmp, { force: true });
      throw writeFailure(e, this.path, this.pos);
    }
  }

  /** Drops the temp file (a failed or interrupted predict leaves nothing behind). */
  async abort(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.fh.close().catch(() => undefined);
    await rm(this.tmp, { force: true });
  }
}

/** Writes a whole (small) array at once, e.g. top-5 columns. */
export async function writeNpy(path: string, data: Float32Array | Int32Array, opts: NpyWriterOptions): Promise<void> {
  const w = await NpyWriter.open(path, opts);
  try {
    await w.append(data);
  } catch (e) {
    await w.abort();
    throw e;
  }
  await w.close();
}

export interface NpyHeader {
  dtype: NpyDtype;
  /** [rows] or [rows, cols]. */
  shape: number[];
  /** Byte offset of the first value. */
  dataOffset: number;
}

const FROM_DESCR: Record<string, NpyDtype> = { '<f4': 'float32', '<f2': 'float16', '<i4': 'int32' };

/** Parses a .npy preamble (versions 1.0, 2.0, 3.0). `path` only names the file in errors. */
export function parseNpyHeader(buf: Uint8Array, path: string): NpyHeader {
  const bad = (why: string) =>
    new UserError(`${path} is not a .npy file exp can read: ${why}. exp reads numpy .npy files of dtype float32, float16 or int32 (little-endian, C order, 1-D or 2-D); re-save it with numpy.save(path, array.astype("float32")).`);
  if (buf.length < 10 || MAGIC.some((b, i) => buf[i] !== b)) throw bad('it does not start with the NPY magic bytes');
  const major = buf[6];
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const lenBytes = major === 1 ? 2 : 4;
  if (major < 1 || major > 3) throw bad(`format version ${major}.${buf[7]} is unknown`);
  const hlen = lenBytes === 2 ? dv.getUint16(8, true) : dv.getUint32(8, true);
  const start = 8 + lenBytes;
  if (buf.length < start + hlen) throw bad('its header is truncated');
  const text = Buffer.from(buf.buffer, buf.byteOffset + start, hlen).toString(major === 3 ? 'utf8' : 'latin1');
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(text)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(text)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(text)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) throw bad(`its header ${JSON.stringify(text.trim())} lacks descr, fortran_order or shape`);
  const dtype = FROM_DESCR[descr];
  if (!dtype) throw bad(`dtype '${descr}' is not supported`);
  if (fortran === 'True') throw bad('it is in Fortran order');
  const shape = shapeText.split(',').map((s) => s.trim()).filter((s) => s !== '').map(Number);
  if (shape.length < 1 || shape.length > 2 || shape.some((n) => !Number.isSafeInteger(n) || n < 0)) {
    throw bad(`shape (${shapeText}) is not 1-D or 2-D`);
  }
  return { dtype, shape, dataOffset: start + hlen };
}

/** Reads rows of a .npy file by position, through a file descriptor (never the whole file). */
export class NpyReader {
  readonly rows: number;
  readonly cols: number;
  private scratch?: Uint8Array;

  private constructor(readonly path: string, private readonly fh: FileHandle, readonly header: NpyHeader, readonly fileBytes: number) {
    this.rows = header.shape[0];
    this.cols = header.shape.length === 2 ? header.shape[1] : 1;
  }

  static async open(path: string): Promise<NpyReader> {
    let fh: FileHandle;
    try {
      fh = await open(path, 'r');
    } catch (e) {
      throw new UserError(`Cannot open ${path}: ${(e as Error).message}. Check that the run's predictions exist (exp predict <run> writes them).`);
    }
    try {
      const st = await fh.stat();
      if (st.isDirectory()) throw new UserError(`${path} is a directory, where exp expects a .npy file. Check that the run's predictions exist (exp predict <run> writes them).`);
      const { size } = st;
      const pre = new Uint8Array(Math.min(size, 65536 + 12));
      await fh.read(pre, 0, pre.length, 0);
      const header = parseNpyHeader(pre, path);
      const r = new NpyReader(path, fh, header, size);
      const need = header.dataOffset + r.rows * r.cols * r.itemsize;
      if (size < need) {
        throw new UserError(`${path} is truncated: its header promises shape (${header.shape.join(', ')}) = ${need} bytes but the file has ${size}. Re-run exp predict for this run.`);
      }
      return r;
    } catch (e) {
      await fh.close();
      throw e;
    }
  }

  get dtype(): NpyDtype {
    return this.header.dtype;
  }

  get shape(): number[] {
    return this.header.shape;
  }

  get itemsize(): number {
    return ITEMSIZE[this.header.dtype];
  }

  /** Rows [start, start+count) as float32 (float16 decoded) or int32 values. */
  async readRows(start: number, count: number): Promise<Float32Array | Int32Array> {
    const out = this.dtype === 'int32' ? new Int32Array(count * this.cols) : new Float32Array(count * this.cols);
    await this.readRowsInto(start, count, out);
    return out;
  }

  /** Like readRows, into a caller's buffer (reused across blocks to bound memory). */
  async readRowsInto(start: number, count: number, out: Float32Array | Int32Array, outRow = 0): Promise<void> {
    if (start < 0 || count < 0 || start + count > this.rows) {
      throw new RangeError(`${this.path}: rows [${start}, ${start + count}) outside 0..${this.rows}`);
    }
    if ((this.dtype === 'int32') !== out instanceof Int32Array) {
      throw new Error(`${this.path}: ${this.dtype} rows need ${this.dtype === 'int32' ? 'an Int32Array' : 'a Float32Array'}`);
    }
    const n = count * this.cols;
    const nbytes = n * this.itemsize;
    const pos = this.header.dataOffset + start * this.cols * this.itemsize;
    const dst = out.subarray(outRow * this.cols, outRow * this.cols + n);
    if (this.dtype === 'float16') {
      if (!this.scratch || this.scratch.length < nbytes) this.scratch = new Uint8Array(nbytes);
      await this.readFully(this.scratch, nbytes, pos);
      decodeHalf(new Uint16Array(this.scratch.buffer, 0, n), dst as Float32Array);
    } else {
      await this.readFully(new Uint8Array(dst.buffer, dst.byteOffset, nbytes), nbytes, pos);
    }
  }

  /**
   * Rows in an arbitrary order: out row i = file row rows[i]. Runs of consecutive file rows are read
   * with one call, so the identity order costs one read per block.
   */
  async gatherRows(rows: Int32Array, out: Float32Array | Int32Array): Promise<void> {
    let i = 0;
    while (i < rows.length) {
      let j = i + 1;
      while (j < rows.length && rows[j] === rows[j - 1] + 1) j++;
      await this.readRowsInto(rows[i], j - i, out, i);
      i = j;
    }
  }

  private async readFully(dst: Uint8Array, nbytes: number, pos: number): Promise<void> {
    let off = 0;
    while (off < nbytes) {
      const { bytesRead } = await this.fh.read(dst, off, nbytes - off, pos + off);
      if (bytesRead === 0) throw new UserError(`${this.path} ended early (truncated while being read?)`);
      off += bytesRead;
    }
  }

  /** Consecutive blocks of up to blockRows rows; each block's array is fresh. */
  async *rowBlocks(blockRows: number): AsyncGenerator<{ start: number; rows: number; data: Float32Array | Int32Array }> {
    if (!(Number.isInteger(blockRows) && blockRows > 0)) throw new RangeError(`blockRows must be a positive integer, got ${blockRows}`);
    for (let start = 0; start < this.rows; start += blockRows) {
      const rows = Math.min(blockRows, this.rows - start);
      yield { start, rows, data: await this.readRows(start, rows) };
    }
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}

/** Reads a whole (small) .npy file, e.g. top-5 columns. */
export async function readNpy(path: string): Promise<{ dtype: NpyDtype; shape: number[]; data: Float32Array | Int32Array }> {
  const r = await NpyReader.open(path);
  try {
    return { dtype: r.dtype, shape: r.shape, data: await r.readRows(0, r.rows) };
  } finally {
    await r.close();
  }
}

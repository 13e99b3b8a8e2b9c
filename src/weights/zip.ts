// A minimal zip reader for the archives torch.save writes (one file per storage, normally
// stored uncompressed, ZIP64 records for large checkpoints). Reads the central directory from
// the end of the file; entries are stored (method 0) or deflated (method 8, node:zlib).
// Encryption, multi-disk archives and other methods are refused.
import { inflateRawSync } from 'node:zlib';

export interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
  /** offset of the entry's local file header */
  localOffset: number;
}

export class ZipError extends Error {}

const EOCD = 0x06054b50;
const EOCD64_LOCATOR = 0x07064b50;
const EOCD64 = 0x06064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;
const MAX32 = 0xffffffff;

export function looksLikeZip(bytes: Uint8Array): boolean {
  return bytes.byteLength >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04;
}

function u64(dv: DataView, o: number): number {
  const v = dv.getBigUint64(o, true);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new ZipError('a ZIP64 size or offset is too large');
  return Number(v);
}

export class ZipReader {
  readonly entries = new Map<string, ZipEntry>();
  private readonly dv: DataView;

  constructor(private readonly bytes: Uint8Array) {
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.readDirectory();
  }

  private readDirectory(): void {
    const { dv, bytes } = this;
    // the end-of-central-directory record is 22 bytes plus a comment of up to 65535 bytes
    let eocd = -1;
    for (let o = bytes.byteLength - 22; o >= Math.max(0, bytes.byteLength - 22 - 0xffff); o--) {
      if (dv.getUint32(o, true) === EOCD) { eocd = o; break; }
    }
    if (eocd < 0) throw new ZipError('no end-of-central-directory record (truncated or not a zip file)');
    let count = dv.getUint16(eocd + 10, true);
    let dirOffset = dv.getUint32(eocd + 16, true);
    if (dv.getUint16(eocd + 4, true) !== 0 || dv.getUint16(eocd + 6, true) !== 0) throw new ZipError('multi-disk zip archives are not supported');
    const loc = eocd - 20;
    if (loc >= 0 && dv.getUint32(loc, true) === EOCD64_LOCATOR) {
      const rec = u64(dv, loc + 8);
      if (rec + 56 > bytes.byteLength || dv.getUint32(rec, true) !== EOCD64) throw new ZipError('bad ZIP64 end-of-central-directory record');
      count = u64(dv, rec + 32);
      dirOffset = u64(dv, rec + 48);
    }
    let o = dirOffset;
    for (let i = 0; i < count; i++) {
      if (o + 46 > bytes.byteLength || dv.getUint32(o, true) !== CENTRAL) throw new ZipError(`bad central directory entry ${i}`);
      const flags = dv.getUint16(o + 8, true);
      const method = dv.getUint16(o + 10, true);
      let compressedSize = dv.getUint32(o + 20, true);
      let size = dv.getUint32(o + 24, true);
      const nameLen = dv.getUint16(o + 28, true);
      const extraLen = dv.getUint16(o + 30, true);
      const commentLen = dv.getUint16(o + 32, true);
      let localOffset = dv.getUint32(o + 42, true);
      const name = Buffer.from(bytes.buffer, bytes.byteOffset + o + 46, nameLen).toString('utf8');
      // ZIP64 extended information (id 1): the 64-bit values of the fields that read 0xffffffff, in order
      let e = o + 46 + nameLen;
      const extraEnd = e + extraLen;
      while (e + 4 <= extraEnd) {
        const id = dv.getUint16(e, true);
        const len = dv.getUint16(e + 2, true);
        if (id === 1) {
          let p = e + 4;
          if (size === MAX32) { size = u64(dv, p); p += 8; }
          if (compressedSize === MAX32) { compressedSize = u64(dv, p); p += 8; }
          if (localOffset === MAX32) { localOffset = u64(dv, p); p += 8; }
        }
        e += 4 + len;
      }
      if (flags & 1) throw new ZipError(`entry ${name} is encrypted`);
      this.entries.set(name, { name, method, compressedSize, size, localOffset });
      o = extraEnd + commentLen;
    }
  }

  /** The uncompressed bytes of `name` (a view into the archive when stored). */
  read(name: string): Uint8Array {
    const e = this.entries.get(name);
    if (!e) throw new ZipError(`no entry ${name}`);
    const { dv, bytes } = this;
    const o = e.localOffset;
    if (o + 30 > bytes.byteLength || dv.getUint32(o, true) !== LOCAL) throw new ZipError(`bad local header for ${name}`);
    const start = o + 30 + dv.getUint16(o + 26, true) + dv.getUint16(o + 28, true);
    if (start + e.compressedSize > bytes.byteLength) throw new ZipError(`entry ${name} runs past the end of the file (truncated?)`);
    const raw = bytes.subarray(start, start + e.compressedSize);
    if (e.method === 0) return raw;
    if (e.method === 8) {
      const out = inflateRawSync(raw);
      if (out.byteLength !== e.size) throw new ZipError(`entry ${name} inflated to ${out.byteLength} bytes, expected ${e.size}`);
      return out;
    }
    throw new ZipError(`entry ${name} uses compression method ${e.method} (only stored and deflated are supported)`);
  }
}

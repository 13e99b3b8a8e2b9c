// The data fingerprint recorded in every run: sha256 over the metadata bytes and the sorted list
// of (file_name, size). Never modification times, so two machines with the same data agree
// (a copy, an rsync or a re-download changes mtimes, not content).
//
// Trade-off: sizes need one stat per image. On a local disk 1M stats take seconds; on a network
// file system or a cold cache, minutes. They are issued with bounded concurrency (default 64), which
// hides latency without exhausting file descriptors. `metadataOnly` skips the stats: it hashes the
// metadata bytes and the file list without sizes, so it is instant but does not notice an image
// that was replaced, truncated or deleted. The mode is part of the hash, so the two kinds never
// compare equal by accident. For `folders` data (no metadata file) the list of paths is the
// metadata.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { DatasetIndex } from './types.ts';

export interface FingerprintOptions {
  /** Hash metadata and the file list only, without stat()ing every image. Default false. */
  metadataOnly?: boolean;
  /** Concurrent stat() calls. Default 64. */
  concurrency?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface DataFingerprint {
  sha256: string;
  mode: 'full' | 'metadata';
  files: number;
  /** Sum of image sizes ('full' mode only). */
  totalBytes?: number;
  /** Images that could not be stat()ed ('full' mode only); they hash with size -1. */
  missing?: { count: number; first: string[] };
}

/** Size of each file in `files` (relative to root), -1 where it does not exist; bounded concurrency. */
export async function fileSizes(
  root: string,
  files: string[],
  concurrency = 64,
  onProgress?: (done: number, total: number) => void,
): Promise<Float64Array> {
  const sizes = new Float64Array(files.length);
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < files.length) {
      const i = next++;
      const s = await stat(join(root, files[i])).catch(() => null);
      sizes[i] = s && s.isFile() ? s.size : -1;
      if (++done % 10000 === 0) onProgress?.(done, files.length);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, files.length)) }, worker));
  onProgress?.(files.length, files.length);
  return sizes;
}

export async function dataFingerprint(index: DatasetIndex, opts: FingerprintOptions = {}): Promise<DataFingerprint> {
  const mode = opts.metadataOnly ? 'metadata' : 'full';
  const h = createHash('sha256');
  h.update(`exp-data-fingerprint v1 ${mode}\n`);
  for (const f of index.metadataFiles) {
    // Hash the bytes under the file's base name only: the dataset's location is not its content.
    h.update(`metadata ${basename(f)}\n`);
    for await (const chunk of createReadStream(f)) h.update(chunk as Buffer);
    h.update('\n');
  }
  const out: DataFingerprint = { sha256: '', mode, files: index.files.length };
  // One line per image, sorted by file name. Lines are `name\0size`: NUL sorts below every
  // character (and never occurs in a name), so sorting the lines sorts by name. The default sort
  // (no comparator) orders by UTF-16 code unit, the same everywhere, and is several times faster
  // than a comparator on 1M strings.
  let lines: string[];
  if (opts.metadataOnly) lines = index.files.slice();
  else {
    const sizes = await fileSizes(index.root, index.files, opts.concurrency, opts.onProgress);
    let total = 0;
    const missing: string[] = [];
    lines = index.files.map((f, i) => {
      if (sizes[i] < 0) missing.push(f); else total += sizes[i];
      return `${f}\0${sizes[i]}`;
    });
    missing.sort();
    out.totalBytes = total;
    out.missing = { count: missing.length, first: missing.slice(0, 10) };
  }
  lines.sort();
  for (let i = 0; i < lines.length; i += 65536) h.update(lines.slice(i, i + 65536).join('\n') + '\n');
  out.sha256 = h.digest('hex');
  return out;
}

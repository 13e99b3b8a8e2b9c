// File writes are atomic (write a sibling temp file, then rename), so a crash never leaves a
// half-written record file. A write that fails (a full disk, no permission) removes its temp file,
// so it leaves nothing behind either, and becomes a StorageError that names the directory, what
// the write needed and what is free: the run that made it ends `failed` with that message.
import { closeSync, existsSync, fstatSync, ftruncateSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statfsSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { StorageError } from '../errors.ts';

const NO_SPACE = new Set(['ENOSPC', 'EDQUOT']);
const NO_WRITE = new Set(['EACCES', 'EPERM', 'EROFS']);

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} bytes`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[u]}`;
}

/** Bytes free to this user on the file system holding `path` (its nearest existing ancestor), or null. */
export function freeBytes(path: string): number | null {
  let p = path;
  while (!existsSync(p) && dirname(p) !== p) p = dirname(p);
  try {
    const s = statfsSync(p);
    return Number(s.bavail) * Number(s.bsize);
  } catch {
    return null;
  }
}

// A temp file or directory (".tmp-<pid>-<hex>" from writeAtomic, ".tmp-<hex>" from checkpoints)
// is an implementation detail: messages name the place it was going to.
const withoutTemp = (p: string): string => p.replace(/\.tmp-[0-9a-f-]+(?=[/\\]|$)/g, '');

/**
 * `err` from writing `bytes` to `path`, as a StorageError when the disk is full or the place is not
 * writable (any other error is returned unchanged). `bytes` is what the failed write needed.
 */
export function writeFailure(err: unknown, path: string, bytes: number): unknown {
  const code = (err as NodeJS.ErrnoException)?.code ?? '';
  if (err instanceof StorageError || !(NO_SPACE.has(code) || NO_WRITE.has(code))) return err;
  const file = withoutTemp(path);
  const dir = dirname(file);
  if (NO_SPACE.has(code)) {
    const free = freeBytes(dir);
    const what = code === 'EDQUOT' ? 'the disk quota is used up' : 'no space is left on the device';
    return new StorageError(
      `${dir}: ${what} (${code}) while writing ${basename(file)}, which needed about ${formatBytes(bytes)}${free === null ? '' : `; ${formatBytes(free)} free there now`}. ` +
        'Free space on that disk (or use one with more room) and run again.',
      { dir, file, code, bytes, free },
    );
  }
  const why = code === 'EROFS' ? 'the file system is read-only' : 'permission denied';
  return new StorageError(
    `${dir}: ${why} (${code}) while writing ${basename(file)} (${formatBytes(bytes)}). Make the directory writable (chmod u+w ${dir}) or write to another one.`,
    { dir, file, code, bytes, free: null },
  );
}

/** Best-effort removal: cleaning up after a failed write must not hide why it failed. */
function removeQuietly(path: string): void {
  try {
    rmSync(path, { force: true, recursive: true });
  } catch {
    // nothing more to do
  }
}

export function writeAtomic(path: string, data: string | Uint8Array): void {
  const bytes = typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength;
  try {
    mkdirSync(dirname(path), { recursive: true });
  } catch (e) {
    throw writeFailure(e, path, bytes);
  }
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(3).toString('hex')}`;
  try {
    writeFileSync(tmp, data);
    renameSync(tmp, path);
  } catch (e) {
    removeQuietly(tmp); // a full disk leaves a partial temp file: drop it, the old file stands
    throw writeFailure(e, path, bytes);
  }
}

export function writeJsonAtomic(path: string, value: unknown): void {
  writeAtomic(path, JSON.stringify(value, null, 2) + '\n');
}

/**
 * Appends `text` to `path` (created when absent) and, with `sync`, flushes it to disk. When the
 * write fails part-way the file is cut back to its previous length, so a full disk never leaves
 * a torn line behind.
 */
export function appendDurable(path: string, text: string, opts: { sync?: boolean } = {}): void {
  const data = Buffer.from(text);
  let fd: number;
  try {
    fd = openSync(path, 'a');
  } catch (e) {
    throw writeFailure(e, path, data.byteLength);
  }
  let size = 0;
  try {
    size = fstatSync(fd).size;
    let off = 0;
    while (off < data.byteLength) off += writeSync(fd, data, off);
    if (opts.sync) fsyncSync(fd);
  } catch (e) {
    try {
      ftruncateSync(fd, size);
    } catch {
      // the error below is what matters
    }
    throw writeFailure(e, path, data.byteLength);
  } finally {
    closeSync(fd);
  }
}

/**
 * Disk space set aside for the last write a run must make when its disk fills up: the record
 * that says it failed. The space is held by a file that is unlinked at once and kept open, so it
 * shows in no listing and the kernel frees it when the process ends, however it ends; release()
 * closes it, freeing the space for that final write. Where an open file cannot be unlinked
 * (Windows) nothing is held.
 */
export class SpaceReserve {
  private constructor(private fd: number | null) {}

  /** 64 KiB: a failed run.json is a few KiB; the rest is slack for file-system block rounding. */
  static hold(dir: string, bytes = 64 * 1024): SpaceReserve {
    const path = join(dir, `.reserve-${process.pid}-${randomBytes(3).toString('hex')}`);
    let fd: number | null = null;
    try {
      fd = openSync(path, 'wx');
      writeSync(fd, Buffer.alloc(bytes));
      unlinkSync(path);
      return new SpaceReserve(fd);
    } catch {
      // too little space already, or the platform cannot unlink an open file: hold nothing
      if (fd !== null) closeSync(fd);
      removeQuietly(path);
      return new SpaceReserve(null);
    }
  }

  /** Frees the space; true when there was some to free. */
  release(): boolean {
    if (this.fd === null) return false;
    closeSync(this.fd);
    this.fd = null;
    return true;
  }
}

export function readJson<T = unknown>(path: string): T {
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}

export function readJsonIfExists<T = unknown>(path: string): T | undefined {
  return existsSync(path) ? readJson<T>(path) : undefined;
}

// A small tmpfs for full-disk tests. Mounting needs root (or CAP_SYS_ADMIN) on Linux; where it is
// not allowed the caller skips with the reason, printed by the test runner.
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Mounts a tmpfs of `size` (e.g. "30m") on a fresh directory; the reason when it cannot. */
export function mountTmpfs(size: string): { dir: string; unmount: () => void } | { skip: string } {
  if (process.platform !== 'linux') return { skip: `a tmpfs mount needs Linux (this is ${process.platform})` };
  const dir = mkdtempSync(join(tmpdir(), 'exp-tmpfs-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    const why = String((e as { stderr?: Buffer }).stderr ?? (e as Error).message).trim().split('\n')[0];
    return { skip: `cannot mount a ${size} tmpfs (mount -t tmpfs needs root): ${why}` };
  }
  return {
    dir,
    unmount: () => {
      try {
        execFileSync('umount', [dir], { stdio: 'ignore' });
      } catch {
        execFileSync('umount', ['-l', dir], { stdio: 'ignore' }); // still busy: detach it
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Writes zeros into `file` until the file system is full; returns the bytes written. */
export function fillDisk(file: string): number {
  const fd = openSync(file, 'w');
  let n = 0;
  try {
    for (const size of [1 << 20, 1 << 12, 1]) {
      const buf = Buffer.alloc(size);
      try {
        for (;;) n += writeSync(fd, buf);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
      }
    }
  } finally {
    closeSync(fd);
  }
  return n;
}

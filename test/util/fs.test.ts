// Writes that fail: a full disk or a place that is not writable becomes a StorageError naming the
// directory and the space needed, and leaves no partial or temporary file behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { StorageError } from '../../src/errors.ts';
import { appendDurable, SpaceReserve, writeAtomic, writeFailure } from '../../src/util/fs.ts';
import { fillDisk, mountTmpfs } from './tmpfs.ts';

const errno = (code: string) => Object.assign(new Error(`${code}: something`), { code });

test('writeFailure: ENOSPC, EDQUOT, EACCES, EPERM, EROFS become StorageErrors naming the directory; others pass through', () => {
  const full = writeFailure(errno('ENOSPC'), '/runs/r1/model/last.tmp-0a1b2c/weights.bin', 5 * 1024 * 1024);
  assert.ok(full instanceof StorageError);
  assert.match(full.message, /^\/runs\/r1\/model\/last: no space is left on the device \(ENOSPC\) while writing weights\.bin, which needed about 5\.0 MiB/);
  assert.deepEqual([full.info.dir, full.info.code, full.info.bytes], ['/runs/r1/model/last', 'ENOSPC', 5 * 1024 * 1024], 'the temp directory is not what the user sees');
  assert.equal(full.exitCode, 1, 'a failed run, not a bug and not bad input');
  assert.match((writeFailure(errno('EDQUOT'), '/runs/r1/run.json', 10) as Error).message, /disk quota is used up/);
  for (const code of ['EACCES', 'EPERM']) assert.match((writeFailure(errno(code), '/runs/r1/run.json', 10) as Error).message, new RegExp(`^/runs/r1: permission denied \\(${code}\\) while writing run\\.json.*chmod u\\+w /runs/r1`));
  assert.match((writeFailure(errno('EROFS'), '/runs/r1/run.json', 10) as Error).message, /read-only/);
  const other = errno('EIO');
  assert.equal(writeFailure(other, '/x', 1), other);
  assert.equal(writeFailure(full, '/y', 1), full, 'already mapped');
});

test('StorageError.noteRun adds what became of the run once', () => {
  const e = writeFailure(errno('ENOSPC'), '/runs/r1/run.json', 10) as StorageError;
  e.noteRun('The run is marked failed.');
  e.noteRun('The run is marked failed.');
  assert.equal(e.message.match(/marked failed/g)?.length, 1);
});

test('on a full disk: writeAtomic keeps the old file and leaves no temp file, appendDurable leaves no torn line, a released reserve makes room', (t) => {
  const fs = mountTmpfs('2m');
  if ('skip' in fs) return t.skip(fs.skip);
  t.after(fs.unmount);
  const file = join(fs.dir, 'run.json');
  writeAtomic(file, '{"status": "running"}\n');
  const log = join(fs.dir, 'history.jsonl');
  appendDurable(log, '{"epoch": 1}\n');
  const reserve = SpaceReserve.hold(fs.dir, 64 * 1024);
  assert.deepEqual(readdirSync(fs.dir).sort(), ['history.jsonl', 'run.json'], 'the reserve shows in no listing');
  fillDisk(join(fs.dir, 'filler'));

  assert.throws(() => writeAtomic(file, `{"status": "failed", "pad": "${'x'.repeat(200_000)}"}\n`), (e: unknown) =>
    e instanceof StorageError && e.info.dir === fs.dir && /which needed about 195 KiB/.test(e.message));
  assert.equal(readFileSync(file, 'utf8'), '{"status": "running"}\n', 'the previous version stands');
  assert.deepEqual(readdirSync(fs.dir).sort(), ['filler', 'history.jsonl', 'run.json'], 'no temp file left');

  assert.throws(() => appendDurable(log, `{"epoch": 2, "pad": "${'x'.repeat(100_000)}"}\n`), StorageError);
  assert.equal(readFileSync(log, 'utf8'), '{"epoch": 1}\n', 'cut back to the last whole line');

  assert.equal(reserve.release(), true);
  assert.equal(reserve.release(), false, 'released once');
  writeAtomic(file, '{"status": "failed"}\n'); // the final record fits in the released space
  assert.equal(readFileSync(file, 'utf8'), '{"status": "failed"}\n');
  rmSync(join(fs.dir, 'filler'));
  assert.ok(!existsSync(join(fs.dir, 'filler')));
});

test('SpaceReserve on a disk with no room holds nothing and says so', (t) => {
  const fs = mountTmpfs('1m');
  if ('skip' in fs) return t.skip(fs.skip);
  t.after(fs.unmount);
  fillDisk(join(fs.dir, 'filler'));
  const r = SpaceReserve.hold(fs.dir, 64 * 1024);
  assert.equal(r.release(), false);
  assert.deepEqual(readdirSync(fs.dir), ['filler'], 'no half-made reserve file left');
  writeFileSync(join(fs.dir, 'filler'), ''); // (freed for the unmount)
});

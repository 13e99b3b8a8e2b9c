// A run whose runs directory fills up (a 30 MB tmpfs, filled by this test while the run trains)
// ends `failed` with a message naming the directory and the space needed, keeps model/last from
// the last good epoch (resume continues from it once there is room), leaves no partial or temp
// file, and does not touch the other run in the same directory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { exp, ROOT, SMOKE } from '../cli/helpers.ts';
import { fillDisk, mountTmpfs } from '../util/tmpfs.ts';
import { readHistoryFile, readRun } from '../../src/runs/read.ts';
import { newRun } from './helpers.ts';

function files(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).map((f) => join(dir, f)).filter((f) => statSync(f).isFile()).sort();
}
const digest = (dir: string) => files(dir).map((f) => `${f} ${createHash('sha256').update(readFileSync(f)).digest('hex')}`);

test('a run on a full disk ends failed, names the directory, keeps model/last, and leaves its neighbour alone', { timeout: 10 * 60_000 }, async (t) => {
  const fs = mountTmpfs('30m');
  if ('skip' in fs) return t.skip(fs.skip);
  t.after(fs.unmount);
  const runs = join(fs.dir, 'runs');
  const neighbour = await newRun(runs, ROOT, { name: 'neighbour' });
  neighbour.writeMetrics({ val: { tta1: { species: { macro_f1: 0.5, accuracy: 0.6, top5: 0.9 } } } });
  neighbour.complete();
  const before = digest(neighbour.dir);

  const filler = join(fs.dir, 'filler');
  let filled = 0;
  const p = exp(['run', 'experiments/quickstart.yaml', ...SMOKE, '--set', 'train.epochs=6', '--set', 'data.test=null', '--runs-dir', runs, '--backend', 'wasm'], {
    onStdout: (out) => {
      // the disk fills up after the second epoch: its checkpoint, or whatever is written next, fails
      if (!filled && /epoch 2: train loss/.test(out)) filled = fillDisk(filler);
    },
  });
  const r = await p;
  assert.ok(filled > 0, `the run never reached epoch 2:\n${r.stdout}\n${r.stderr}`);
  const dir = join(runs, readdirSync(runs).find((d) => d !== neighbour.id && !d.startsWith('.'))!);
  assert.equal(r.code, 1, r.stderr);
  assert.doesNotMatch(r.stderr, /internal error|\n\s+at .+:\d+:\d+/, 'no stack trace');
  assert.match(r.stderr, /no space is left on the device \(ENOSPC\) while writing \S+, which needed about \d/);
  assert.ok(r.stderr.includes(`${dir}/`) || r.stderr.includes(`${dir}:`), `the run directory is named:\n${r.stderr}`);
  assert.match(r.stderr, /exp run --resume/);

  const view = readRun(dir); // validated: the final record was written in full
  assert.equal(view.run.status, 'failed');
  assert.equal(view.run.error?.type, 'StorageError');
  assert.ok(view.run.error?.message.includes(dir));
  assert.deepEqual(files(runs).filter((f) => /\.tmp-|\.reserve-/.test(f)), [], 'no temp file or half-written file left');
  assert.equal(readHistoryFile(dir).note, null, 'history.jsonl has no torn line');
  const done = JSON.parse(readFileSync(join(dir, 'model', 'last', 'state.json'), 'utf8')).epoch as number;
  assert.ok(done >= 1 && done < 6, `model/last holds epoch ${done}`);
  const ls = await exp(['ls', '--runs-dir', runs]);
  assert.equal(ls.code, 0, ls.stderr);
  assert.match(ls.stdout, /quickstart\s+failed/);

  assert.deepEqual(digest(neighbour.dir), before, 'the other run is untouched');
  const show = await exp(['show', neighbour.dir]);
  assert.equal(show.code, 0, show.stderr);

  // Once there is room, the run continues from its last good checkpoint.
  rmSync(filler);
  const resumed = await exp(['run', '--resume', dir, '--runs-dir', runs, '--quiet']);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.ok(resumed.stdout.includes(`resuming ${dir} from ${join(dir, 'model', 'last')}`), resumed.stdout);
  const after = readRun(dir);
  assert.equal(after.run.status, 'completed');
  assert.deepEqual(after.history().map((h) => h.epoch), [1, 2, 3, 4, 5, 6]);
});

// `exp run` on a tiny dataset with damaged images, as a user runs it (the exp binary, output on a
// pipe): under on_bad_image: skip the run completes and run.json lists what was left out, per
// split, which `exp show` prints; a second run on the warm cache says it is cached instead of
// "resizing"; every epoch's line is in the output and in log.txt. Under fail the cache stage
// itself fails on the first bad image, naming it, and nothing after it starts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { exp } from '../cli/helpers.ts';
import { synthDataset } from '../../src/data/synth.ts';
import { validateRun, schemaErrors, type RunJson } from '../../src/runs/schemas.ts';

const root = mkdtempSync(join(tmpdir(), 'exp-damaged-'));
test.after(() => rmSync(root, { recursive: true, force: true }));

/** A synthetic dataset with a truncated and a garbage training JPEG and an empty test image. */
async function damaged(): Promise<{ dir: string; truncated: string; garbage: string; empty: string }> {
  const dir = join(root, 'data');
  await synthDataset(dir, { families: 2, genera: 3, species: 4, imagesPerSpecies: [6, 10], imbalance: 1, testPerSpecies: 3, size: 48, seed: 7 });
  const train = JSON.parse(readFileSync(join(dir, 'train', 'metadata.json'), 'utf8')).images.map((i: { file_name: string }) => i.file_name);
  const tests = JSON.parse(readFileSync(join(dir, 'test', 'metadata.json'), 'utf8')).images.map((i: { file_name: string }) => i.file_name);
  const [truncated, garbage, empty] = [train[1], train[4], tests[0]];
  const bytes = readFileSync(join(dir, 'train', truncated));
  writeFileSync(join(dir, 'train', truncated), bytes.subarray(0, Math.floor(bytes.length * 0.6)));
  // a JPEG start and end marker around noise: passes the end-of-image check, fails to decode
  let x = 12345;
  const noise = Buffer.from(Array.from({ length: 3000 }, () => (x = (x * 1103515245 + 12345) % 2147483648) >> 23));
  writeFileSync(join(dir, 'train', garbage), Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), noise, Buffer.from([0xff, 0xd9])]));
  writeFileSync(join(dir, 'test', empty), '');
  return { dir, truncated, garbage, empty };
}
const data = damaged();

const args = (d: string, runs: string, cache: string, policy: 'skip' | 'fail') => [
  'run', 'experiments/quickstart.yaml', '--set', `data.train=${join(d, 'train')}`, '--set', `data.test=${join(d, 'test')}`,
  '--set', `data.cache.dir=${cache}`, '--set', `data.on_bad_image=${policy}`, '--set', 'train.epochs=2', '--set', 'train.max_steps_per_epoch=2',
  '--set', 'train.batch_size=8', '--set', 'data.image={resize: 36, size: 32}', '--set', 'tta.count=1', '--set', 'schedule={type: constant}',
  '--runs-dir', runs, '--backend', 'wasm',
];
const runJson = (runs: string, name?: string): { dir: string; run: RunJson } => {
  const dirs = readdirSync(runs).filter((d) => !name || d.includes(`-${name}-`));
  assert.equal(dirs.length, 1, `one run in ${runs}: ${dirs}`);
  const run: unknown = JSON.parse(readFileSync(join(runs, dirs[0], 'run.json'), 'utf8'));
  assert.ok(validateRun(run), schemaErrors('run'));
  return { dir: join(runs, dirs[0]), run };
};

test('on_bad_image: skip records every bad image per split in run.json and exp show; a warm cache says it is cached', async () => {
  const d = await data;
  const runs = join(root, 'runs-skip');
  const cache = join(root, 'cache-skip');
  const first = await exp([...args(d.dir, runs, cache, 'skip'), '--name', 'cold']);
  assert.equal(first.code, 0, first.stderr + first.stdout);
  const { dir, run } = runJson(runs, 'cold');
  const bad = run.data!.bad_images!;
  // the two damaged training images fall in train or val, whichever the split put them in
  const trainVal = [...(bad.train?.files ?? []), ...(bad.val?.files ?? [])];
  assert.equal((bad.train?.count ?? 0) + (bad.val?.count ?? 0), 2);
  assert.deepEqual(trainVal.map((f) => f.file).sort(), [d.truncated, d.garbage].sort());
  assert.equal(trainVal.find((f) => f.file === d.truncated)!.reason, 'truncated or corrupt');
  assert.deepEqual(bad.test, { count: 1, files: [{ file: d.empty, reason: 'empty', detail: '0 bytes' }] });
  assert.match(first.stdout, /\[COMPLETED\] Resized-image cache at 36 px: \d+ images at 36 px, all resized now; 3 bad images skipped/);
  assert.equal(run.stages.find((s) => s.name === 'cache')!.cached, false);

  // every epoch's line, in the output as it came and the same line in log.txt
  const log = readFileSync(join(dir, 'log.txt'), 'utf8');
  for (const epoch of [1, 2]) {
    const line = new RegExp(`^\\[OUTPUT\\] (epoch ${epoch}: train loss \\d+\\.\\d{3}, val species loss \\d+\\.\\d{3} macro-F1 \\d\\.\\d{3} accuracy \\d\\.\\d{3}, lr \\S+, \\d+\\.\\d images/s)$`, 'm');
    const shown = first.stdout.match(line);
    assert.ok(shown, `epoch ${epoch} in the output:\n${first.stdout}`);
    assert.ok(log.includes(`[train] ${shown[1]}\n`), `the same line in log.txt:\n${log}`);
  }
  assert.match(first.stdout, /^\[OUTPUT\] train: (reading metadata, [\d.]+ kB of [\d.]+ kB|indexing \d+\/\d+ images)/m, 'index progress names its unit');

  const show = await exp(['show', dir]);
  assert.equal(show.code, 0, show.stderr);
  assert.match(show.stdout, /^bad images .*test 1.* left out \(data\.on_bad_image: skip\)$/m);
  assert.ok(show.stdout.includes(`  test  ${d.empty}  empty: 0 bytes`), show.stdout);
  assert.match(show.stdout, new RegExp(`^  (train|val)  ${d.truncated.replace(/[./]/g, '\\$&')}  truncated or corrupt`, 'm'));

  const second = await exp([...args(d.dir, runs, cache, 'skip'), '--name', 'warm']);
  assert.equal(second.code, 0, second.stderr + second.stdout);
  assert.doesNotMatch(second.stdout, /resizing/i, 'nothing is resized on a warm cache');
  assert.match(second.stdout, /\[COMPLETED\] Resized-image cache at 36 px: cached, \d+ images at 36 px; 3 bad images skipped/);
  const warm = runJson(runs, 'warm').run;
  assert.equal(warm.stages.find((s) => s.name === 'cache')!.cached, true);
  assert.deepEqual(warm.data!.bad_images, bad, 'the same images are recorded again');
});

test('on_bad_image: fail: the cache stage fails on the first bad image, naming it and why; nothing after it starts', async () => {
  const d = await data;
  const runs = join(root, 'runs-fail');
  const r = await exp(args(d.dir, runs, join(root, 'cache-fail'), 'fail'));
  assert.equal(r.code, 2, r.stderr + r.stdout);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  const named = [d.truncated, d.garbage].find((f) => r.stderr.includes(join(d.dir, 'train', f)));
  assert.ok(named, `the error names a damaged file:\n${r.stderr}`);
  if (named === d.truncated) assert.match(r.stderr, /is truncated or corrupt/);
  assert.match(r.stderr, /Replace or remove the file, or set data\.on_bad_image: skip/);
  const { run } = runJson(runs);
  assert.equal(run.status, 'failed');
  assert.equal(run.error!.stage, 'cache');
  assert.ok(run.error!.message.includes(named));
  assert.deepEqual(run.stages.map((s) => [s.name, s.status]), [['index', 'completed'], ['split', 'completed'], ['cache', 'failed']]);
  assert.equal(run.data!.bad_images, undefined, 'nothing is skipped under fail');
  assert.doesNotMatch(r.stdout, /\[STARTED\] Channel mean/);
});

// Sweeps end to end: expansion and a stable id, one run per point recording the sweep, re-running
// the sweep skips completed points and retries failed ones (never duplicates), and another
// process can run point n from the sweep's record alone (`exp run --point <id>/<n>`).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { exp, ROOT, SMOKE } from './helpers.ts';
import { validateRun, schemaErrors } from '../../src/runs/schemas.ts';

const json = (p: string) => JSON.parse(readFileSync(p, 'utf8'));
const runDirs = (runs: string) => readdirSync(runs).filter((d) => !d.startsWith('.')).map((d) => join(runs, d));

test('--sweep and a sweep: block expand to the product of their values with a stable id', async () => {
  const args = ['run', 'experiments/quickstart.yaml', ...SMOKE, '--sweep', 'augment.color_jitter.enabled=false,true', '--sweep', 'seed=1,2', '--dry-run'];
  const a = await exp(args);
  assert.equal(a.code, 0, a.stderr);
  const id = /sweep (sw-[0-9a-f]+): 4 points over augment\.color_jitter\.enabled, seed/.exec(a.stdout)?.[1];
  assert.ok(id, a.stdout);
  assert.match(a.stdout, new RegExp(`${id}/0  augment.color_jitter.enabled=false seed=1\\n.*${id}/1  augment.color_jitter.enabled=false seed=2\\n.*${id}/3  augment.color_jitter.enabled=true seed=2`, 's'));
  assert.equal((await exp(args)).stdout, a.stdout, 'same sweep, same id and numbering');
  // the file's block (here carried by --set) with seeds; a changed base config is another sweep
  const block = await exp(['run', 'experiments/quickstart.yaml', ...SMOKE, '--set', 'sweep={grid: {loss.gamma: [0, 2]}, seeds: [4, 5, 6]}', '--dry-run']);
  assert.equal(block.code, 0, block.stderr);
  assert.match(block.stdout, /6 points over loss\.gamma, seed\n.*\/5  loss\.gamma=2 seed=6\n/s);
  assert.doesNotMatch(block.stdout, new RegExp(id));
  const typo = await exp(['run', 'experiments/quickstart.yaml', '--sweep', 'augment.color_jiter.enabled=false,true', '--dry-run']);
  assert.equal(typo.code, 2);
  assert.match(typo.stderr, /--sweep augment\.color_jiter\.enabled .*did you mean 'color_jitter'/);
});

test('a sweep runs each point once: completed points are skipped, failed ones rerun, --point runs one from the record', async () => {
  // The experiment lives outside any git repository, so the identity does not change when
  // someone edits the checkout while this test runs.
  const work = mkdtempSync(join(tmpdir(), 'exp-sweep-'));
  cpSync(join(ROOT, 'experiments/quickstart.yaml'), join(work, 'q.yaml'));
  const runs = join(work, 'runs');
  const data = ['--set', `data.train=${join(ROOT, 'data/sample/train')}`, '--set', 'data.test=null', '--set', 'outputs.submission=false'];
  const args = ['run', join(work, 'q.yaml'), ...SMOKE, ...data, '--sweep', 'seed=1,2', '--runs-dir', runs, '--backend', 'wasm', '--quiet'];
  const first = await exp(args);
  assert.equal(first.code, 0, first.stderr + first.stdout);
  const id = /sweep (sw-[0-9a-f]+)/.exec(first.stdout)![1];
  const dirs = runDirs(runs);
  assert.equal(dirs.length, 2);
  const records = dirs.map((d) => json(join(d, 'run.json'))).sort((x, y) => x.seed - y.seed);
  for (const [i, r] of records.entries()) {
    assert.ok(validateRun(r), schemaErrors('run'));
    assert.equal(r.status, 'completed');
    assert.deepEqual(r.sweep, { id, point: { seed: i + 1 }, keys: ['seed'], point_index: i });
    assert.equal(r.seed, i + 1);
  }
  const def = json(join(runs, '.sweeps', `${id}.json`));
  assert.equal(def.id, id);
  assert.deepEqual(def.points.map((p: { point: unknown }) => p.point), [{ seed: 1 }, { seed: 2 }]);

  const ls = await exp(['ls', '--runs-dir', runs, '--sweep', id]);
  assert.match(ls.stdout, new RegExp(`${id}/0\\n[^]*${id}/1`));

  const again = await exp(args);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(again.stdout.match(/already completed with the same identity/g)?.length, 2, again.stdout);
  assert.equal(runDirs(runs).length, 2, 'nothing duplicated');

  // a failed point is run again (fresh directory); the completed one is still skipped
  const seed2 = dirs.find((d) => json(join(d, 'run.json')).seed === 2)!;
  writeFileSync(join(seed2, 'run.json'), JSON.stringify({ ...json(join(seed2, 'run.json')), status: 'failed' }));
  const retry = await exp(args);
  assert.equal(retry.code, 0, retry.stderr);
  assert.equal(retry.stdout.match(/already completed/g)?.length, 1, retry.stdout);
  const after = runDirs(runs).map((d) => json(join(d, 'run.json')));
  assert.equal(after.length, 3);
  const rerun = after.find((r) => r.seed === 2 && r.status === 'completed')!;
  assert.equal(rerun.identity, records[1].identity, 'same point, same identity');

  // another machine sharing only the runs directory's sweep record runs point 1 by number
  const other = join(work, 'other-runs');
  mkdirSync(other);
  cpSync(join(runs, '.sweeps'), join(other, '.sweeps'), { recursive: true });
  // --dry-run says what a task would do, and does nothing
  const dry = await exp(['run', '--point', `${id}/1`, '--runs-dir', other, '--dry-run']);
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, new RegExp(`^point 2/2 \\(${id}/1\\): seed=2\n\\S+: index -> split -> .*train.*\na task now would run it in a fresh run directory\n$`));
  assert.deepEqual(runDirs(other), []);
  const point = await exp(['run', '--point', `${id}/1`, '--runs-dir', other, '--backend', 'wasm', '--quiet']);
  assert.equal(point.code, 0, point.stderr + point.stdout);
  const [one] = runDirs(other).map((d) => json(join(d, 'run.json')));
  assert.deepEqual(one.sweep, { id, point: { seed: 2 }, keys: ['seed'], point_index: 1 });
  assert.equal(one.identity, records[1].identity, 'the recorded point, exactly');
  const skip = await exp(['run', '--point', `${id}/1`, '--runs-dir', other, '--quiet']);
  assert.match(skip.stdout, /already completed/);
  const dryDone = await exp(['run', '--point', `${id}/1`, '--runs-dir', other, '--dry-run']);
  assert.match(dryDone.stdout, /already completed: .*; a task now would skip it\n$/);
  const bad = await exp(['run', '--point', `${id}/7`, '--runs-dir', other]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /points 0 to 1/);
});

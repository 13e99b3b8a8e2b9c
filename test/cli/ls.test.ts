// exp ls on run records (written by createRun, see test/runs/compare/fixture.ts): the metric
// column names its split, level and TTA; sweep runs show their swept values; --sweep takes a prefix.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exp } from './helpers.ts';
import { makeRun, synthPredictions } from '../runs/compare/fixture.ts';

const CLASSES = Array.from({ length: 6 }, (_x, i) => i);
let runsDir: string;

before(async () => {
  runsDir = join(mkdtempSync(join(tmpdir(), 'exp-ls-')), 'runs');
  let s = 0;
  const at = () => new Date(Date.UTC(2026, 0, 4, 0, 0, ++s));
  await makeRun(runsDir, { name: 'plain', ...synthPredictions(60, 6, 0.5, 1), classes: CLASSES, now: at() });
  let i = 0;
  for (const jitter of [false, true]) for (const seed of [1, 2]) {
    await makeRun(runsDir, {
      name: 'quickstart', ...synthPredictions(60, 6, 0.6, 10 + i), classes: CLASSES, seed, tta: [1, 4], now: at(),
      config: { seed, augment: { color_jitter: { enabled: jitter } } },
      sweep: { id: 'sw-5e5e5e5e5e5e', point: { 'augment.color_jitter.enabled': jitter, seed }, keys: ['augment.color_jitter.enabled', 'seed'], point_index: i++ },
    });
  }
});
after(() => rmSync(join(runsDir, '..'), { recursive: true, force: true }));

test('exp ls --sweep PREFIX: swept values, and a metric column that names split, level and TTA', async () => {
  const r = await exp(['ls', '--runs-dir', runsDir, '--sweep', '5e5e']);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trimEnd().split('\n');
  assert.match(lines[0], /^id\s+name\s+status\s+val species macro-F1 \(TTA 4\)\s+backend\s+git\s+time\s+swept values\s+sweep$/);
  assert.equal(lines.length, 2 + 4, 'the four sweep runs, not the plain one');
  assert.match(lines[2], /-quickstart-[0-9a-f]{6}\s+quickstart\s+completed\s+0\.\d{4}\s+.*color_jitter=off, seed=1\s+sw-5e5e5e5e5e5e\/0$/);
  assert.match(lines[5], /color_jitter=on, seed=2\s+sw-5e5e5e5e5e5e\/3$/);
  const json = JSON.parse((await exp(['ls', '--runs-dir', runsDir, '--sweep', 'sw-5e', '--json'])).stdout);
  assert.deepEqual(json[0].metric, { split: 'val', level: 'species', tta: 4 });
  assert.equal(json[0].point, 'color_jitter=off, seed=1');
});

test('exp ls: runs at different TTA counts say which in each cell; an unknown sweep is a user error', async () => {
  const r = await exp(['ls', '--runs-dir', runsDir]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^id\s+name\s+status\s+val species macro-F1 \(TTA\)\s/);
  assert.match(r.stdout, /plain\s+completed\s+0\.\d{4} tta1\s/);
  assert.match(r.stdout, /quickstart\s+completed\s+0\.\d{4} tta4\s/);
  const bad = await exp(['ls', '--runs-dir', runsDir, '--sweep', 'nope']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--sweep nope: no sweep id in .* is or starts with "nope" \(sweeps there: sw-5e5e5e5e5e5e\)/);
});

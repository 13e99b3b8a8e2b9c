// The data and record commands from the command line: inspect, synth, stats, ls, show.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { exp, SMOKE } from './helpers.ts';

test('exp data inspect reports format, classes per level and images per class', async () => {
  const r = await exp(['data', 'inspect', 'data/sample/train']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /herbarium \(herbarium2020\)/);
  assert.match(r.stdout, /images\s+308/);
  assert.match(r.stdout, /species\s+12\s+11\s+18\s+80/);
  const j = await exp(['data', 'inspect', 'data/sample/train', '--json']);
  const report = JSON.parse(j.stdout);
  assert.deepEqual(report.classesPerLevel, { species: 12, genus: 6, family: 3 });
  assert.equal(report.missingFiles.count, 0);
  const missing = await exp(['data', 'inspect', '/nonexistent/herbarium']);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /does not exist/);
});

test('exp data synth writes a Herbarium 2020 layout that exp reads back', async () => {
  const out = join(mkdtempSync(join(tmpdir(), 'exp-synth-')), 'herb');
  const r = await exp(['data', 'synth', out, '--species', '4', '--seed', '3', '--size', '48']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /4 species in 2 genera in 1 famil/);
  const meta = JSON.parse(readFileSync(join(out, 'train', 'metadata.json'), 'utf8'));
  assert.ok(meta.images.length > 0 && meta.annotations.length === meta.images.length);
  assert.ok(existsSync(join(out, 'test', 'metadata.json')));
  const inspect = await exp(['data', 'inspect', join(out, 'train'), '--json']);
  assert.equal(JSON.parse(inspect.stdout).classesPerLevel.species, 4);
  const bad = await exp(['data', 'synth', out, '--species', 'many']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--species many: expected a whole number/);
});

test('exp stats prints the channel mean/std that normalize: auto uses', async () => {
  const r = await exp(['stats', 'data/sample/train', '--resize', '40', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  assert.equal(s.images, 247, 'the 308 images less the default validation split (0.2), as a run measures them');
  for (const v of [...s.mean, ...s.std]) assert.ok(v > 0 && v < 1);
  const bad = await exp(['stats', 'data/sample/train', '--resize', 'big']);
  assert.equal(bad.code, 2);
});

test('exp ls and exp show read the run records', async () => {
  const runs = mkdtempSync(join(tmpdir(), 'exp-runs-'));
  const empty = await exp(['ls', '--runs-dir', runs]);
  assert.match(empty.stdout, /no runs in/);
  const r = await exp(['run', 'experiments/quickstart.yaml', ...SMOKE, '--set', 'data.test=null', '--runs-dir', runs, '--name', 'smoke', '--quiet']);
  assert.equal(r.code, 0, r.stderr);
  const id = readdirSync(runs)[0];
  assert.match(id, /^\d{8}-\d{6}-smoke-[0-9a-f]{6}$/);
  const ls = await exp(['ls', '--runs-dir', runs]);
  assert.equal(ls.code, 0);
  assert.match(ls.stdout, new RegExp(`${id}\\s+smoke\\s+completed\\s+0\\.\\d{4}`));
  const show = await exp(['show', id.slice(0, 15), '--runs-dir', runs]);
  assert.equal(show.code, 0, show.stderr);
  assert.match(show.stdout, /\(train, completed\)/);
  assert.match(show.stdout, /val\s+tta2\s+species/);
  assert.match(show.stdout, /\ndecoder\s+(libjpeg-turbo|sharp) /, 'which decoder made the pixels');
  assert.match(show.stdout, /\ncpu {8}.+, (x86-64-v\d|\w+|unknown ISA).*, \d+ cores?\n/, 'the CPU: native results depend on its instruction set');
  const nope = await exp(['show', 'no-such-run', '--runs-dir', runs]);
  assert.equal(nope.code, 2);
});

test('statistics are cached across runs by content; --no-cache recomputes them and rebuilds the image cache: same values', async () => {
  const runs = mkdtempSync(join(tmpdir(), 'exp-runs-'));
  const cache = mkdtempSync(join(tmpdir(), 'exp-cache-'));
  const args = ['run', 'experiments/quickstart.yaml', ...SMOKE, '--set', 'data.test=null', '--set', `data.cache.dir=${cache}`,
    '--set', 'train.epochs=1', '--runs-dir', runs, '--backend', 'wasm', '--quiet'];
  const stagesOf = async (name: string) => {
    const r = await exp([...args, '--name', name]);
    assert.equal(r.code, 0, r.stderr);
    const dir = readdirSync(runs).find((d) => d.includes(`-${name}-`))!;
    const run = JSON.parse(readFileSync(join(runs, dir, 'run.json'), 'utf8'));
    return { run, stats: run.stages.find((s: { name: string }) => s.name === 'stats') };
  };
  const first = await stagesOf('first');
  assert.equal(first.stats.cached, false);
  const second = await stagesOf('second');
  assert.equal(second.stats.cached, true, 'same data and resize: the statistics come from the cache');
  assert.deepEqual(second.run.normalize.mean, first.run.normalize.mean);
  const plan = await exp(['plan', 'experiments/quickstart.yaml', '--set', `data.cache.dir=${cache}`, '--set', 'data.image={resize: 36, size: 32}']);
  assert.match(plan.stdout, /Channel mean\/std at 36 px {2}\[cached\]/);
  assert.match(plan.stdout, /Resized-image cache at 36 px {2}\[\d+\/428 images cached\]/, 'the test images were never cached (data.test=null)');
  const r = await exp([...args, '--name', 'third', '--no-cache']);
  assert.equal(r.code, 0, r.stderr);
  const third = JSON.parse(readFileSync(join(runs, readdirSync(runs).find((d) => d.includes('-third-'))!, 'run.json'), 'utf8'));
  assert.equal(third.stages.find((s: { name: string }) => s.name === 'stats').cached, false);
  assert.deepEqual(third.normalize.mean, first.run.normalize.mean, 'recomputed, same values');
});

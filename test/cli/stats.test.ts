// exp stats measures what a run's `normalize: auto` measures: on a hierarchical folders dataset
// (root/family/genus/species/*.jpg, levels detected as exp data inspect detects them), over the
// training images only (the validation split left out), with the same numbers as the run records.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { exp, ROOT, SMOKE } from './helpers.ts';

/** data/sample/train as class folders: <family>/<genus>/<species>/<id>.jpg. */
function foldersDataset(dir: string): number {
  const src = join(ROOT, 'data', 'sample', 'train');
  const meta = JSON.parse(readFileSync(join(src, 'metadata.json'), 'utf8'));
  const cat = new Map<number, { name: string; family: string; genus: string }>(meta.categories.map((c: { id: number }) => [c.id, c]));
  const catOf = new Map<number, number>(meta.annotations.map((a: { image_id: number; category_id: number }) => [a.image_id, a.category_id]));
  for (const img of meta.images as { id: number; file_name: string }[]) {
    const c = cat.get(catOf.get(img.id)!)!;
    const to = join(dir, c.family, c.genus, c.name.replace(/ /g, '_'));
    mkdirSync(to, { recursive: true });
    copyFileSync(join(src, img.file_name), join(to, `${img.id}.jpg`));
  }
  return meta.images.length;
}

test('exp stats on a folders hierarchy: the levels exp data inspect finds, the training images a run measures, its numbers', async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'exp-stats-'));
  const herb = join(tmp, 'herb');
  const total = foldersDataset(herb);
  const inspect = await exp(['data', 'inspect', herb, '--json']);
  assert.equal(inspect.code, 0, inspect.stderr);
  assert.deepEqual(JSON.parse(inspect.stdout).levels, ['species', 'genus', 'family']);

  const experiment = join(tmp, 'folders.yaml');
  writeFileSync(experiment, `extends: ${JSON.stringify(join(ROOT, 'experiments', 'quickstart.yaml'))}\nname: folders\n` +
    'data: { format: folders, train: ./herb, test: null, image: { resize: 36, size: 32 }, normalize: auto }\n');
  // --no-cache: the run computes its statistics itself instead of finding exp stats' cache entry
  const runs = join(tmp, 'runs');
  const r = await exp(['run', experiment, ...SMOKE, '--no-cache', '--runs-dir', runs, '--quiet'], { cwd: tmp });
  assert.equal(r.code, 0, r.stderr);
  const run = JSON.parse(readFileSync(join(runs, readdirSync(runs)[0], 'run.json'), 'utf8'));
  assert.equal(run.normalize.cached, false);
  assert.ok(run.data.counts.train < total, 'the validation split holds images out');

  const byDir = await exp(['stats', herb, '--resize', '36', '--json'], { cwd: tmp });
  assert.equal(byDir.code, 0, byDir.stderr);
  const s = JSON.parse(byDir.stdout);
  assert.equal(s.cached, false);
  assert.equal(s.images, run.data.counts.train);
  assert.equal(s.indexed, total);
  assert.deepEqual({ mean: s.mean, std: s.std }, { mean: run.normalize.mean, std: run.normalize.std });

  const byFile = await exp(['stats', experiment, '--json'], { cwd: tmp });
  assert.equal(byFile.code, 0, byFile.stderr);
  const f = JSON.parse(byFile.stdout);
  assert.equal(f.cached, true, 'the same cache entry as the directory form: same rows, resize and pixels');
  assert.deepEqual([f.mean, f.std], [s.mean, s.std]);

  const text = await exp(['stats', herb, '--resize', '36'], { cwd: tmp });
  assert.match(text.stdout, new RegExp(`^${run.data.counts.train} training images of ${total} \\(${total - run.data.counts.train} left out: validation split\\) at 36 px`));
});

test('exp stats follows data.limit and the split settings; directory options do not apply to an experiment file', async () => {
  const limited = await exp(['stats', 'experiments/quickstart.yaml', '--set', 'data.limit=100', '--set', 'data.cache.enabled=false', '--json']);
  assert.equal(limited.code, 0, limited.stderr);
  const l = JSON.parse(limited.stdout);
  assert.ok(l.rows > 60 && l.rows < 100, `${l.rows} of the first 100 images train`);
  assert.equal(l.cache, null);
  const fraction = await exp(['stats', 'data/sample/train', '--resize', '40', '--set', 'data.val.fraction=0.5', '--set', 'data.cache.enabled=false', '--json']);
  assert.equal(fraction.code, 0, fraction.stderr);
  assert.ok(JSON.parse(fraction.stdout).rows < l.indexed * 0.6);
  const mixed = await exp(['stats', 'experiments/quickstart.yaml', '--resize', '64']);
  assert.equal(mixed.code, 2);
  assert.match(mixed.stderr, /--resize is for a dataset directory; with an experiment file its data\.image\.resize is used \(change it with --set data\.image\.resize=\.\.\.\)/);
  const typo = await exp(['stats', 'data/sample/train', '--set', 'data.val.fractoin=0.5']);
  assert.equal(typo.code, 2);
  assert.match(typo.stderr, /did you mean 'fraction'/);
});

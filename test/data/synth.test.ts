// Synthetic Herbarium-2020-layout datasets: layout, imbalance and byte-for-byte determinism.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import sharp from 'sharp';
import { synthDataset, type SynthOptions } from '../../src/data/synth.ts';

const small: Partial<SynthOptions> = { families: 2, genera: 3, species: 5, imagesPerSpecies: [2, 7], imbalance: 1, testPerSpecies: 2, size: 40, seed: 5 };
const tmp = () => mkdtempSync(join(tmpdir(), 'exp-synth-'));

function files(dir: string): string[] {
  return readdirSync(dir, { recursive: true }).map(String).filter((f) => statSync(join(dir, f)).isFile()).sort();
}

test('writes the Herbarium 2020 layout: labelled train, unlabelled test, every file present', async () => {
  const out = tmp();
  const sum = await synthDataset(out, small);
  const train = JSON.parse(readFileSync(join(out, 'train/metadata.json'), 'utf8'));
  const test_ = JSON.parse(readFileSync(join(out, 'test/metadata.json'), 'utf8'));
  assert.equal(train.images.length, sum.train);
  assert.equal(train.annotations.length, sum.train);
  assert.equal(test_.images.length, 10);
  assert.equal(test_.annotations, undefined);
  assert.equal(test_.categories, undefined);
  assert.deepEqual(Object.keys(train.categories[0]).sort(), ['family', 'genus', 'id', 'name']);
  assert.equal(new Set(train.categories.map((c: { family: string }) => c.family)).size, 2);
  assert.equal(new Set(train.categories.map((c: { genus: string }) => c.genus)).size, 3);
  for (const c of train.categories) assert.ok(c.name.startsWith(`${c.genus} `), 'binomial name');
  const perSpecies = new Map<number, number>();
  for (const a of train.annotations) perSpecies.set(a.category_id, (perSpecies.get(a.category_id) ?? 0) + 1);
  const counts = [...perSpecies.values()].sort((a, b) => a - b);
  assert.equal(counts.length, 5);
  assert.ok(counts[0] >= 2 && counts[4] === 7 && counts[0] < counts[4], `long tail ${counts}`);
  const img = train.images[0];
  const meta = await sharp(join(out, 'train', img.file_name)).metadata();
  assert.deepEqual([meta.format, meta.width, meta.height], ['jpeg', 40, 56]);
  const listed = [...train.images.map((i: { file_name: string }) => `train/${i.file_name}`), ...test_.images.map((i: { file_name: string }) => `test/${i.file_name}`)];
  assert.deepEqual(files(out).filter((f) => f.endsWith('.jpg')), listed.sort());
});

test('same seed, same bytes; another seed, other images', async () => {
  const [a, b, c] = [tmp(), tmp(), tmp()];
  await synthDataset(a, small);
  await synthDataset(b, small);
  await synthDataset(c, { ...small, seed: 6 });
  const fa = files(a);
  assert.deepEqual(files(b), fa);
  for (const f of fa) assert.ok(readFileSync(join(a, f)).equals(readFileSync(join(b, f))), relative(a, join(a, f)));
  assert.ok(!readFileSync(join(a, 'train/metadata.json')).equals(readFileSync(join(c, 'train/metadata.json'))));
  await assert.rejects(synthDataset(a, small), /already holds a dataset/);
});

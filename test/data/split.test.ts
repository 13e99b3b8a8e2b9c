import { test } from 'node:test';
import assert from 'node:assert/strict';
import { splitFromPath, stratifiedSplit } from '../../src/data/split.ts';
import { loadDataset } from '../../src/data/formats/index.ts';
import type { DatasetIndex, Split } from '../../src/data/types.ts';
import { mixKeys } from '../../src/util/rng.ts';
import { SPECIES, imagesOf, tempDir, writeHerbarium2020 } from '../fixtures/data/herbarium.ts';

/** An index with species of the given sizes, image ids scattered, one unlabelled row. */
function makeIndex(sizes: number[]): DatasetIndex {
  const rows: { id: number; c: number }[] = [];
  // an image's id depends only on (species, i), so indexes with fewer species share ids
  sizes.forEach((n, c) => { for (let i = 0; i < n; i++) rows.push({ id: mixKeys(c, i), c }); });
  assert.equal(new Set(rows.map((r) => r.id)).size, rows.length);
  rows.push({ id: 2 ** 33, c: -1 });
  rows.sort((a, b) => a.id - b.id);
  return {
    format: 'herbarium', variant: 'herbarium2020', root: '/x', metadataFiles: [],
    levels: [{ name: 'species', ids: sizes.map((_, c) => c * 3 + 1), names: sizes.map((_, c) => `s${c}`) }],
    ids: rows.map((r) => r.id), files: rows.map((r) => `${r.id}.jpg`), labels: [Int32Array.from(rows.map((r) => r.c))],
  };
}

const SIZES = Array.from({ length: 120 }, (_, i) => 1 + (i % 60));

function perClass(ix: DatasetIndex, rows: Int32Array): number[] {
  const out = new Array(ix.levels[0].ids.length).fill(0);
  for (const r of rows) out[ix.labels[0][r]]++;
  return out;
}

function valIds(ix: DatasetIndex, s: Split): Set<number | string> {
  return new Set(Array.from(s.val, (r) => ix.ids[r]));
}

test('stratified: disjoint, covers every labelled row, fraction per species within rounding, singletons in train', () => {
  const ix = makeIndex(SIZES);
  for (const fraction of [0.2, 0.5, 0.03]) {
    const s = stratifiedSplit(ix, { fraction, seed: 139 });
    const all = [...s.train, ...s.val].sort((a, b) => a - b);
    const labelled = ix.ids.map((_, i) => i).filter((i) => ix.labels[0][i] >= 0);
    assert.deepEqual(all, labelled, 'disjoint and covering (the unlabelled row in neither)');
    const val = perClass(ix, s.val);
    SIZES.forEach((n, c) => {
      if (n === 1) assert.equal(val[c], 0, 'a species with one image stays in train');
      else {
        assert.ok(val[c] >= 1 && val[c] <= n - 1, `species of ${n}: ${val[c]} in val`);
        assert.ok(Math.abs(val[c] - fraction * n) <= 0.5 || val[c] === 1 || val[c] === n - 1, `species of ${n}: ${val[c]} in val at ${fraction}`);
      }
    });
  }
});

test('cap_per_class: val holds at most cap images of a species, the rest of it trains', () => {
  const ix = makeIndex(SIZES);
  const s = stratifiedSplit(ix, { fraction: 0.5, seed: 1, capPerClass: 10 });
  const val = perClass(ix, s.val);
  const train = perClass(ix, s.train);
  SIZES.forEach((n, c) => {
    assert.equal(val[c], n < 2 ? 0 : Math.min(10, n - 1, Math.max(1, Math.round(0.5 * n))));
    assert.equal(val[c] + train[c], n);
  });
  const plain = stratifiedSplit(ix, { fraction: 0.5, seed: 1, capPerClass: 10, stratify: false });
  assert.ok(perClass(ix, plain.val).every((v) => v <= 10));
});

test('deterministic for a seed, different across seeds, and a species does not depend on the others', () => {
  const ix = makeIndex(SIZES);
  const a = stratifiedSplit(ix, { fraction: 0.2, seed: 7 });
  assert.deepEqual(stratifiedSplit(ix, { fraction: 0.2, seed: 7 }), a);
  assert.notDeepEqual(stratifiedSplit(ix, { fraction: 0.2, seed: 8 }).val, a.val);
  // drop the first 10 species: the remaining species' val images are unchanged
  const fewer = makeIndex(SIZES.map((n, c) => (c < 10 ? 0 : n)));
  const b = stratifiedSplit(fewer, { fraction: 0.2, seed: 7 });
  const kept = [...valIds(ix, a)].filter((id) => ix.labels[0][ix.ids.indexOf(id)] >= 10);
  assert.deepEqual(new Set(kept), valIds(fewer, b));
});

test('plain random fraction without stratification', () => {
  const ix = makeIndex(SIZES);
  const labelled = SIZES.reduce((x, y) => x + y, 0);
  const s = stratifiedSplit(ix, { fraction: 0.25, seed: 3, stratify: false });
  assert.equal(s.val.length, Math.round(0.25 * labelled));
  assert.equal(s.train.length + s.val.length, labelled);
  assert.throws(() => stratifiedSplit(ix, { fraction: 1, seed: 3 }), /val.fraction must be between 0 and 1/);
});

test('the same data in a different metadata order gives the same validation images', async () => {
  const many = SPECIES.map((s) => ({ ...s, images: s.images * 4 }));
  const a = tempDir();
  const b = tempDir();
  writeHerbarium2020(a, { species: many });
  writeHerbarium2020(b, { species: many, images: imagesOf(many).reverse() });
  const ia = await loadDataset('herbarium', a, ['species'], 'train');
  const ib = await loadDataset('herbarium', b, ['species'], 'train');
  for (const stratify of [true, false]) {
    const sa = stratifiedSplit(ia, { fraction: 0.3, seed: 139, stratify });
    const sb = stratifiedSplit(ib, { fraction: 0.3, seed: 139, stratify });
    assert.deepEqual(valIds(ia, sa), valIds(ib, sb));
  }
  // an index whose rows are not sorted by id splits the same way
  const order = ia.ids.map((_, i) => ia.ids.length - 1 - i);
  const rev: DatasetIndex = { ...ia, ids: order.map((i) => ia.ids[i]), files: order.map((i) => ia.files[i]), labels: ia.labels.map((l) => Int32Array.from(order, (i) => l[i])) };
  assert.deepEqual(valIds(rev, stratifiedSplit(rev, { fraction: 0.3, seed: 139 })), valIds(ia, stratifiedSplit(ia, { fraction: 0.3, seed: 139 })));
});

test('val.path: a second root of the same format, in the training classes', async () => {
  const trainDir = tempDir();
  const valDir = tempDir();
  writeHerbarium2020(trainDir);
  // the validation set lacks two species and numbers its images differently
  writeHerbarium2020(valDir, { species: SPECIES.filter((s) => s.id === 30 || s.id === 7) });
  const train = await loadDataset('herbarium', trainDir, ['species', 'genus'], 'train');
  const val = await splitFromPath(train, valDir);
  assert.equal(val.levels, train.levels);
  const sp = new Set(Array.from(val.labels[0], (c) => train.levels[0].ids[c]));
  assert.deepEqual(sp, new Set([7, 30]));
  const unknown = tempDir();
  writeHerbarium2020(unknown, { species: [{ ...SPECIES[0], id: 99 }] });
  await assert.rejects(splitFromPath(train, unknown), /do not occur in the training set/);
});

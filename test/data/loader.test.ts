// BatchLoader: batching, ordering, determinism under any concurrency, TTA views, the image cache,
// and every kind of bad file under both on_bad_image policies.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { BatchLoader, type LoadedBatch, type LoaderOptions } from '../../src/data/loader.ts';
import { ImageCache } from '../../src/data/cache.ts';
import { UserError } from '../../src/errors.ts';
import { Rng } from '../../src/util/rng.ts';
import type { DatasetIndex } from '../../src/data/types.ts';

const root = mkdtempSync(join(tmpdir(), 'exp-loader-'));
mkdirSync(join(root, 'images'));

/** n images of 24 x 32 whose blue channel is 10 * row, so a batch's content names its rows. */
async function dataset(n: number): Promise<DatasetIndex> {
  const files: string[] = [];
  for (let r = 0; r < n; r++) {
    const data = Buffer.alloc(24 * 32 * 3);
    for (let i = 0; i < 24 * 32; i++) data.set([(i % 24) * 10, Math.floor(i / 24) * 7, r * 10], i * 3);
    const f = `images/${r}.png`;
    writeFileSync(join(root, f), await sharp(data, { raw: { width: 24, height: 32, channels: 3 } }).png().toBuffer());
    files.push(f);
  }
  return {
    format: 'folders', variant: 'folders', root, ids: files.map((_, r) => 100 + r), files,
    levels: [{ name: 'species', ids: [0, 1, 2], names: ['a', 'b', 'c'] }],
    labels: [Int32Array.from(files, (_, r) => r % 3)], metadataFiles: [join(root, 'metadata.json')],
  };
}

const base = (rows: number[], extra: Partial<LoaderOptions> = {}): LoaderOptions => ({
  rows: Int32Array.from(rows), batchSize: 3, seed: 11, epoch: 2, image: { resize: 24, size: 16 },
  augment: { random_crop: true, hflip: true, vflip: true }, normalize: { mean: [0, 0, 0], std: [1, 1, 1] }, ...extra,
});

async function collect(l: BatchLoader): Promise<LoadedBatch[]> {
  const out: LoadedBatch[] = [];
  for await (const b of l) out.push(b);
  return out;
}
const blue = (b: LoadedBatch, i: number, v = 0): number => Math.round(b.x[(v * b.rows.length + i) * b.size * b.size * 3 + 2] * 255);

test('batches keep the last partial batch, labels and pixels follow the rows', async () => {
  const idx = await dataset(7);
  const batches = await collect(new BatchLoader(idx, base([0, 1, 2, 3, 4, 5, 6])));
  assert.deepEqual(batches.map((b) => b.rows.length), [3, 3, 1]);
  assert.deepEqual(batches.flatMap((b) => [...b.rows]), [0, 1, 2, 3, 4, 5, 6]);
  for (const b of batches) {
    assert.equal(b.x.length, b.rows.length * 16 * 16 * 3);
    b.rows.forEach((r, i) => {
      assert.equal(b.labels[0][i], r % 3);
      assert.equal(blue(b, i), r * 10);
    });
  }
});

test('shuffle uses Rng(seed, epoch); concurrency and prefetch do not change the batches', async () => {
  const idx = await dataset(7);
  const rows = [0, 1, 2, 3, 4, 5, 6];
  const a = await collect(new BatchLoader(idx, base(rows, { shuffle: true, concurrency: 1, prefetch: 1 })));
  const b = await collect(new BatchLoader(idx, base(rows, { shuffle: true, concurrency: 6, prefetch: 3 })));
  const expected = Array.from(new Rng(11, 2).shuffle(Int32Array.from(rows)));
  assert.deepEqual(a.flatMap((x) => [...x.rows]), expected);
  assert.deepEqual(a, b);
  const other = await collect(new BatchLoader(idx, base(rows, { shuffle: true, epoch: 3 })));
  assert.notDeepEqual(other.flatMap((x) => [...x.rows]), expected);
});

test('TTA views: view 0 is the plain centre crop, later views are augmented', async () => {
  const idx = await dataset(4);
  const [tta] = await collect(new BatchLoader(idx, base([0, 1, 2], { views: 3 })));
  const [plain] = await collect(new BatchLoader(idx, base([0, 1, 2], { augment: null })));
  const per = 3 * 16 * 16 * 3;
  assert.equal(tta.views, 3);
  assert.equal(tta.x.length, 3 * per);
  assert.deepEqual(tta.x.subarray(0, per), plain.x);
  assert.notDeepEqual(tta.x.subarray(per, 2 * per), plain.x);
});

test('reading through the image cache gives the same batches as the originals (PNG)', async () => {
  const idx = await dataset(4);
  const cache = new ImageCache(24, { dir: join(root, 'cache'), format: 'raw' });
  const a = await collect(new BatchLoader(idx, base([0, 1, 2, 3])));
  const b = await collect(new BatchLoader(idx, base([0, 1, 2, 3], { cache })));
  const c = await collect(new BatchLoader(idx, base([0, 1, 2, 3], { cache }))); // all hits now
  assert.deepEqual(b, a);
  assert.deepEqual(c, a);
});

async function badDataset(): Promise<DatasetIndex> {
  const idx = await dataset(6);
  const jpeg = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#000', noise: { type: 'gaussian', mean: 128, sigma: 40 } } }).jpeg().toBuffer();
  writeFileSync(join(root, 'images/1.png'), ''); // empty
  writeFileSync(join(root, 'images/trunc.jpg'), jpeg.subarray(0, jpeg.length >> 1));
  writeFileSync(join(root, 'images/text.jpg'), 'this is not an image\n');
  idx.files[2] = 'images/trunc.jpg';
  idx.files[3] = 'images/text.jpg';
  idx.files[4] = 'images/missing.jpg';
  return idx;
}

test('on_bad_image: fail names the file, the image id and the metadata, for each kind', async () => {
  const idx = await badDataset();
  const cases: [number, string, RegExp][] = [
    [1, '1.png', /empty/], [2, 'trunc.jpg', /truncated or corrupt/], [3, 'text.jpg', /not an image/], [4, 'missing.jpg', /missing/],
  ];
  for (const [row, name, reason] of cases) {
    await assert.rejects(collect(new BatchLoader(idx, base([0, row], { onBadImage: 'fail' }))), (e: unknown) => {
      assert.ok(e instanceof UserError, String(e));
      assert.match(e.message, new RegExp(name.replace('.', '\\.')));
      assert.match(e.message, new RegExp(`image id ${100 + row}\\b`));
      assert.match(e.message, /metadata\.json/);
      assert.match(e.message, reason);
      return true;
    });
  }
});

test('on_bad_image: skip drops each kind of bad file from its batch and records it', async () => {
  const idx = await badDataset();
  for (const cache of [null, new ImageCache(24, { dir: join(root, 'cache2') })]) {
    const loader = new BatchLoader(idx, base([0, 1, 2, 3, 4, 5], { onBadImage: 'skip', batchSize: 4, cache }));
    const batches = await collect(loader);
    assert.deepEqual(batches.map((b) => [...b.rows]), [[0], [5]]);
    assert.equal(blue(batches[1], 0), 50);
    assert.deepEqual(loader.skipped.map((s) => [s.row, s.reason]).sort(),
      [[1, 'empty'], [2, 'truncated or corrupt'], [3, 'not an image'], [4, 'missing']]);
  }
});

test('a file name escaping the dataset root is refused', async () => {
  const idx = await dataset(2);
  idx.files[1] = '../outside.png';
  await assert.rejects(collect(new BatchLoader(idx, base([0, 1], { onBadImage: 'skip' }))), /outside the dataset root/);
  idx.files[1] = '/etc/passwd';
  await assert.rejects(collect(new BatchLoader(idx, base([0, 1], { onBadImage: 'skip' }))), /outside the dataset root/);
});

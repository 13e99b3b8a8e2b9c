// BatchLoader: batching, ordering, determinism under any concurrency, TTA views, the image cache,
// every kind of bad file under both on_bad_image policies, each on the main thread and in the
// loader's worker thread, and the worker thread's own cases.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { BatchLoader, type LoadedBatch, type LoaderOptions } from '../../src/data/loader.ts';
import { ImageCache, cacheStatus, contentKey } from '../../src/data/cache.ts';
import { loaderThreadRunning, stopLoaderThread } from '../../src/data/loader-thread.ts';
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

const options = (worker: boolean) => (rows: number[], extra: Partial<LoaderOptions> = {}): LoaderOptions => ({
  rows: Int32Array.from(rows), batchSize: 3, seed: 11, epoch: 2, image: { resize: 24, size: 16 },
  augment: { random_crop: true, hflip: true, vflip: true }, normalize: { mean: [0, 0, 0], std: [1, 1, 1] }, worker, ...extra,
});

async function collect(l: BatchLoader): Promise<LoadedBatch[]> {
  const out: LoadedBatch[] = [];
  for await (const b of l) out.push(b);
  return out;
}
const blue = (b: LoadedBatch, i: number, v = 0): number => Math.round(b.x[(v * b.rows.length + i) * b.size * b.size * 3 + 2] * 255);

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

for (const worker of [false, true]) {
  const on = worker ? ' (worker thread)' : ' (main thread)';
  const base = options(worker);

  test(`batches keep the last partial batch, labels and pixels follow the rows${on}`, async () => {
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

  test(`shuffle uses Rng(seed, epoch); concurrency and prefetch do not change the batches${on}`, async () => {
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

  test(`TTA views: view 0 is the plain centre crop, later views are augmented${on}`, async () => {
    const idx = await dataset(4);
    const [tta] = await collect(new BatchLoader(idx, base([0, 1, 2], { views: 3 })));
    const [plain] = await collect(new BatchLoader(idx, base([0, 1, 2], { augment: null })));
    const per = 3 * 16 * 16 * 3;
    assert.equal(tta.views, 3);
    assert.equal(tta.x.length, 3 * per);
    assert.deepEqual(tta.x.subarray(0, per), plain.x);
    assert.notDeepEqual(tta.x.subarray(per, 2 * per), plain.x);
  });

  test(`reading through the image cache gives the same batches as the originals (PNG)${on}`, async () => {
    const idx = await dataset(4);
    const cache = new ImageCache(24, { dir: join(root, 'cache'), format: 'raw' });
    const a = await collect(new BatchLoader(idx, base([0, 1, 2, 3])));
    const b = await collect(new BatchLoader(idx, base([0, 1, 2, 3], { cache })));
    const c = await collect(new BatchLoader(idx, base([0, 1, 2, 3], { cache }))); // all hits now
    assert.deepEqual(b, a);
    assert.deepEqual(c, a);
  });

  test(`on_bad_image: fail names the file, the image id and the metadata, for each kind${on}`, async () => {
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

  test(`on_bad_image: skip drops each kind of bad file from its batch and records it${on}`, async () => {
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

  test(`a file name escaping the dataset root is refused${on}`, async () => {
    const idx = await dataset(2);
    idx.files[1] = '../outside.png';
    await assert.rejects(collect(new BatchLoader(idx, base([0, 1], { onBadImage: 'skip' }))), /outside the dataset root/);
    idx.files[1] = '/etc/passwd';
    await assert.rejects(collect(new BatchLoader(idx, base([0, 1], { onBadImage: 'skip' }))), /outside the dataset root/);
  });
}

/** n JPEGs of 40 x 30 with noise (so crops, flips and jitter all show in the pixels). */
async function jpegDataset(n: number): Promise<DatasetIndex> {
  const idx = await dataset(n);
  for (let r = 0; r < n; r++) {
    const f = `images/j${r}.jpg`;
    writeFileSync(join(root, f), await sharp({ create: { width: 40, height: 30, channels: 3, background: { r: 20 * r, g: 90, b: 160 }, noise: { type: 'gaussian', mean: 100 + r, sigma: 30 } } }).jpeg().toBuffer());
    idx.files[r] = f;
  }
  return idx;
}

test('the worker thread gives the main thread\'s batches bit for bit (JPEG, TTA, jitter, image cache)', async () => {
  const idx = await jpegDataset(7);
  const rows = [0, 1, 2, 3, 4, 5, 6];
  const augment = { random_resized_crop: { enabled: true }, hflip: true, color_jitter: { enabled: true, brightness: 0.3, contrast: 0.3, saturation: 0.3, hue: 0.05 } };
  for (const extra of [{ views: 1 }, { views: 3 }, { cache: new ImageCache(24, { dir: join(root, 'cache-jpeg') }) }] as Partial<LoaderOptions>[]) {
    const main = await collect(new BatchLoader(idx, options(false)(rows, { shuffle: true, augment, ...extra })));
    const worker = await collect(new BatchLoader(idx, options(true)(rows, { shuffle: true, augment, ...extra })));
    assert.equal(loaderThreadRunning(), true);
    assert.equal(main.length, 3);
    assert.deepEqual(worker, main);
  }
});

test('an image cache entry deleted during a run is made again, and content keys reach the main thread, in either thread', async () => {
  const idx = await jpegDataset(4);
  for (const worker of [false, true]) {
    const dir = mkdtempSync(join(tmpdir(), 'exp-loader-cache-'));
    const cache = new ImageCache(24, { dir });
    const first = await collect(new BatchLoader(idx, options(worker)([0, 1, 2, 3], { cache })));
    // the content keys end up in the main thread's cache, whichever thread computed them
    for (const f of idx.files.slice(0, 4)) assert.equal(cache.knownKey(join(root, f)), await contentKey(join(root, f)));
    rmSync(join(dir, 'images'), { recursive: true });
    const again = await collect(new BatchLoader(idx, options(worker)([0, 1, 2, 3], { cache })));
    assert.deepEqual(again, first);
    assert.equal((await cacheStatus(idx, 24, { dir, rows: Int32Array.from([0, 1, 2, 3]) })).present, 4);
  }
});

test('stopping the loader thread fails the batches in flight; the next loader starts a new one', async () => {
  const idx = await jpegDataset(6);
  const it = new BatchLoader(idx, options(true)([0, 1, 2, 3, 4, 5], { batchSize: 2 }))[Symbol.asyncIterator]();
  await it.next();
  await stopLoaderThread();
  assert.equal(loaderThreadRunning(), false);
  await assert.rejects(async () => { for (let r = await it.next(); !r.done; r = await it.next()); }, /image loader \(worker thread\) was stopped/);
  const batches = await collect(new BatchLoader(idx, options(true)([0, 1, 2, 3, 4, 5], { batchSize: 2 })));
  assert.deepEqual(batches.map((b) => [...b.rows]), [[0, 1], [2, 3], [4, 5]]);
  assert.equal(loaderThreadRunning(), true);
});

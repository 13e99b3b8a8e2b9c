// Dataset statistics against a direct computation, and their cache.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { computeStats } from '../../src/data/stats.ts';
import { decodeResized } from '../../src/data/image.ts';
import { ImageCache } from '../../src/data/cache.ts';
import { UserError } from '../../src/errors.ts';
import type { DatasetIndex } from '../../src/data/types.ts';

const root = mkdtempSync(join(tmpdir(), 'exp-stats-'));
mkdirSync(join(root, 'img'));

async function setup(): Promise<DatasetIndex> {
  const files: string[] = [];
  for (let i = 0; i < 7; i++) {
    const w = 40 + i * 9;
    const h = 50 + ((i * 13) % 30);
    const buf = await sharp({ create: { width: w, height: h, channels: 3, background: '#000', noise: { type: 'gaussian', mean: 60 + i * 20, sigma: 25 + i } } })
      .linear([1, 0.7, 1.2], [0, 20, -10]).jpeg().toBuffer();
    files.push(`img/${i}.jpg`);
    writeFileSync(join(root, files[i]), buf);
  }
  return {
    format: 'folders', variant: 'folders', root, files, ids: files.map((_, i) => i),
    levels: [{ name: 'species', ids: [0], names: ['a'] }], labels: [new Int32Array(files.length)], metadataFiles: [],
  };
}

async function direct(idx: DatasetIndex, rows: number[], resize: number): Promise<{ mean: number[]; std: number[] }> {
  const vals: number[][] = [[], [], []];
  for (const r of rows) {
    const img = await decodeResized(join(idx.root, idx.files[r]), resize);
    for (let i = 0; i < img.data.length; i++) vals[i % 3].push(img.data[i] / 255);
  }
  const mean = vals.map((v) => v.reduce((a, b) => a + b, 0) / v.length);
  const std = vals.map((v, c) => Math.sqrt(v.reduce((a, b) => a + (b - mean[c]) ** 2, 0) / v.length));
  return { mean, std };
}

test('mean and std equal a direct computation over all pixels at the resize size', async () => {
  const idx = await setup();
  const rows = [0, 2, 3, 5, 6];
  const want = await direct(idx, rows, 32);
  const got = await computeStats(idx, Int32Array.from(rows), { resize: 32, concurrency: 3, cacheDir: null });
  assert.equal(got.images, 5);
  assert.equal(got.cached, false);
  for (let c = 0; c < 3; c++) {
    assert.ok(Math.abs(got.mean[c] - want.mean[c]) < 1e-9, `mean ${got.mean[c]} vs ${want.mean[c]}`);
    assert.ok(Math.abs(got.std[c] - want.std[c]) < 1e-9, `std ${got.std[c]} vs ${want.std[c]}`);
  }
  assert.ok(got.mean[1] < got.mean[0] || got.mean[1] !== got.mean[2], 'channels differ');
});

test('results are cached by image list and resize; concurrency does not change them', async () => {
  const idx = await setup();
  const cacheDir = join(root, 'cache');
  const rows = Int32Array.from([0, 1, 2, 3, 4, 5, 6]);
  const a = await computeStats(idx, rows, { resize: 24, concurrency: 1, cacheDir });
  const b = await computeStats(idx, rows, { resize: 24, concurrency: 4, cacheDir });
  assert.deepEqual([a.cached, b.cached], [false, true]);
  assert.deepEqual(b.mean, a.mean);
  const c = await computeStats(idx, rows, { resize: 24, concurrency: 4, cacheDir: null });
  assert.deepEqual(c.mean, a.mean, 'same numbers with another concurrency');
  assert.equal((await computeStats(idx, rows, { resize: 28, cacheDir })).cached, false);
  assert.equal((await computeStats(idx, rows.subarray(1), { resize: 24, cacheDir })).cached, false);
  const viaCache = await computeStats(idx, rows, { resize: 24, cacheDir: null, imageCache: new ImageCache(24, { dir: cacheDir, format: 'raw' }) });
  assert.deepEqual(viaCache.std, a.std, 'raw image cache holds the same pixels');
  // statistics read from the JPEG image cache are those of the re-encoded pixels: a separate entry,
  // so a run reading the cache never gets numbers computed from the originals (or the reverse)
  const jpegCache = new ImageCache(24, { dir: cacheDir });
  const fromJpeg = await computeStats(idx, rows, { resize: 24, cacheDir, imageCache: jpegCache });
  assert.equal(fromJpeg.cached, false, 'not served the entry computed from the originals');
  assert.notDeepEqual(fromJpeg.mean, a.mean);
  assert.equal((await computeStats(idx, rows, { resize: 24, cacheDir, imageCache: jpegCache })).cached, true);
  assert.deepEqual((await computeStats(idx, rows, { resize: 24, cacheDir })).mean, a.mean);
});

test('a bad image fails the statistics unless skipped', async () => {
  const idx = await setup();
  writeFileSync(join(root, 'img/2.jpg'), '');
  const rows = Int32Array.from([0, 1, 2]);
  await assert.rejects(computeStats(idx, rows, { resize: 24, cacheDir: null }), (e) => e instanceof UserError && /2\.jpg.*empty/.test(e.message));
  const s = await computeStats(idx, rows, { resize: 24, cacheDir: null, onBadImage: 'skip' });
  assert.equal(s.images, 2);
});

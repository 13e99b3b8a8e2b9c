// The resized-image cache: content keys, hits and misses, both formats, status and warm-up.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { ImageCache, cacheStatus, contentKey, warmCache } from '../../src/data/cache.ts';
import { decodeResized } from '../../src/data/image.ts';
import type { DatasetIndex } from '../../src/data/types.ts';

const root = mkdtempSync(join(tmpdir(), 'exp-cache-'));
mkdirSync(join(root, 'img'));

async function jpeg(name: string, seed: number, w = 120, h = 90): Promise<string> {
  const buf = await sharp({ create: { width: w, height: h, channels: 3, background: '#000', noise: { type: 'gaussian', mean: 100 + seed, sigma: 30 } } }).jpeg().toBuffer();
  writeFileSync(join(root, name), buf);
  return join(root, name);
}

function index(files: string[]): DatasetIndex {
  return {
    format: 'folders', variant: 'folders', root, files, ids: files.map((_, i) => i),
    levels: [{ name: 'species', ids: [0], names: ['a'] }], labels: [new Int32Array(files.length)], metadataFiles: [],
  };
}

test('content keys depend on the bytes, not on the path', async () => {
  const a = await jpeg('img/a.jpg', 1);
  copyFileSync(a, join(root, 'img/copy.jpg'));
  assert.equal(await contentKey(a), await contentKey(join(root, 'img/copy.jpg')));
  const bytes = readFileSync(a);
  bytes[bytes.length - 10] ^= 0xff; // a change in the tail
  writeFileSync(join(root, 'img/changed.jpg'), bytes);
  assert.notEqual(await contentKey(a), await contentKey(join(root, 'img/changed.jpg')));
});

test('a miss writes the entry at the resize size; a hit reuses it', async () => {
  const a = await jpeg('img/m.jpg', 2);
  const cache = new ImageCache(40, { dir: join(root, 'c1') });
  assert.equal(await cache.has(a), false);
  const p1 = await cache.ensure(a);
  assert.equal(typeof p1, 'string');
  const meta = await sharp(p1 as string).metadata();
  assert.deepEqual([meta.format, meta.width, meta.height], ['jpeg', 53, 40]);
  const before = statSync(p1 as string).mtimeMs;
  assert.equal(await cache.has(a), true);
  assert.equal(await new ImageCache(40, { dir: join(root, 'c1') }).ensure(a), p1); // another run
  assert.equal(statSync(p1 as string).mtimeMs, before);
  assert.notEqual(new ImageCache(64, { dir: join(root, 'c1') }).dir, cache.dir, 'one folder per resize');
});

test('raw entries hold exactly the decoded, resized pixels', async () => {
  const a = await jpeg('img/r.jpg', 3);
  const cache = new ImageCache(40, { dir: join(root, 'c2'), format: 'raw' });
  const miss = await cache.ensure(a);
  const hit = await new ImageCache(40, { dir: join(root, 'c2'), format: 'raw' }).ensure(a);
  const direct = await decodeResized(a, 40);
  for (const r of [miss, hit]) {
    assert.ok(typeof r !== 'string');
    assert.deepEqual([r.width, r.height], [direct.width, direct.height]);
    assert.ok(Buffer.from(r.data).equals(Buffer.from(direct.data)));
  }
});

test('cacheStatus counts present entries; warmCache fills them and reports bad sources', async () => {
  const files = ['img/w0.jpg', 'img/w1.jpg', 'img/w2.jpg'];
  for (let i = 0; i < 3; i++) await jpeg(files[i], 10 + i);
  writeFileSync(join(root, 'img/bad.jpg'), 'not an image');
  const idx = index([...files, 'img/bad.jpg', 'img/none.jpg']);
  const dir = join(root, 'c3');
  assert.deepEqual(await cacheStatus(idx, 32, { dir }), { dir: new ImageCache(32, { dir }).dir, present: 0, total: 5, ready: false });
  const progress: number[] = [];
  const res = await warmCache(idx, 32, { dir, onProgress: (d) => progress.push(d) });
  assert.equal(res.cached, 3);
  assert.deepEqual(res.bad.map((b) => [b.row, b.reason]), [[3, 'not an image'], [4, 'missing']]);
  assert.deepEqual(progress.sort((a, b) => a - b), [1, 2, 3, 4, 5]);
  const st = await cacheStatus(idx, 32, { dir, rows: Int32Array.from([0, 1, 2]) });
  assert.deepEqual([st.present, st.total, st.ready], [3, 3, true]);
  assert.ok(existsSync(st.dir));
});

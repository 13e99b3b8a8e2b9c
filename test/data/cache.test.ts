// The resized-image cache: content keys, hits and misses, both formats, status and warm-up.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { ImageCache, cacheStatus, contentKey, forEachLimit, warmCache, type WarmProgress } from '../../src/data/cache.ts';
import { UserError } from '../../src/errors.ts';
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
  const res = await warmCache(idx, 32, { dir, onBadImage: 'skip', onProgress: (q) => progress.push(q.done) });
  assert.equal(res.cached, 3);
  assert.deepEqual(res.bad.map((b) => [b.row, b.reason]), [[3, 'not an image'], [4, 'missing']]);
  assert.deepEqual(progress.sort((a, b) => a - b), [1, 2, 3, 4, 5]);
  const st = await cacheStatus(idx, 32, { dir, rows: Int32Array.from([0, 1, 2]) });
  assert.deepEqual([st.present, st.total, st.ready], [3, 3, true]);
  assert.ok(existsSync(st.dir));
});

test('warmCache says what it resized and what was already cached', async () => {
  const files = ['img/h0.jpg', 'img/h1.jpg', 'img/h2.jpg'];
  for (let i = 0; i < 3; i++) await jpeg(files[i], 20 + i);
  const idx = index(files);
  const dir = join(root, 'c4');
  const cold: WarmProgress[] = [];
  const first = await warmCache(idx, 32, { dir, rows: Int32Array.from([0, 1]), concurrency: 1, onProgress: (q) => cold.push(q) });
  assert.deepEqual([first.cached, first.written], [2, 2]);
  assert.deepEqual(cold.map((q) => [q.done, q.written]), [[1, 1], [2, 2]]);
  const warm: WarmProgress[] = [];
  const second = await warmCache(idx, 32, { dir, concurrency: 1, onProgress: (q) => warm.push(q) });
  assert.deepEqual([second.cached, second.written], [3, 1], 'only the new image is resized');
  assert.deepEqual(warm.map((q) => [q.done, q.written]), [[1, 0], [2, 0], [3, 1]]);
  const again = await warmCache(idx, 32, { dir });
  assert.equal(again.written, 0);
  const cache = new ImageCache(32, { dir });
  assert.equal((await cache.lookup(join(root, files[0]))).hit, true);
});

test('warmCache under on_bad_image: fail stops at the first bad image and names it', async () => {
  const files = ['img/f0.jpg', 'img/f1.jpg', 'img/f2.jpg', 'img/f3.jpg'];
  for (let i = 0; i < 4; i++) await jpeg(files[i], 30 + i);
  const good = readFileSync(join(root, files[0]));
  writeFileSync(join(root, 'img/f1.jpg'), good.subarray(0, good.length >> 1)); // truncated
  const idx = { ...index(files), ids: [501, 502, 503, 504], metadataFiles: [join(root, 'metadata.json')] };
  const dir = join(root, 'c5');
  let seen = 0;
  await assert.rejects(warmCache(idx, 32, { dir, concurrency: 1, onProgress: () => seen++ }), (e: unknown) => {
    assert.ok(e instanceof UserError, String(e));
    assert.match(e.message, /img\/f1\.jpg \(image id 502, row 1 listed in .*metadata\.json\) is truncated or corrupt/);
    assert.match(e.message, /data\.on_bad_image: skip/);
    return true;
  });
  assert.equal(seen, 1, 'no progress past the bad image');
  const st = await cacheStatus(idx, 32, { dir });
  assert.equal(st.present, 1, 'nothing after the bad image was resized');
  const skipped = await warmCache(idx, 32, { dir, onBadImage: 'skip' });
  assert.deepEqual(skipped.bad.map((b) => [b.file, b.reason]), [['img/f1.jpg', 'truncated or corrupt']]);
  assert.match(skipped.bad[0].detail, /end-of-image/);
});

test('forEachLimit starts nothing after a failure and rejects with it', async () => {
  const started: number[] = [];
  await assert.rejects(forEachLimit(20, 3, async (i) => {
    started.push(i);
    await new Promise((r) => setTimeout(r, 1));
    if (i === 4) throw new Error('boom');
  }), /boom/);
  assert.ok(Math.max(...started) <= 4 + 3, `started ${started}`);
  await new Promise((r) => setTimeout(r, 20));
  assert.ok(Math.max(...started) <= 4 + 3, 'nothing started after the rejection either');
});

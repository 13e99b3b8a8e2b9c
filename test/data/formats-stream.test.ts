import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileIsUtf8, readMetadata, ROOT_ARRAY_KEY } from '../../src/data/metadata-stream.ts';
import { UserError } from '../../src/errors.ts';
import { tempDir } from '../fixtures/data/herbarium.ts';

const DOC = {
  images: [
    { id: 1, file_name: 'images/0/1.jpg', width: 661, height: 1000, license: 0 },
    { id: -2, file_name: 'a "quoted" \\ back\\slash\ttab \u00e9\u4e2d\ud83c\udf3f', width: 1.5, height: -3e-4 },
    { id: 12345678901234, file_name: '', extra: null, ok: true, no: false, big: 1e300 },
  ],
  annotations: [],
  categories: [{ id: 0, name: 'Aa calceata (Rchb.f.) Schltr.', family: 'Orchidaceae', genus: 'Aa' }],
  info: { year: 2020, nested: { deep: [1, [2, { x: 'y' }]] } },
  empty: {},
  n: 42,
};

function file(text: string | Buffer): string {
  const f = join(tempDir(), 'metadata.json');
  writeFileSync(f, text);
  return f;
}

test('streaming reader equals JSON.parse, with every chunk boundary', async () => {
  for (const text of [JSON.stringify(DOC), JSON.stringify(DOC, null, 2)]) {
    const f = file(text);
    const whole = await readMetadata(f);
    assert.equal(whole.streamed, false);
    assert.deepEqual(whole.data, JSON.parse(text));
    for (const chunkBytes of [1, 2, 3, 5, 7, 16, 1 << 20]) {
      const s = await readMetadata(f, { streamThresholdBytes: 0, chunkBytes });
      assert.equal(s.streamed, true);
      assert.equal(s.encoding, 'utf-8');
      assert.deepEqual(s.data, whole.data, `chunk ${chunkBytes}`);
      assert.deepEqual(s.keys, whole.keys);
    }
  }
});

test('latin-1 files decode byte for byte on both paths; a UTF-8 BOM is dropped', async () => {
  const text = JSON.stringify({ categories: [{ name: 'Lindé ×ö' }], images: [] });
  const f = file(Buffer.from(text, 'latin1'));
  for (const threshold of [undefined, 0]) {
    const d = await readMetadata(f, { streamThresholdBytes: threshold, chunkBytes: 3 });
    assert.equal(d.encoding, 'latin1');
    assert.deepEqual(d.data, JSON.parse(text));
  }
  const bom = file(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text, 'utf8')]));
  for (const threshold of [undefined, 0]) {
    const d = await readMetadata(bom, { streamThresholdBytes: threshold, chunkBytes: 2 });
    assert.equal(d.encoding, 'utf-8');
    assert.deepEqual(d.data, JSON.parse(text));
  }
});

test('keys, fields and a top-level array', async () => {
  const f = file(JSON.stringify(DOC));
  const s = await readMetadata(f, { streamThresholdBytes: 0, keys: ['images', 'categories'], fields: { images: ['id'] } });
  assert.deepEqual(Object.keys(s.data), ['images', 'categories']);
  assert.deepEqual(s.data.images, [{ id: 1 }, { id: -2 }, { id: 12345678901234 }]);
  assert.deepEqual(s.keys, Object.keys(DOC)); // every key seen, kept or not
  const arr = [{ image_id: 'test-0', file_name: '000/test-0.jpg' }];
  const g = file(JSON.stringify(arr));
  for (const threshold of [undefined, 0]) {
    assert.deepEqual((await readMetadata(g, { streamThresholdBytes: threshold })).data, { [ROOT_ARRAY_KEY]: arr });
  }
});

test('truncated or invalid JSON is a UserError naming the file, on both paths', async () => {
  const text = JSON.stringify(DOC);
  for (const bad of [text.slice(0, text.length / 2), text.replace('"images":[', '"images":[}'), text + 'x', '']) {
    const f = file(bad);
    for (const threshold of [undefined, 0]) {
      await assert.rejects(readMetadata(f, { streamThresholdBytes: threshold, chunkBytes: 64 }), (e: Error) => {
        assert.ok(e instanceof UserError, `${e}`);
        assert.ok(e.message.includes(f));
        return true;
      });
    }
  }
});

test('UTF-8 validation across chunk boundaries', async () => {
  const text = 'ab\u00e9\u4e2d\ud83c\udf3f'.repeat(5);
  const good = file(Buffer.from(text, 'utf8'));
  const bad = file(Buffer.concat([Buffer.from(text, 'utf8'), Buffer.from([0xe9, 0x22])]));
  const cutChar = file(Buffer.from(text, 'utf8').subarray(0, 5)); // ends inside a character
  for (const chunk of [8, 9, 10, 11, 12, 13, 64]) {
    assert.equal(await fileIsUtf8(good, chunk), true, `chunk ${chunk}`);
    assert.equal(await fileIsUtf8(bad, chunk), false, `chunk ${chunk}`);
    assert.equal(await fileIsUtf8(cutChar, chunk), false, `chunk ${chunk}`);
  }
});

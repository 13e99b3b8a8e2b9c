// The run's record of images left out under data.on_bad_image: skip: counted once per split
// however often they are met, listed in dataset order up to a cap with the full count kept, and
// written into run.json in the shape its schema describes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { BadImages, BAD_IMAGES_LISTED } from '../../src/stages/bad-images.ts';
import { createRun } from '../../src/runs/record.ts';
import { validateRun, schemaErrors, validator } from '../../src/runs/schemas.ts';
import { runOptions } from '../runs/helpers.ts';

const bad = (row: number, reason = 'truncated or corrupt') => ({ row, file: `images/${row}.jpg`, reason, detail: reason === 'empty' ? '0 bytes' : '' });

test('an image met again counts once; splits are kept apart; the list is in row order', () => {
  const b = new BadImages();
  for (const r of [9, 3, 7, 3, 9]) b.add('train', bad(r));
  b.add('val', bad(3, 'empty'));
  assert.equal(b.count('train'), 3);
  assert.equal(b.count(), 4);
  assert.deepEqual(b.toRecord(), {
    train: { count: 3, files: [3, 7, 9].map((r) => ({ file: `images/${r}.jpg`, reason: 'truncated or corrupt' })) },
    val: { count: 1, files: [{ file: 'images/3.jpg', reason: 'empty', detail: '0 bytes' }] },
  });
});

test('a decoder message over several lines is kept once per line, on one line', () => {
  const b = new BadImages();
  b.add('train', { ...bad(1), detail: 'corrupt header: VipsJpeg: premature end\nVipsJpeg: no image\nVipsJpeg: premature end\nVipsJpeg: no image\n' });
  b.add('train', { ...bad(2), detail: 'x'.repeat(500) });
  const [first, second] = b.toRecord().train.files;
  assert.equal(first.detail, 'corrupt header: VipsJpeg: premature end; VipsJpeg: no image; VipsJpeg: premature end');
  assert.doesNotMatch(first.detail!, /no image.*no image/);
  assert.equal(second.detail!.length, 200);
});

test(`at most ${BAD_IMAGES_LISTED} are listed per split, the first in dataset order, and the count covers all`, () => {
  const b = new BadImages();
  // met in a scrambled order, as concurrent decoding meets them
  for (let i = 0; i < 2500; i++) b.add('train', bad((i * 7919) % 2500));
  const rec = b.toRecord().train;
  assert.equal(rec.count, 2500);
  assert.equal(rec.files.length, BAD_IMAGES_LISTED);
  assert.deepEqual(rec.files.map((f) => f.file), Array.from({ length: BAD_IMAGES_LISTED }, (_x, r) => `images/${r}.jpg`));
});

test('flush writes data.bad_images into run.json, valid against the run schema, only when something changed', async (t) => {
  const runs = mkdtempSync(join(tmpdir(), 'exp-bad-images-'));
  t.after(() => rmSync(runs, { recursive: true, force: true }));
  const record = await createRun(runOptions(runs, runs, { name: 'bad' }));
  const b = new BadImages();
  b.flush(record);
  assert.equal(record.json.data, null, 'nothing to write before the data is indexed');
  record.setData({ fingerprint: 'f'.repeat(64), counts: { train: 10 } });
  b.flush(record);
  assert.equal(record.json.data!.bad_images, undefined, 'absent when nothing was left out');
  for (let r = 0; r < 1200; r++) b.add('train', bad(r));
  b.add('test', bad(4, 'not an image'));
  b.flush(record);
  const json = record.json;
  assert.ok(validateRun(json), schemaErrors('run'));
  assert.deepEqual(Object.keys(json.data!.bad_images!), ['train', 'test'], 'in the order train, val, test');
  assert.equal(json.data!.bad_images!.train.count, 1200);
  assert.equal(json.data!.bad_images!.train.files.length, 1000);
  // the schema holds the cap and the reasons the decoder gives
  const tooLong = structuredClone(json);
  tooLong.data!.bad_images!.train.files.push({ file: 'x.jpg', reason: 'empty' });
  assert.equal(validator('run')(tooLong), false);
  const unknownReason = structuredClone(json);
  unknownReason.data!.bad_images!.test.files[0].reason = 'sad';
  assert.equal(validator('run')(unknownReason), false);
});

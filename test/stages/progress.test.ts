// What the stages print: every count names its unit, a warm cache says it is cached rather than
// "resizing", and a finished epoch's line carries what a user compares epochs by.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bytes, cacheProgress, cacheSummary, count, epochLine, indexProgress } from '../../src/stages/progress.ts';
import type { EpochResult } from '../../src/train/loop.ts';

test('index progress names bytes, folders and images', () => {
  assert.equal(indexProgress('train', { phase: 'read', done: 42614, total: 42614 }), 'train: reading metadata, 41.6 kB of 41.6 kB (100 %)');
  assert.equal(indexProgress('train', { phase: 'read', done: 3 * 1024 * 1024, total: 12 * 1024 * 1024 }), 'train: reading metadata, 3.0 MB of 12.0 MB (25 %)');
  // the folders format walks directories without knowing how many there are
  assert.equal(indexProgress('test', { phase: 'read', done: 7, total: 0 }), 'test: listing folders, 7 folders so far');
  assert.equal(indexProgress('train', { phase: 'index', done: 120, total: 480 }), 'train: indexing 120/480 images (25 %)');
  assert.equal(bytes(900), '900 bytes');
  assert.equal(count(0, 0, 'rows'), '0/0 rows (0 %)');
});

test('a warm cache is checked, not "resized"; from the first miss on, the line says how many were resized', () => {
  const warm = cacheProgress('train', { done: 120, total: 247, written: 0, bad: 0 });
  assert.equal(warm, 'train: checking the image cache, 120/247 images (48 %) checked: 120 already cached');
  assert.doesNotMatch(warm, /resiz/);
  assert.equal(cacheProgress('train', { done: 1, total: 247, written: 0, bad: 1 }), 'train: checking the image cache, 1/247 images (0 %) checked: 0 already cached, 1 bad image skipped');
  assert.equal(cacheProgress('val', { done: 10, total: 40, written: 4, bad: 1 }),
    'val: resizing into the image cache, 10/40 images (25 %) done: 4 resized, 5 already cached, 1 bad image skipped');
  assert.equal(cacheSummary({ images: 247, written: 0, bad: 0, resize: 40 }), '247 images at 40 px');
  assert.equal(cacheSummary({ images: 247, written: 247, bad: 0, resize: 40 }), '247 images at 40 px, all resized now');
  assert.equal(cacheSummary({ images: 30, written: 10, bad: 4, resize: 40 }),
    '30 images at 40 px, 10 resized now, 20 already cached; 4 bad images skipped (listed in run.json, data.bad_images)');
});

const row = (extra: Partial<EpochResult> = {}): EpochResult => ({
  epoch: 2, lr: 0.003, optimizer: 'adam', train_loss: { total: 2.34567, species: 1.2 }, images_per_s: 71.234, seconds: 12,
  val: { species: { loss: 2.1, macro_f1: 0.4123, accuracy: 0.53 }, genus: { loss: 1, macro_f1: 0.9, accuracy: 0.9 } }, ...extra,
});

test('an epoch line: epoch, train loss, the target level\'s val loss and macro-F1, lr, images/s', () => {
  assert.equal(epochLine(row(), 'species'),
    'epoch 3: train loss 2.346, val species loss 2.100 macro-F1 0.412 accuracy 0.530, lr 3.00e-3, 71.2 images/s');
  assert.equal(epochLine(row({ val: undefined, lr: 0.1 }), 'species'), 'epoch 3: train loss 2.346, no validation set, lr 0.1, 71.2 images/s');
  assert.match(epochLine(row({ val_ema: { species: { macro_f1: 0.5 } } }), 'species'), /macro-F1 0\.412 accuracy 0\.530 \(EMA macro-F1 0\.500\)/);
});

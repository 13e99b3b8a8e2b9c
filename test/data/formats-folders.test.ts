import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { detectFormat, formats, loadDataset } from '../../src/data/formats/index.ts';
import { UserError } from '../../src/errors.ts';
import { SPECIES, tempDir, writeFolders } from '../fixtures/data/herbarium.ts';

const LEVELS = ['species', 'genus', 'family'];

test('folders: one directory per level, coarsest first; ids are directory names; image id is the path', async () => {
  const dir = tempDir();
  writeFolders(dir);
  writeFileSync(join(dir, 'Rosaceae', 'README.txt'), 'not an image'); // ignored
  assert.deepEqual(await detectFormat(dir), { format: 'folders', variant: 'folders' });
  assert.deepEqual(await formats.get('folders').levelsOf(dir, 'folders'), LEVELS);
  const ix = await loadDataset('folders', dir, LEVELS, 'train');
  assert.equal(ix.files.length, SPECIES.reduce((a, s) => a + s.images, 0));
  assert.deepEqual(ix.levels[2].ids, ['Fagaceae', 'Rosaceae']);
  assert.deepEqual(ix.levels[1].ids, ['Prunus', 'Quercus', 'Rosa']);
  assert.deepEqual(ix.levels[0].ids, ['Prunus_avium', 'Quercus_petraea', 'Quercus_robur', 'Rosa_canina', 'Rosa_rubiginosa']);
  assert.deepEqual(ix.ids, ix.files);
  const r = ix.files.indexOf('Fagaceae/Quercus/Quercus_robur/3.jpg');
  assert.ok(r >= 0);
  assert.equal(ix.levels[0].ids[ix.labels[0][r]], 'Quercus_robur');
  assert.equal(ix.levels[1].ids[ix.labels[1][r]], 'Quercus');
  assert.equal(ix.levels[2].ids[ix.labels[2][r]], 'Fagaceae');
  assert.equal(ix.levels[1].ids[ix.levels[0].parent![ix.labels[0][r]]], 'Quercus');
  assert.deepEqual(ix.metadataFiles, []);
  // fewer levels: root/<genus>/<species> is not this tree
  await assert.rejects(loadDataset('folders', dir, ['species', 'genus'], 'train'), /is a directory 3 levels below the dataset root/);
  await assert.rejects(loadDataset('folders', dir, ['species', 'genus', 'family', 'order'], 'train'), /is an image 3 directories below .* must sit 4 directories deep \(root\/<order>\/<family>\/<genus>\/<species>\/image.jpg\)/);
});

test('folders: the same species directory name under two genera is a tree violation naming both', async () => {
  const dir = tempDir();
  for (const g of ['Quercus', 'Salix']) {
    mkdirSync(join(dir, 'F', g, 'alba'), { recursive: true });
    writeFileSync(join(dir, 'F', g, 'alba', '0.jpg'), 'x');
  }
  await assert.rejects(loadDataset('folders', dir, LEVELS, 'train'), (e: Error) => {
    assert.ok(e instanceof UserError);
    assert.match(e.message, /species 'alba' is under two genus classes, 'Quercus' and 'Salix'/);
    return true;
  });
});

test('folders test split: a flat directory of images, labels -1', async () => {
  const dir = tempDir();
  for (const n of ['b.png', 'a.JPG', 'c.jpeg', 'notes.txt']) writeFileSync(join(dir, n), 'x');
  assert.equal((await detectFormat(dir)).format, 'folders');
  const ix = await loadDataset('folders', dir, LEVELS, 'test');
  assert.deepEqual(ix.files, ['a.JPG', 'b.png', 'c.jpeg']);
  assert.ok(ix.labels.every((l) => l.length === 3 && l.every((x) => x === -1)));
  assert.deepEqual(ix.levels.map((l) => l.name), LEVELS);
  // an empty directory is an error, not an empty dataset
  await assert.rejects(loadDataset('folders', tempDir(), LEVELS, 'train'), /holds no images/);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, cpSync, mkdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { dataFingerprint } from '../../src/data/fingerprint.ts';
import { loadDataset } from '../../src/data/formats/index.ts';
import { tempDir, writeFolders, writeHerbarium2020 } from '../fixtures/data/herbarium.ts';

async function herbariumWithImages() {
  const dir = tempDir();
  writeHerbarium2020(dir);
  const ix = await loadDataset('herbarium', dir, ['species'], 'train');
  for (const f of ix.files) {
    mkdirSync(dirname(join(dir, f)), { recursive: true });
    writeFileSync(join(dir, f), `jpeg ${f}`);
  }
  return { dir, ix };
}

test('fingerprint ignores modification times and location, changes with a size or the metadata', async () => {
  const { dir, ix } = await herbariumWithImages();
  const base = await dataFingerprint(ix, { concurrency: 3 });
  assert.equal(base.mode, 'full');
  assert.equal(base.files, ix.files.length);
  assert.deepEqual(base.missing, { count: 0, first: [] });
  utimesSync(join(dir, ix.files[0]), new Date(2001, 1, 1), new Date(2001, 1, 1));
  assert.equal((await dataFingerprint(ix)).sha256, base.sha256, 'mtime is not content');
  // a copy elsewhere agrees
  const copy = tempDir();
  cpSync(dir, copy, { recursive: true });
  const ixCopy = await loadDataset('herbarium', copy, ['species'], 'train');
  assert.equal((await dataFingerprint(ixCopy)).sha256, base.sha256);
  // a file that grows changes the full fingerprint but not the metadata-only one
  const meta = await dataFingerprint(ix, { metadataOnly: true });
  assert.notEqual(meta.sha256, base.sha256);
  appendFileSync(join(dir, ix.files[3]), 'x');
  const grown = await dataFingerprint(ix);
  assert.notEqual(grown.sha256, base.sha256);
  assert.equal(grown.totalBytes, base.totalBytes! + 1);
  assert.equal((await dataFingerprint(ix, { metadataOnly: true })).sha256, meta.sha256);
  // a missing file is reported and hashed
  rmSync(join(dir, ix.files[5]));
  const missing = await dataFingerprint(ix);
  assert.deepEqual(missing.missing, { count: 1, first: [ix.files[5]] });
  assert.notEqual(missing.sha256, grown.sha256);
  // metadata bytes count
  writeHerbarium2020(dir, { species: [] });
  appendFileSync(join(dir, 'metadata.json'), ' ');
  assert.notEqual((await dataFingerprint(ix, { metadataOnly: true })).sha256, meta.sha256);
});

test('folders: the file list is the metadata', async () => {
  const dir = tempDir();
  writeFolders(dir);
  const ix = await loadDataset('folders', dir, ['species', 'genus', 'family'], 'train');
  const a = await dataFingerprint(ix, { metadataOnly: true });
  writeFileSync(join(dir, 'Fagaceae', 'Quercus', 'Quercus_robur', 'new.jpg'), 'x');
  const ix2 = await loadDataset('folders', dir, ['species', 'genus', 'family'], 'train');
  assert.notEqual((await dataFingerprint(ix2, { metadataOnly: true })).sha256, a.sha256);
});

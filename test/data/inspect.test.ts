import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { inspectDataset, renderInspect } from '../../src/data/inspect.ts';
import { detectFormat } from '../../src/data/formats/index.ts';
import { SPECIES, tempDir, writeFolders, writeHerbarium2020, writeHerbarium2022 } from '../fixtures/data/herbarium.ts';

test('inspect a Herbarium 2020 download: format, counts per level, singletons, missing files, test split', async () => {
  const top = tempDir();
  const train = join(top, 'train');
  writeHerbarium2020(train);
  writeHerbarium2020(join(top, 'test'), { test: true, species: SPECIES.slice(0, 2) });
  // write all but two of the training images
  const meta = JSON.parse(readFileSync(join(train, 'metadata.json'), 'utf8'));
  const files: string[] = meta.images.map((i: { file_name: string }) => i.file_name).sort();
  for (const f of files.slice(2)) {
    mkdirSync(dirname(join(train, f)), { recursive: true });
    writeFileSync(join(train, f), 'x');
  }
  await assert.rejects(detectFormat(top), /does not look like a dataset/); // not class folders
  for (const dir of [top, train]) {
    const r = await inspectDataset(dir);
    assert.equal(r.format, 'herbarium');
    assert.equal(r.variant, 'herbarium2020');
    assert.equal(r.images, 19);
    assert.deepEqual(r.levels, ['species', 'genus', 'family']);
    assert.deepEqual(r.classesPerLevel, { species: 5, genus: 3, family: 2 });
    // species sizes 5,1,3,8,2; genera Rosa 6, Prunus 3, Quercus 10; families 9, 10
    assert.deepEqual(r.imagesPerClass.species, { min: 1, median: 3, max: 8 });
    assert.deepEqual(r.imagesPerClass.genus, { min: 3, median: 6, max: 10 });
    assert.deepEqual(r.imagesPerClass.family, { min: 9, median: 9.5, max: 10 });
    assert.deepEqual(r.singletonClasses, { species: 1, genus: 0, family: 0 });
    assert.deepEqual(r.missingFiles, { count: 2, first: files.slice(0, 2) });
    assert.equal(r.testImages, 6);
    const text = renderInspect(r);
    assert.match(text, /herbarium \(herbarium2020\)/);
    assert.match(text, /species\s+5\s+1\s+3\s+8\s+1\s+0/);
    assert.match(text, /missing\s+2 image file\(s\)/);
  }
  const quick = await inspectDataset(train, { checkFiles: false, levels: ['species'] });
  assert.equal(quick.missingFiles, null);
  assert.deepEqual(quick.levels, ['species']);
  assert.match(renderInspect(quick), /not checked/);
});

test('inspect detects 2022 (with its test metadata) and folders', async () => {
  const h = tempDir();
  writeHerbarium2022(h);
  const r = await inspectDataset(h, { checkFiles: false });
  assert.equal(r.variant, 'herbarium2022');
  assert.equal(r.testImages, 2);
  const f = tempDir();
  writeFolders(f);
  const rf = await inspectDataset(f);
  assert.equal(rf.format, 'folders');
  assert.deepEqual(rf.classesPerLevel, { species: 5, genus: 3, family: 2 });
  assert.deepEqual(rf.missingFiles, { count: 0, first: [] });
  await assert.rejects(inspectDataset(tempDir()), /does not look like a dataset in any known format/);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { detectFormat, formats, loadDataset } from '../../src/data/formats/index.ts';
import { UserError } from '../../src/errors.ts';
import type { DatasetIndex } from '../../src/data/types.ts';
import {
  SPECIES, imagesOf, tempDir, writeHerbarium2020, writeHerbarium2021, writeHerbarium2022,
} from '../fixtures/data/herbarium.ts';

const LEVELS = ['species', 'genus', 'family'];

/** The species id of each row, through the index's own class ids. */
function speciesOfRows(ix: DatasetIndex): (number | string)[] {
  return Array.from(ix.labels[0], (c) => ix.levels[0].ids[c]);
}

function expectedPairs(): Map<number, number> {
  return new Map(imagesOf().map((x) => [x.id, x.category]));
}

test('herbarium 2020: detected, levels from category fields, names as ids for genus and family', async () => {
  const dir = tempDir();
  writeHerbarium2020(dir);
  assert.deepEqual(await detectFormat(dir), { format: 'herbarium', variant: 'herbarium2020' });
  const ix = await loadDataset('herbarium', dir, LEVELS, 'train');
  assert.equal(ix.variant, 'herbarium2020');
  assert.deepEqual(ix.levels[0].ids, [2, 7, 10, 30, 31]); // numeric ids, numerically
  assert.deepEqual(ix.levels[1].ids, ['Prunus', 'Quercus', 'Rosa']);
  assert.deepEqual(ix.levels[2].ids, ['Fagaceae', 'Rosaceae']);
  // parents: species -> genus -> family
  const genusOf = (sp: number) => ix.levels[1].ids[ix.levels[0].parent![ix.levels[0].ids.indexOf(sp)]];
  assert.equal(genusOf(7), 'Prunus');
  assert.equal(genusOf(31), 'Quercus');
  assert.equal(ix.levels[2].ids[ix.levels[1].parent![0]], 'Rosaceae');
  assert.equal(ix.levels[2].parent, undefined);
  // rows sorted by image id, each with its own annotation's category
  const ids = ix.ids as number[];
  assert.deepEqual(ids, [...ids].sort((a, b) => a - b));
  const want = expectedPairs();
  speciesOfRows(ix).forEach((sp, r) => assert.equal(sp, want.get(ids[r])));
  assert.equal(ix.files[0], `images/${Math.floor(ids[0] / 100)}/${ids[0]}.jpg`);
  assert.deepEqual(ix.metadataFiles, [join(dir, 'metadata.json')]);
  // genus labels agree with the species' parent
  for (let r = 0; r < ids.length; r++) assert.equal(ix.labels[1][r], ix.levels[0].parent![ix.labels[0][r]]);
});

test('herbarium 2020 in latin-1 (not valid UTF-8) is read without mangling; valid UTF-8 stays UTF-8', async () => {
  const latin = tempDir();
  const f = writeHerbarium2020(latin, { latin1: true });
  assert.ok(readFileSync(f).includes(Buffer.from([0xe9])), 'fixture holds a raw latin-1 byte');
  const utf = tempDir();
  writeHerbarium2020(utf);
  for (const [dir, stream] of [[latin, false], [latin, true], [utf, false], [utf, true]] as const) {
    const ix = await loadDataset('herbarium', dir, ['species'], 'train', stream ? { streamThresholdBytes: 0 } : {});
    assert.ok(ix.levels[0].names.includes('Quercus petraea (Matt.) Lindé'), `${dir} stream=${stream}`);
  }
});

test('herbarium 2021: no genus field, genus is the first word of the name; order is a level', async () => {
  const dir = tempDir();
  writeHerbarium2021(dir);
  assert.equal((await detectFormat(dir)).variant, 'herbarium2021');
  const ix = await loadDataset('herbarium', dir, ['species', 'genus', 'family', 'order'], 'train');
  assert.equal(ix.variant, 'herbarium2021');
  assert.deepEqual(ix.levels[1].ids, ['Prunus', 'Quercus', 'Rosa']);
  assert.deepEqual(ix.levels[3].ids, ['Fagales', 'Rosales']);
  assert.deepEqual(await formats.get('herbarium').levelsOf(dir, 'herbarium2021'), ['species', 'genus', 'family', 'order']);
});

test('herbarium 2022: genus ids from genera, file names under train_images/, test metadata unlabelled', async () => {
  const dir = tempDir();
  writeHerbarium2022(dir);
  assert.equal((await detectFormat(dir)).variant, 'herbarium2022');
  const ix = await loadDataset('herbarium', dir, LEVELS, 'train');
  assert.equal(ix.variant, 'herbarium2022');
  assert.deepEqual(ix.levels[1].ids, [100, 101, 102]);
  assert.deepEqual(ix.levels[1].names, ['Prunus', 'Quercus', 'Rosa']);
  assert.ok(ix.files.every((f) => f.startsWith('train_images/')));
  assert.deepEqual(ix.ids, [...ix.ids].sort());
  assert.deepEqual(ix.metadataFiles, [join(dir, 'train_metadata.json')]);
  const test = await loadDataset('herbarium', dir, LEVELS, 'test');
  assert.deepEqual(test.ids, ['test-000000', 'test-000001']);
  assert.deepEqual(test.files, ['test_images/000/test-000000.jpg', 'test_images/000/test-000001.jpg']);
  assert.ok(test.labels.every((l) => l.every((x) => x === -1)));
});

test('2020 test metadata without annotations loads with labels -1', async () => {
  const dir = tempDir();
  writeHerbarium2020(dir, { test: true });
  const ix = await loadDataset('herbarium', dir, LEVELS, 'test');
  assert.equal(ix.files.length, SPECIES.reduce((a, s) => a + s.images, 0));
  assert.ok(ix.labels[0].every((x) => x === -1));
  // the same file as training data is an error that says what is missing
  await assert.rejects(loadDataset('herbarium', dir, LEVELS, 'train'), /no 'annotations' list/);
});

test('an unknown level lists the levels that variant knows', async () => {
  const dir = tempDir();
  writeHerbarium2020(dir);
  await assert.rejects(loadDataset('herbarium', dir, ['species', 'order'], 'train'), (e: Error) => {
    assert.ok(e instanceof UserError);
    assert.match(e.message, /unknown level 'order'.*herbarium2020.*Available: species, genus, family/);
    return true;
  });
});

test('a genus under two families is a tree violation naming both and the metadata file', async () => {
  const dir = tempDir();
  const sp = SPECIES.map((s) => (s.id === 31 ? { ...s, family: 'Betulaceae' } : s));
  const file = writeHerbarium2020(dir, { species: sp });
  await assert.rejects(loadDataset('herbarium', dir, LEVELS, 'train'), (e: Error) => {
    assert.ok(e instanceof UserError);
    assert.ok(e.message.includes(file));
    assert.match(e.message, /genus 'Quercus' is under two family classes, 'Betulaceae' and 'Fagaceae'|genus 'Quercus' is under two family classes, 'Fagaceae' and 'Betulaceae'/);
    return true;
  });
  // a hierarchy that skips the level with the conflict is fine
  const ix = await loadDataset('herbarium', dir, ['species', 'family'], 'train');
  assert.equal(ix.levels[1].ids.length, 3);
});

test('2022 tree violation names genus ids; levels given coarsest first are caught with a hint', async () => {
  const dir = tempDir();
  const sp = SPECIES.map((s) => (s.id === 30 ? { ...s, genus: 'Rosa' } : s));
  writeHerbarium2022(dir, { species: sp });
  // genus Rosa now holds a Fagaceae species: a genus under two families
  await assert.rejects(loadDataset('herbarium', dir, LEVELS, 'train'), /genus 'Rosa' \(id \d+\) is under two family classes/);
  // levels listed coarsest first make species the parent of genus: a genus under two species
  const ok = tempDir();
  writeHerbarium2021(ok);
  await assert.rejects(loadDataset('herbarium', ok, ['genus', 'species'], 'train'), (e: Error) => {
    assert.match(e.message, /genus 'Rosa' is under two species classes, 'Rosa canina L\.' \(id 10\) and 'Rosa rubiginosa L\.' \(id 2\)/);
    assert.match(e.message, /finest first/);
    return true;
  });
});

test('file names that escape the dataset root are refused, naming the entry', async () => {
  for (const bad of ['../outside.jpg', 'images/../../etc/passwd', '/etc/passwd', 'C:\\x.jpg', 'images\\..\\..\\x.jpg']) {
    const dir = tempDir();
    writeHerbarium2020(dir, { fileName: (id) => (id === 1007 ? bad : `images/${id}.jpg`) });
    await assert.rejects(loadDataset('herbarium', dir, LEVELS, 'train'), (e: Error) => {
      assert.ok(e instanceof UserError, bad);
      assert.ok(e.message.includes(`image 1007 has file_name '${bad}'`), e.message);
      return true;
    });
  }
  // '..' inside a name is not a parent reference
  const dir = tempDir();
  writeHerbarium2020(dir, { fileName: (id) => `images/a..b/${id}.jpg` });
  await loadDataset('herbarium', dir, LEVELS, 'train');
});

test('the index does not depend on the order of the metadata file', async () => {
  const a = tempDir();
  const b = tempDir();
  writeHerbarium2020(a);
  writeHerbarium2020(b, { images: imagesOf().reverse() });
  const ia = await loadDataset('herbarium', a, LEVELS, 'train');
  const ib = await loadDataset('herbarium', b, LEVELS, 'train');
  assert.deepEqual({ ...ia, root: '', metadataFiles: [] }, { ...ib, root: '', metadataFiles: [] });
});

test('the streaming path builds the same index as JSON.parse', async () => {
  for (const write of [writeHerbarium2020, writeHerbarium2021, writeHerbarium2022]) {
    const dir = tempDir();
    write(dir);
    const whole = await loadDataset('herbarium', dir, LEVELS, 'train');
    const streamed = await loadDataset('herbarium', dir, LEVELS, 'train', { streamThresholdBytes: 0 });
    assert.deepEqual(streamed, whole);
  }
});

test('inconsistent metadata: unannotated image, unknown category, duplicate image id', async () => {
  const dir = tempDir();
  const file = writeHerbarium2020(dir);
  const meta = JSON.parse(readFileSync(file, 'utf8'));
  const variants: [string, (m: typeof meta) => void, RegExp][] = [
    ['unannotated', (m) => m.annotations.pop(), /1 image\(s\) have no annotation/],
    ['unknown category', (m) => { m.annotations[0].category_id = 999; }, /category 999, which is not in categories/],
    ['duplicate id', (m) => m.images.push({ ...m.images[0] }), /appears more than once/],
    ['unknown image', (m) => { m.annotations[0].image_id = 5; }, /refers to image 5/],
  ];
  for (const [what, edit, re] of variants) {
    const m = structuredClone(meta);
    edit(m);
    writeFileSync(file, JSON.stringify(m));
    await assert.rejects(loadDataset('herbarium', dir, LEVELS, 'train'), re, what);
  }
});

test('a directory without metadata is a UserError saying what was expected', async () => {
  await assert.rejects(loadDataset('herbarium', tempDir(), LEVELS, 'train'), /expected metadata.json \(2020, 2021\) or train_metadata.json \(2022\)/);
  await assert.rejects(loadDataset('herbarium', join(tempDir(), 'nope'), LEVELS, 'train'), /does not exist/);
  await assert.rejects(loadDataset('nope', tempDir(), LEVELS, 'train'), /unknown dataset format 'nope'. Available: herbarium, folders/);
});

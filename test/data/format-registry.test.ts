// Registry-driven: every registered dataset format detects a small dataset in its layout (and no
// other format claims it), knows its levels, and loads it into a consistent index: every row's
// labels in range and agreeing with the hierarchy's parent links. A format added to the registry
// fails here until it has a writer below.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formats, loadDataset } from '../../src/data/formats/index.ts';
import { SPECIES, tempDir, writeFolders, writeHerbarium2020, writeHerbarium2021, writeHerbarium2022 } from '../fixtures/data/herbarium.ts';

const LEVELS = ['species', 'genus', 'family'];
const WRITERS: Record<string, Array<(dir: string) => unknown>> = {
  herbarium: [writeHerbarium2020, writeHerbarium2021, writeHerbarium2022],
  folders: [writeFolders],
};

test('every registered dataset format has a writer of a small dataset here', () => {
  assert.deepEqual(formats.names().filter((n) => !WRITERS[n]), []);
});

for (const { name, value: format } of formats.list()) {
  (WRITERS[name] ?? []).forEach((write, i) => {
    test(`format ${name} (${i + 1}/${WRITERS[name].length}): detected, levels known, loaded consistently`, async () => {
      const dir = tempDir();
      write(dir);
      const variant = await format.detect(dir);
      assert.ok(variant, `${name} does not detect its own layout`);
      for (const other of formats.list()) {
        if (other.name !== name) assert.equal(await other.value.detect(dir), null, `${other.name} claims ${name}'s layout`);
      }
      const known = await format.levelsOf(dir, variant);
      assert.deepEqual(known.slice(0, 3), LEVELS);
      const ix = await loadDataset(name, dir, LEVELS, 'train');
      assert.equal(ix.format, name);
      assert.equal(ix.files.length, SPECIES.reduce((a, s) => a + s.images, 0));
      assert.equal(ix.ids.length, ix.files.length);
      ix.levels.forEach((level, l) => {
        assert.equal(ix.labels[l].length, ix.files.length);
        assert.ok(ix.labels[l].every((y) => y >= 0 && y < level.ids.length), `${level.name} labels in range`);
      });
      for (let r = 0; r < ix.files.length; r++) {
        for (let l = 0; l + 1 < ix.levels.length; l++) {
          assert.equal(ix.levels[l].parent![ix.labels[l][r]], ix.labels[l + 1][r], `row ${r}: ${ix.levels[l].name}'s parent`);
        }
      }
    });
  });
}

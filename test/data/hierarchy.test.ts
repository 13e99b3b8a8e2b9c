import { test } from 'node:test';
import assert from 'node:assert/strict';
import { alignToTraining, buildHierarchy, classCounts } from '../../src/data/hierarchy.ts';
import type { DatasetIndex } from '../../src/data/types.ts';

test('classes sorted by id (numbers numerically), parents link to the next coarser level', () => {
  const h = buildHierarchy(['species', 'genus'], {
    keys: [[100, 9, 20, 3], ['B', 'A', 'B', 'A']],
    names: [['s100', 's9', 's20', 's3'], ['B', 'A', 'B', 'A']],
  }, 'test');
  assert.deepEqual(h.levels[0].ids, [3, 9, 20, 100]);
  assert.deepEqual(h.levels[0].names, ['s3', 's9', 's20', 's100']);
  assert.deepEqual(Array.from(h.levels[0].parent!), [0, 0, 1, 1]);
  assert.deepEqual(Array.from(h.unitClass[0]), [3, 1, 2, 0]);
  assert.equal(h.levels[1].parent, undefined);
});

function index(levels: DatasetIndex['levels'], labels: number[][]): DatasetIndex {
  return { format: 'folders', variant: 'folders', root: '/x', levels, ids: labels[0].map((_, i) => i), files: labels[0].map((_, i) => `${i}.jpg`), labels: labels.map((l) => Int32Array.from(l)), metadataFiles: [] };
}

test('alignToTraining re-expresses another split in the training classes; unknown classes are refused', () => {
  const train = index([{ name: 'species', ids: [1, 2, 5], names: ['a', 'b', 'e'] }], [[0, 1, 2, 2]]);
  const val = index([{ name: 'species', ids: [2, 5], names: ['b', 'e'] }], [[1, 0, -1]]);
  const aligned = alignToTraining(train, val);
  assert.deepEqual(Array.from(aligned.labels[0]), [2, 1, -1]);
  assert.equal(aligned.levels, train.levels);
  assert.deepEqual(Array.from(classCounts(train)[0]), [1, 1, 2]);
  const stranger = index([{ name: 'species', ids: [7], names: ['g'] }], [[0]]);
  assert.throws(() => alignToTraining(train, stranger), /1 species class\(es\) do not occur in the training set \/x \(first: 7\)/);
  const otherLevels = index([{ name: 'genus', ids: [1], names: ['g'] }], [[0]]);
  assert.throws(() => alignToTraining(train, otherLevels), /levels \(genus\) differ/);
});

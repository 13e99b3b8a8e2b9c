// Registry-driven: every registered sampler gives one epoch's worth of valid training rows, the
// same for the same (seed, epoch) and another order for another epoch or seed (resume depends on
// the first, shuffling on the second). Adding a sampler adds this test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { epochOrder, samplers } from '../../src/train/sampler.ts';

// a long tail: 60 rows of class 0, 12 of class 1, 3 of class 2
const labels = Int32Array.from([...Array<number>(60).fill(0), ...Array<number>(12).fill(1), ...Array<number>(3).fill(2)]);

for (const { name } of samplers.list()) {
  test(`sampler ${name}: ${labels.length} valid rows per epoch, deterministic in (seed, epoch), different across epochs and seeds`, () => {
    const a = epochOrder(name, labels, 7, 0);
    assert.equal(a.length, labels.length);
    assert.ok(a.every((r) => Number.isInteger(r) && r >= 0 && r < labels.length));
    assert.deepEqual(epochOrder(name, labels, 7, 0), a);
    assert.notDeepEqual(epochOrder(name, labels, 7, 1), a);
    assert.notDeepEqual(epochOrder(name, labels, 8, 0), a);
  });
}

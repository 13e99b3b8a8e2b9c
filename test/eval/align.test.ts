import { test } from 'node:test';
import assert from 'node:assert/strict';
import { alignByIds, permute } from '../../src/eval/align.ts';

test('alignment reorders the other run into the base order', () => {
  const a = alignByIds([10, 20, 30, 40], [30, 10, 40, 20]);
  assert.ok(a.ok);
  assert.deepEqual(Array.from(a.order), [1, 3, 0, 2]);
  assert.deepEqual(Array.from(permute(Int32Array.from([3, 1, 4, 2]), a.order)), [1, 2, 3, 4]);
  assert.ok(alignByIds(['1', 'x'], [1, 'x']).ok, 'numeric and text ids are the same image');
});

test('alignment explains why two id lists cannot be paired', () => {
  assert.deepEqual(alignByIds([1, 2, 3], [1, 2, 4]), { ok: false, reason: 'the example sets differ: 1 of 3 ids are missing from the second (3); 1 of 3 ids are only in the second (4)' });
  assert.deepEqual(alignByIds([1, 2], [1, 2, 3]), { ok: false, reason: 'the example sets differ: 1 of 3 ids are only in the second (3)' });
  assert.deepEqual(alignByIds([1, 1], [1, 2]), { ok: false, reason: 'the first list repeats 1 id(s) (1)' });
  assert.deepEqual(alignByIds([1, 2], [2, 2]), { ok: false, reason: 'the second list repeats 1 id(s) (2)' });
});

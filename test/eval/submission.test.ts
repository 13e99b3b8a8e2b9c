import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeSubmission, checkSubmission, formatSubmission } from '../../src/eval/submission.ts';
import { RunError } from '../../src/errors.ts';

const i32 = (xs: number[]) => Int32Array.from(xs);
const classIds = [101, 205, 307];

test('writes Id,Predicted with the dataset category ids, in row order', () => {
  const path = join(mkdtempSync(join(tmpdir(), 'exp-sub-')), 'submission.csv');
  writeSubmission(path, { ids: [17, 3, 9], predicted: i32([2, 0, 0]), classIds, expectedIds: [3, 9, 17] });
  assert.equal(readFileSync(path, 'utf8'), 'Id,Predicted\n17,307\n3,101\n9,101\n');
});

test('string ids are quoted when they need it', () => {
  const csv = formatSubmission({ ids: ['a,b', 'plain'], predicted: i32([1, 0]), classIds: ['x"y', 'z'] });
  assert.equal(csv, 'Id,Predicted\n"a,b",z\nplain,"x""y"\n');
});

test('every violation is named, and nothing is written', () => {
  const dir = mkdtempSync(join(tmpdir(), 'exp-sub-'));
  const path = join(dir, 'submission.csv');
  const input = { ids: [1, 2, 2, 5], predicted: i32([0, 3, 1, -1]), classIds, expectedIds: [1, 2, 3, 4] };
  const problems = checkSubmission(input);
  assert.deepEqual(problems, [
    '1 duplicate id(s): 2',
    '2 test id(s) missing: 3, 4',
    '1 id(s) not in the test split: 5',
    '2 prediction(s) outside the 3 classes: "2 -> column 3", "5 -> column -1"',
  ]);
  assert.throws(() => writeSubmission(path, input), (e: Error) => e instanceof RunError && e.message.startsWith(`${path} was not written`) && e.message.includes('2 test id(s) missing: 3, 4'));
  assert.equal(existsSync(path), false);
  assert.deepEqual(checkSubmission({ ids: [1], predicted: i32([0, 1]), classIds }), ['1 ids but 2 predictions']);
  assert.deepEqual(checkSubmission({ ids: [1], predicted: i32([0]), classIds: [7, 7] }), ['the class id list has duplicates, so predictions are ambiguous']);
  assert.deepEqual(checkSubmission({ ids: [1, 2], predicted: i32([0, 1]), classIds, expectedIds: ['1', '2'] }), [], 'ids compare as text');
});

// submission.csv: `Id,Predicted`, one row per test image, with the dataset's own category ids.
// Checked before writing, because the competition rejects (or silently mis-scores) a file with a
// missing, repeated or unknown id, and a bad file found after upload costs a submission slot.
import { RunError } from '../errors.ts';
import { writeAtomic } from '../util/fs.ts';
import type { Id } from './align.ts';

export interface SubmissionInput {
  /** Image id of each predicted row. */
  ids: readonly Id[];
  /** Predicted class per row, as a column index into classIds. */
  predicted: Int32Array;
  /** The dataset's category id of each class column (target level). */
  classIds: readonly Id[];
  /** The test split's image ids: each must appear exactly once. Defaults to `ids` (then only duplicates are checked). */
  expectedIds?: readonly Id[];
}

const MAX_LISTED = 5;

function listSome(xs: Id[]): string {
  const shown = xs.slice(0, MAX_LISTED).map((x) => JSON.stringify(x)).join(', ');
  return xs.length > MAX_LISTED ? `${shown} and ${xs.length - MAX_LISTED} more` : shown;
}

/** The checks, as one message per violation (empty when the submission is valid). */
export function checkSubmission(input: SubmissionInput): string[] {
  const { ids, predicted, classIds } = input;
  const problems: string[] = [];
  if (predicted.length !== ids.length) problems.push(`${ids.length} ids but ${predicted.length} predictions`);
  const seen = new Set<string>();
  const dup: Id[] = [];
  for (const id of ids) {
    const key = String(id);
    if (seen.has(key)) dup.push(id);
    seen.add(key);
  }
  if (dup.length) problems.push(`${dup.length} duplicate id(s): ${listSome(dup)}`);
  if (input.expectedIds) {
    const expected = new Set(input.expectedIds.map(String));
    const missing = input.expectedIds.filter((id) => !seen.has(String(id)));
    const extra = ids.filter((id) => !expected.has(String(id)));
    if (missing.length) problems.push(`${missing.length} test id(s) missing: ${listSome(missing)}`);
    if (extra.length) problems.push(`${extra.length} id(s) not in the test split: ${listSome(extra)}`);
  }
  const badRows: Id[] = [];
  for (let i = 0; i < predicted.length; i++) {
    const p = predicted[i];
    if (!(p >= 0 && p < classIds.length)) badRows.push(`${ids[i]} -> column ${p}`);
  }
  if (badRows.length) problems.push(`${badRows.length} prediction(s) outside the ${classIds.length} classes: ${listSome(badRows)}`);
  if (new Set(classIds.map(String)).size !== classIds.length) problems.push('the class id list has duplicates, so predictions are ambiguous');
  for (const x of [...ids, ...classIds]) {
    if (typeof x === 'number' && !Number.isFinite(x)) {
      problems.push(`id ${x} is not a finite number`);
      break;
    }
  }
  return problems;
}

function csvField(x: Id): string {
  const s = String(x);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** The CSV text, rows in the order given. Throws RunError listing every violated check. */
export function formatSubmission(input: SubmissionInput, path = 'submission.csv'): string {
  const problems = checkSubmission(input);
  if (problems.length) {
    throw new RunError(`${path} was not written because it would be invalid: ${problems.join('; ')}. This is a bug in the prediction stage or a test split that changed since the run; re-run exp predict <run> --split test.`);
  }
  const parts: string[] = ['Id,Predicted\n'];
  for (let i = 0; i < input.ids.length; i++) {
    parts.push(`${csvField(input.ids[i])},${csvField(input.classIds[input.predicted[i]])}\n`);
  }
  return parts.join('');
}

/** Checks, then writes `Id,Predicted` atomically. */
export function writeSubmission(path: string, input: SubmissionInput): void {
  writeAtomic(path, formatSubmission(input, path));
}

// The reader's rules for one file: what counts as absent, empty, truncated, torn or damaged, and
// how a schema error reads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkRecord, parseJsonText, readJsonLines, readRecordText, RecordFileError } from '../../src/runs/read-file.ts';
import { readRun } from '../../src/runs/read.ts';
import { newRun, tempDir } from './helpers.ts';

const ROW = { epoch: 1, lr: 0.1, train: { species: 1 }, train_loss: 1, val: null, images_per_s: 10, seconds: 1 };
const line = (epoch: number) => JSON.stringify({ ...ROW, epoch });
const rejects = (fn: () => unknown, file: string, what: RegExp) =>
  assert.throws(fn, (e: unknown) => e instanceof RecordFileError && e.file === file && what.test(e.what) && e.message === `${e.file}: ${e.what}; ${e.fix}`);

test('history.jsonl: a torn last line is dropped with a note; a bad line anywhere else is an error naming file:line', (t) => {
  const dir = tempDir(t);
  const f = join(dir, 'history.jsonl');
  const read = (text: string) => {
    writeFileSync(f, text);
    return readJsonLines(f, 'history-row', 'fix it');
  };
  assert.deepEqual(read(`${line(1)}\n${line(2)}\n`), { rows: [{ ...ROW, epoch: 1 }, { ...ROW, epoch: 2 }], note: null });
  const torn = read(`${line(1)}\n${line(2)}\n${line(3).slice(0, 25)}`); // killed mid-append: no newline
  assert.deepEqual(torn?.rows.map((r: any) => r.epoch), [1, 2]);
  assert.match(torn?.note ?? '', new RegExp(`^${f}:3: the last line is incomplete`));
  assert.deepEqual(read(`${line(1)}\n${line(2)}`)?.rows.map((r: any) => r.epoch), [1, 2], 'a whole last line without its newline is kept');
  rejects(() => read(`${line(1)}\n${line(2).slice(0, 25)}\n${line(3)}\n`), `${f}:2`, /^line 2 is not valid JSON .*not the last line, so the file was damaged/);
  rejects(() => read(`${line(1)}\n${line(2).slice(0, 25)}\n`), `${f}:2`, /not valid JSON/); // its newline was written: not torn
  rejects(() => read(`${line(1)}\n${JSON.stringify({ ...ROW, epoch: 'two' })}\n`), `${f}:2`, /^line 2: "epoch" must be integer \(got "two"\)/);
  assert.deepEqual(read(`\n${line(1)}\n\n`), { rows: [{ ...ROW, epoch: 1 }], note: null }, 'blank lines are nothing');
  assert.deepEqual(read(''), { rows: [], note: null }, 'an empty history is a run that has not finished an epoch');
  assert.equal(readJsonLines(join(dir, 'none.jsonl'), 'history-row', 'fix'), undefined);
});

test('readRun: a torn last history line is left out and noted in view.notes', async (t) => {
  const root = tempDir(t);
  const record = await newRun(join(root, 'runs'), root);
  record.appendHistory(ROW);
  writeFileSync(record.path('history.jsonl'), `${line(1)}\n${line(2).slice(0, 30)}`);
  const view = readRun(record.dir);
  assert.deepEqual(view.history().map((r) => r.epoch), [1]);
  assert.equal(view.notes.length, 1);
  assert.match(view.notes[0], /history\.jsonl:2: the last line is incomplete/);
});

test('readRecordText: absent is undefined; empty, a directory or unreadable are RecordFileErrors', (t) => {
  const dir = tempDir(t);
  assert.equal(readRecordText(join(dir, 'nope.json'), 'fix'), undefined);
  writeFileSync(join(dir, 'empty.json'), ' \n');
  rejects(() => readRecordText(join(dir, 'empty.json'), 'fix'), join(dir, 'empty.json'), /^the file is empty \(2 bytes\)/);
  assert.equal(readRecordText(join(dir, 'empty.json'), 'fix', { allowEmpty: true }), ' \n');
  mkdirSync(join(dir, 'd.json'));
  rejects(() => readRecordText(join(dir, 'd.json'), 'fix'), join(dir, 'd.json'), /directory, where exp expects a file/);
});

test('parseJsonText: truncated JSON says so; other syntax errors give line and column', () => {
  rejects(() => parseJsonText('{"a": [1, 2', 'x.json', 'fix'), 'x.json', /^the JSON ends early after 11 bytes: the file is truncated$/);
  rejects(() => parseJsonText('{\n  "a": 1,\n  \'b\': 2\n}', 'x.json', 'fix'), 'x.json', /^not valid JSON at line 3, column 3 \(/);
});

test('schema errors read as one phrase about the field that is wrong', async (t) => {
  const root = tempDir(t);
  const run = (await newRun(join(root, 'runs'), root)).json as any;
  const says = (edit: (r: any) => void, re: RegExp) => {
    const r = structuredClone(run);
    edit(r);
    rejects(() => checkRecord(r, 'run', 'run.json', 'fix'), 'run.json', re);
  };
  says((r) => (r.predictions = 'all'), /^"predictions" must be array \(got "all"\)$/);
  says((r) => (r.backend = 5), /^"backend" must be object or null \(got 5\)$/);
  says((r) => (r.backend = { name: 5, version: null, deterministic: true }), /^"backend\.name" must be string \(got 5\)$/);
  says((r) => (r.status = 'done'), /^"status" must be one of "running", "completed", "failed", "interrupted" \(got "done"\)$/);
  // the if/then consequence ("error must be null") is not what is reported
  says((r) => Object.assign(r, { status: 'done', error: { message: 'x' } }), /^"status" must be one of/);
  says((r) => Object.assign(r, { status: 'failed', finished: r.started }), /^"error" must be object \(got null\)$/);
  says((r) => delete r.id, /^the record lacks the required key "id"$/);
  says((r) => (r.colour = 'red'), /^the record has the key "colour", which exp never writes there$/);
  says((r) => (r.started = 'yesterday'), /^"started" must be a date-time in UTC such as 2024-05-01T12:00:00\.000Z \(got "yesterday"\)$/);
  says((r) => (r.stages = [{ name: 'train', status: 'completed', seconds: -1, cached: false }]), /^"stages\[0\]\.seconds" must be >= 0 \(got -1\)$/);
});

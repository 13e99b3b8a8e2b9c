import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { UserError } from '../../src/errors.ts';
import { expandGlob, listRuns, readRun, resolveRunArgs } from '../../src/runs/read.ts';
import { newRun, tempDir, writeFiles } from './helpers.ts';

const at = (s: string) => new Date(`2024-05-0${s}Z`);

test('expandGlob matches * and ? within path segments, sorted, skipping dot-files', (t) => {
  const root = tempDir(t);
  for (const d of ['runs/a1', 'runs/a2', 'runs/b10', 'runs/.hidden', 'other/x']) mkdirSync(join(root, d), { recursive: true });
  writeFiles(root, { 'runs/a1/run.json': '{}', 'runs/b10/run.json': '{}' });
  assert.deepEqual(expandGlob(join(root, 'runs', '*')), ['a1', 'a2', 'b10'].map((n) => join(root, 'runs', n)));
  assert.deepEqual(expandGlob(join(root, 'runs', 'a?')), ['a1', 'a2'].map((n) => join(root, 'runs', n)));
  assert.deepEqual(expandGlob(join(root, '*', '*', 'run.json')), ['a1', 'b10'].map((n) => join(root, 'runs', n, 'run.json')));
  assert.deepEqual(expandGlob(join(root, 'runs', '.h*')), [join(root, 'runs', '.hidden')]);
  assert.deepEqual(expandGlob(join(root, 'runs', 'z*')), []);
  // relative patterns resolve against the working directory, like a shell's
  const rel = relative(process.cwd(), join(root, 'runs'));
  assert.deepEqual(expandGlob(`${rel}/b*`), [join(rel, 'b10')]);
});

test('resolveRunArgs: quoted globs, directories, ids, unique prefixes and substrings', async (t) => {
  const root = tempDir(t);
  const runsDir = join(root, 'runs');
  const a = await newRun(runsDir, root, { name: 'focal', now: at('1T10:00:00') });
  const b = await newRun(runsDir, root, { name: 'baseline', now: at('2T10:00:00') });
  const c = await newRun(runsDir, root, { name: 'focal', now: at('3T10:00:00') });
  mkdirSync(join(runsDir, 'not-a-run'));
  const dir = (r: { id: string }) => join(runsDir, r.id);

  assert.deepEqual(resolveRunArgs([join(runsDir, '*')], runsDir), [a, b, c].map(dir), 'only directories with run.json');
  assert.deepEqual(resolveRunArgs(['*focal*'], runsDir), [a, c].map(dir), 'a bare glob is tried in the runs directory');
  assert.deepEqual(resolveRunArgs([b.id, join(runsDir, a.id), `${join(runsDir, c.id)}/run.json`], runsDir), [b, a, c].map(dir));
  assert.deepEqual(resolveRunArgs(['20240502', 'baseline', b.id.slice(-6)], runsDir), [dir(b)], 'prefix, substring, suffix; duplicates dropped');
  assert.throws(() => resolveRunArgs(['focal'], runsDir), (e: unknown) => e instanceof UserError && /"focal" matches 2 runs/.test(e.message) && e.message.includes(a.id) && e.message.includes(c.id));
  assert.throws(() => resolveRunArgs(['nothing-like-this'], runsDir), (e: unknown) => e instanceof UserError && /No run matches "nothing-like-this"/.test(e.message));
  assert.throws(() => resolveRunArgs([join(root, 'nowhere', '*')], runsDir), (e: unknown) => e instanceof UserError && /matches no run directory/.test(e.message));
  assert.deepEqual(resolveRunArgs([], runsDir), []);
});

test('readRun on a path that is not a run: a UserError naming it', (t) => {
  const root = tempDir(t);
  assert.throws(() => readRun(join(root, 'x')), (e: unknown) => e instanceof UserError && e.message.startsWith(`${join(root, 'x')} is not a run directory: no run.json`));
  mkdirSync(join(root, 'broken'));
  writeFileSync(join(root, 'broken', 'run.json'), '{"id": "x", "sta');
  // "<path>: <what is wrong>; <how to fix>"
  assert.throws(() => readRun(join(root, 'broken')), (e: unknown) => e instanceof UserError && e.message.startsWith(`${join(root, 'broken', 'run.json')}: the JSON ends early`) && /; the run's record is damaged: restore/.test(e.message));
});

test('readRun reads run.json, and metrics and history on demand; a torn last history line is dropped', async (t) => {
  const root = tempDir(t);
  const record = await newRun(join(root, 'runs'), root);
  const row = { epoch: 1, lr: 0.1, train: { species: 1 }, train_loss: 1, val: null, images_per_s: 10, seconds: 1 };
  record.appendHistory(row);
  record.appendHistory({ ...row, epoch: 2 });
  appendFileSync(record.path('history.jsonl'), '{"epoch": 3, "lr"'); // a crash mid-append
  record.writeMetrics({ val: { tta1: { species: { macro_f1: 0.5, accuracy: 0.6, top5: 0.9 } } } });
  const view = readRun(record.dir);
  assert.equal(view.id, record.id);
  assert.equal(view.run.status, 'running');
  assert.deepEqual(view.history().map((r) => r.epoch), [1, 2]);
  assert.equal(view.metrics().val.tta1.species, view.metrics().val.tta1.species, 'read once, then cached');
  assert.deepEqual(view.metrics(), { val: { tta1: { species: { macro_f1: 0.5, accuracy: 0.6, top5: 0.9 } } } });
  const bare = await newRun(join(root, 'runs'), root);
  assert.deepEqual([readRun(bare.dir).history(), readRun(bare.dir).metrics()], [[], {}]);
});

test('listRuns: oldest first, corrupt or missing run.json shown as unreadable, other folders ignored', async (t) => {
  const root = tempDir(t);
  const runsDir = join(root, 'runs');
  assert.deepEqual(listRuns(runsDir), [], 'no runs folder yet');
  const late = await newRun(runsDir, root, { name: 'late', now: at('3T00:00:00') });
  const early = await newRun(runsDir, root, { name: 'early', now: at('1T00:00:00') });
  early.complete();
  mkdirSync(join(runsDir, '20240502-000000-torn-abcdef'));
  writeFileSync(join(runsDir, '20240502-000000-torn-abcdef', 'run.json'), '{"id": "20240502-000000-torn-abc');
  mkdirSync(join(runsDir, '20240504-000000-empty-123456'));
  mkdirSync(join(runsDir, 'scratch'));
  writeFileSync(join(runsDir, '.gitkeep'), '');

  const list = listRuns(runsDir);
  assert.deepEqual(list.map((r) => [r.id.replace(/-[0-9a-f]{6}$/, ''), r.status]), [
    ['20240501-000000-early', 'completed'],
    ['20240502-000000-torn', 'unreadable'],
    ['20240503-000000-late', 'running'],
    ['20240504-000000-empty', 'unreadable'],
  ]);
  assert.equal(list[2].id, late.id);
  assert.equal(list[1].started, '2024-05-02T00:00:00.000Z', 'start time from the directory name');
  assert.match(list[1].problem ?? '', /^run\.json: /);
  assert.equal(list[3].problem, 'no run.json');
  assert.equal(list[0].run?.name, 'early');
});

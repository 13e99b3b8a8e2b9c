// Hostile run records (issue: users copy, edit, truncate and share run directories): every command
// that reads runs, run on a corpus of damaged copies of a real run (hostile-corpus.ts), must exit 2
// with a message naming the damaged file, never "internal error" and never a stack trace.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { exp, ROOT } from '../cli/helpers.ts';
import { readRun } from '../../src/runs/read.ts';
import { checkRecord } from '../../src/runs/read-file.ts';
import { readConfigYaml } from '../../src/runs/read-config.ts';
import { readPredictionSet, readTop1 } from '../../src/runs/read-predictions.ts';
import { invocations, makeCorpus, type Command, type Corpus, type Invocation } from './hostile-corpus.ts';

const COMMANDS: Command[] = ['show', 'ls', 'compare', 'ensemble', 'predict', 'reproduce', 'resume', 'point'];

let corpus: Promise<{ corpus: Corpus; inv: Invocation[] }> | undefined;
const prepared = () => (corpus ??= makeCorpus().then(async (c) => ({ corpus: c, inv: await invocations(c) })));
after(async () => {
  if (corpus) rmSync((await corpus).corpus.root, { recursive: true, force: true });
});

/** What is wrong with one result, or null when it is the located exit-2 error the command owes. */
function problem(i: Invocation, r: { code: number | null; stderr: string }): string | null {
  const said = r.stderr.trim().split('\n').slice(-3).join(' | ');
  if (/internal error/.test(r.stderr)) return `internal error: ${said}`;
  if (/\n\s+at .+:\d+:\d+\)?\n/.test(r.stderr)) return `a stack trace: ${said}`;
  if (r.code !== 2) return `exit ${r.code}, not 2: ${said}`;
  const named = i.names.some((n) => r.stderr.includes(n) || r.stderr.includes(relative(ROOT, n)));
  if (!named) return `does not name ${i.names.join(' or ')}: ${said}`;
  return null;
}

const label = (i: Invocation) => `${i.command} on "${i.name}"`;

test('the real run the corpus damages passes the reader whole, per_class.json included', async () => {
  const { corpus: c } = await prepared();
  const view = readRun(c.base);
  assert.ok(view.history().length > 0 && Object.keys(view.metrics()).length > 0);
  assert.deepEqual(view.notes, []);
  assert.ok(view.run.predictions.length >= 4, 'val and test, two TTA counts each');
  for (const rec of view.run.predictions) {
    const set = readPredictionSet(view, rec, { scores: true });
    for (const level of set.index.levels) assert.equal((await readTop1(set, level)).length, set.index.rows);
    if (rec.split === 'val') checkRecord(JSON.parse(readFileSync(join(set.dir, 'per_class.json'), 'utf8')), 'per-class', join(set.dir, 'per_class.json'), 'fix');
  }
  assert.ok(readConfigYaml(c.base));
});

test('hostile corpus, every (case, command) pair through main(): exit 2, the file named, no stack trace', { timeout: 15 * 60_000 }, async () => {
  const { corpus: c, inv } = await prepared();
  assert.deepEqual([...new Set(inv.map((i) => i.command))].sort(), [...COMMANDS].sort(), 'every command that reads runs is in the corpus');
  const list = join(c.root, 'argv.json');
  writeFileSync(list, JSON.stringify(inv.map((i) => i.argv)));
  // One process runs them all through src/cli/main.ts, as bin/exp.js would (fixtures/cli-in-process.ts).
  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'fixtures', 'cli-in-process.ts'), list], {
    cwd: ROOT, env: { ...process.env, EXP_TEST: '1' }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const code = await new Promise<number | null>((res) => child.on('close', res));
  assert.equal(code, 0, stderr);
  const results = JSON.parse(stdout) as { code: number; stderr: string }[];
  assert.equal(results.length, inv.length);
  const failures = inv.map((i, k) => [label(i), problem(i, results[k])]).filter(([, p]) => p).map(([l, p]) => `${l}: ${p}`);
  assert.deepEqual(failures, [], `${failures.length} of ${inv.length} hostile cases went wrong`);
  // a rejected ensemble creates nothing
  for (const i of inv.filter((x) => x.command === 'ensemble')) {
    const out = i.argv[i.argv.indexOf('--out') + 1];
    assert.ok(!existsSync(out), `${label(i)} created ${out}`);
  }
});

test('hostile corpus through bin/exp.js itself: one damaged file per command', { timeout: 15 * 60_000 }, async () => {
  const { inv } = await prepared();
  const failures: string[] = [];
  for (const command of COMMANDS) {
    const i = inv.find((x) => x.command === command && !x.name.startsWith('run.json')) ?? inv.find((x) => x.command === command)!;
    const r = await exp(i.argv);
    const p = problem(i, { code: r.code, stderr: r.stderr });
    if (p) failures.push(`${label(i)}: ${p}`);
  }
  assert.deepEqual(failures, []);
});

// A run whose experiment file is outside any git repository says so when it starts: its record
// has no code version (git.available: false), so exp reproduce could never rebuild it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { exp, ROOT, SMOKE } from './helpers.ts';

test('a run outside a git repository warns at the start that it cannot be reproduced from git', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'exp-nogit-'));
  const file = join(dir, 'mine.yaml');
  writeFileSync(file, `extends: ${JSON.stringify(join(ROOT, 'experiments', 'quickstart.yaml'))}\nname: mine\n`);
  const runs = join(dir, 'runs');
  // what the stages had printed when the warning came
  let stagesWhenWarned: string | null = null;
  let stdout = '';
  const p = exp(['run', file, ...SMOKE, '--set', 'data.test=null', '--runs-dir', runs], { cwd: dir, onStdout: (s) => (stdout = s) });
  p.child.stderr!.on('data', (d) => {
    if (stagesWhenWarned === null && /not inside a git repository/.test(String(d))) stagesWhenWarned = stdout;
  });
  const r = await p;
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /^warning: \S+ is not inside a git repository: this run records no code version, so exp reproduce cannot rebuild it\. Keep the experiment in a git repository/);
  assert.equal(r.stderr.match(/not inside a git repository/g)!.length, 1);
  assert.doesNotMatch(stagesWhenWarned ?? 'no warning', /Train tiny/, 'the warning comes before training');
  const run = JSON.parse(readFileSync(join(runs, readdirSync(runs)[0], 'run.json'), 'utf8'));
  assert.equal(run.git.available, false);
});

#!/usr/bin/env node
// Runs every *.test.ts under test/ with Node's own test runner (through tsx), so CI's
// summary line counts them. Extra arguments are passed to `node --test` (e.g. a file filter).
// The tests run the sources: EXP_SOURCES=1 makes every `exp` they start skip dist/ (the compiled
// CLI), which test/cli/build.test.ts checks against the sources.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

function find(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) { if (name !== 'fixtures') out.push(...find(p)); }
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}
const args = process.argv.slice(2);
const filters = args.filter((a) => !a.startsWith('-'));
const flags = args.filter((a) => a.startsWith('-'));
let files = find('test');
if (filters.length) files = files.filter((f) => filters.some((x) => f.includes(x)));
const r = spawnSync(process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=2', ...flags, ...files],
  { stdio: 'inherit', env: { ...process.env, EXP_TEST: '1', EXP_SOURCES: '1' } });
process.exit(r.status ?? 1);

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gitProvenance, UNTRACKED_LIMITS } from '../../src/runs/git.ts';
import { git, makeRepo, tempDir, writeFiles } from './helpers.ts';

const BINARY = Uint8Array.from({ length: 300 }, (_, i) => (i * 37) % 256);

/** Every file under dir except .git, with its bytes and executable bit. */
function snapshot(dir: string, prefix = ''): Map<string, string> {
  const out = new Map<string, string>();
  for (const name of readdirSync(dir).sort()) {
    if (name === '.git') continue;
    const p = join(dir, name);
    const st = statSync(p);
    if (st.isDirectory()) for (const [k, v] of snapshot(p, `${prefix}${name}/`)) out.set(k, v);
    else out.set(`${prefix}${name}`, `${st.mode & 0o100 ? 'x' : '-'} ${readFileSync(p).toString('base64')}`);
  }
  return out;
}

test('a clean repository: sha, branch, not dirty, empty patch', async (t) => {
  const repo = tempDir(t);
  const sha = makeRepo(repo, { 'experiments/a.yaml': 'name: a\n', 'README.md': 'hi\n' });
  const g = await gitProvenance(join(repo, 'experiments'));
  assert.deepEqual(g, { available: true, sha, branch: 'main', dirty: false, patch: '', root: repo, untrackedOmitted: { count: 0, paths: [] } });
});

test('a dirty repository: the patch replays tracked edits, deletions and untracked files on a fresh checkout', async (t) => {
  const root = tempDir(t);
  const repo = join(root, 'repo');
  const sha = makeRepo(repo, {
    'a.txt': 'one\n', 'gone.txt': 'bye\n', 'src/model.ts': 'export const x = 1;\n', 'data.bin': BINARY, '.gitignore': 'ignored/\n*.log\n',
  });
  // same-size edit right after the commit: git's cached stat info must not hide it
  writeFiles(repo, {
    'a.txt': 'two\n',
    'src/model.ts': 'export const x = 2;\nexport const y = 3;\n',
    'data.bin': BINARY.map((b) => 255 - b),
    'new dir/notes [draft]*.md': '# with spaces and glob characters\n',
    'src/extra.bin': Uint8Array.from([0, 1, 2, 3, 0, 255]),
    'run.sh': '#!/bin/sh\necho hi\n',
    'ignored/big.txt': 'not recorded\n',
    'train.log': 'not recorded\n',
  });
  chmodSync(join(repo, 'run.sh'), 0o755);
  rmSync(join(repo, 'gone.txt'));
  const statusBefore = git(repo, 'status', '--porcelain');

  const g = await gitProvenance(repo);
  assert.ok(g.available);
  assert.equal(g.sha, sha);
  assert.equal(g.dirty, true);
  assert.doesNotMatch(g.patch, /not recorded/, 'ignored files stay out');
  assert.equal(git(repo, 'status', '--porcelain'), statusBefore, "the user's index is untouched");
  assert.equal(git(repo, 'diff', '--cached', '--name-only'), '');

  const fresh = join(root, 'fresh');
  git(root, 'clone', '-q', repo, fresh);
  git(fresh, 'checkout', '-q', '--detach', sha);
  writeFileSync(join(root, 'git.patch'), g.patch);
  git(fresh, 'apply', join(root, 'git.patch'));
  const expected = snapshot(repo);
  for (const k of ['ignored/big.txt', 'train.log']) expected.delete(k);
  assert.deepEqual(snapshot(fresh), expected);
});

test('an edit that keeps size and timestamps (same clock tick as the commit) is still in the patch', async (t) => {
  // Git trusts cached stat data unless the file is as new as the index ("racy git"); the
  // provenance code diffs through a copy of the index, which must not look newer than the original.
  const repo = tempDir(t);
  mkdirSync(repo, { recursive: true });
  git(repo, 'init', '-q', '-b', 'main', '.');
  git(repo, 'config', 'core.trustctime', 'false'); // ctime cannot be set from here; mtime can
  const tick = 1_700_000_000;
  writeFileSync(join(repo, 'a.txt'), 'one\n');
  utimesSync(join(repo, 'a.txt'), tick, tick);
  git(repo, 'add', 'a.txt');
  git(repo, 'commit', '-q', '-m', 'initial');
  utimesSync(join(repo, '.git', 'index'), tick, tick);
  writeFileSync(join(repo, 'a.txt'), 'two\n');
  utimesSync(join(repo, 'a.txt'), tick, tick);
  writeFileSync(join(repo, 'untracked.txt'), 'u\n'); // diffs through the index copy
  const g = await gitProvenance(repo);
  assert.ok(g.available);
  assert.match(g.patch, /^\+two$/m);
  assert.match(g.patch, /^\+u$/m);
});

test('a detached HEAD has no branch', async (t) => {
  const repo = tempDir(t);
  const sha = makeRepo(repo, { 'a.txt': 'a\n' });
  git(repo, 'checkout', '-q', '--detach');
  const g = await gitProvenance(repo);
  assert.ok(g.available);
  assert.equal(g.branch, null);
  assert.equal(g.sha, sha);
});

test('untracked files over the size limit are listed as omitted, not copied into the patch', async (t) => {
  const repo = tempDir(t);
  makeRepo(repo, { 'a.txt': 'a\n' });
  writeFiles(repo, { 'data/huge.bin': new Uint8Array(UNTRACKED_LIMITS.fileBytes + 1), 'small.txt': 'small\n' });
  const g = await gitProvenance(repo);
  assert.ok(g.available);
  assert.equal(g.dirty, true);
  assert.deepEqual(g.untrackedOmitted, { count: 1, paths: ['data/huge.bin'] });
  assert.match(g.patch, /b\/small\.txt/);
  assert.doesNotMatch(g.patch, /huge\.bin/);
});

test('outside a repository: available false with the reason, no exception', async (t) => {
  const dir = tempDir(t);
  try {
    git(dir, 'rev-parse', '--show-toplevel');
    t.skip(`${tmpdir()} is inside a git repository on this machine`);
    return;
  } catch {
    // expected: not a repository
  }
  const g = await gitProvenance(dir);
  assert.equal(g.available, false);
  assert.match(g.available ? '' : g.reason, /is not inside a git repository/);
  assert.deepEqual([g.sha, g.branch, g.dirty, g.patch, g.root], [null, null, null, null, null]);
  const missing = await gitProvenance(join(dir, 'nope'));
  assert.match(missing.available ? '' : missing.reason, /is not a directory/);
});

test('a repository without commits: available false, "no commits yet"', async (t) => {
  const repo = tempDir(t);
  git(repo, 'init', '-q', '.');
  writeFileSync(join(repo, 'a.txt'), 'a\n');
  const g = await gitProvenance(repo);
  assert.equal(g.available, false);
  assert.match(g.available ? '' : g.reason, /has no commits yet/);
});

test('without a git executable: available false, "git is not installed"', async (t) => {
  const repo = tempDir(t);
  makeRepo(repo, { 'a.txt': 'a\n' });
  const empty = join(repo, 'empty-path');
  mkdirSync(empty);
  const saved = process.env.PATH;
  process.env.PATH = empty;
  try {
    const g = await gitProvenance(repo);
    assert.equal(g.available, false);
    assert.match(g.available ? '' : g.reason, /git is not installed/);
  } finally {
    process.env.PATH = saved;
  }
});

test('works under npm, which sets EDITOR (simple-git refuses such variables unless they are dropped)', async (t) => {
  const repo = tempDir(t);
  makeRepo(repo, { 'a.txt': 'one\n' });
  writeFiles(repo, { 'new.txt': 'untracked\n' });
  const saved = { EDITOR: process.env.EDITOR, PAGER: process.env.PAGER, GIT_ASKPASS: process.env.GIT_ASKPASS };
  Object.assign(process.env, { EDITOR: 'vi', PAGER: 'less', GIT_ASKPASS: '/bin/true' });
  try {
    const g = await gitProvenance(repo);
    assert.ok(g.available, g.available ? '' : g.reason);
    assert.match(g.patch, /new file mode[^]*\+untracked/);
  } finally {
    for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k]; else process.env[k] = v;
  }
});

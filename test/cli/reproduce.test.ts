// `exp reproduce`: the run's code is rebuilt from its record alone (commit + git.patch) and the
// verdict compares metrics. The runs are made in a throwaway git repository holding a copy of
// exp (so this test neither depends on nor touches the project's own history): once clean, once
// with an uncommitted edit and an untracked experiment file that only git.patch carries.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { exp, ROOT, SMOKE } from './helpers.ts';
import { compareMetrics } from '../../src/runs/reproduce.ts';

const SHIPPED = ['bin', 'src', 'schemas', 'experiments', 'data/sample', 'package.json', 'package-lock.json', 'tsconfig.json', '.gitignore'];

function scratchRepo(): string {
  const base = mkdtempSync(join(tmpdir(), 'exp-repro-repo-'));
  const repo = join(base, 'repo');
  for (const p of SHIPPED) cpSync(join(ROOT, p), join(repo, p), { recursive: true });
  // one level up, so the repository itself stays clean (Node looks for packages in parent folders)
  symlinkSync(join(ROOT, 'node_modules'), join(base, 'node_modules'), 'dir');
  const git = (...args: string[]) => execFileSync('git', ['-c', 'user.name=exp test', '-c', 'user.email=test@exp', ...args], { cwd: repo, stdio: 'pipe' });
  git('init', '-q');
  git('add', '-A');
  git('commit', '-q', '-m', 'snapshot');
  return repo;
}

const onlyRun = (runs: string) => join(runs, readdirSync(runs)[0]);
const json = (p: string) => JSON.parse(readFileSync(p, 'utf8'));

test('reproduce rebuilds a clean run and a dirty run (edit + untracked file) and finds the same metrics', async () => {
  const repo = scratchRepo();
  const bin = ['--backend', 'wasm', '--quiet'];
  const clean = join(repo, '..', 'runs-clean');
  const a = await exp(['run', 'experiments/quickstart.yaml', ...SMOKE, '--runs-dir', clean, ...bin], { cwd: repo });
  assert.equal(a.code, 0, a.stderr);
  assert.equal(json(join(onlyRun(clean), 'run.json')).git.dirty, false);
  const ra = await exp(['reproduce', onlyRun(clean), '--quiet'], { cwd: repo });
  assert.equal(ra.code, 0, ra.stderr + ra.stdout);
  assert.match(ra.stdout, /^reproduced: \d+ metric values agree, exact comparison \(wasm is deterministic\)/);

  // Dirty: a tracked edit that changes results and an untracked experiment; without git.patch
  // the rebuilt tree would have neither and the metrics (or the run itself) would differ.
  const q = join(repo, 'experiments', 'quickstart.yaml');
  writeFileSync(q, readFileSync(q, 'utf8').replace('lr: 3.0e-3', 'lr: 1.0e-2'));
  mkdirSync(join(repo, 'experiments', 'local'));
  writeFileSync(join(repo, 'experiments', 'local', 'mine.yaml'), 'name: mine\nextends: ../quickstart.yaml\nloss: { gamma: 1 }\n');
  const dirty = join(repo, '..', 'runs-dirty');
  const b = await exp(['run', 'experiments/local/mine.yaml', ...SMOKE, '--runs-dir', dirty, ...bin], { cwd: repo });
  assert.equal(b.code, 0, b.stderr);
  const run = json(join(onlyRun(dirty), 'run.json'));
  assert.equal(run.git.dirty, true);
  assert.equal(run.experiment_path, 'experiments/local/mine.yaml');
  assert.notDeepEqual(json(join(onlyRun(dirty), 'metrics.json')), json(join(onlyRun(clean), 'metrics.json')), 'the edit changes results');
  const rb = await exp(['reproduce', onlyRun(dirty), '--quiet'], { cwd: repo });
  assert.equal(rb.code, 0, rb.stderr + rb.stdout);
  assert.match(rb.stdout, /^reproduced: .* exact comparison/);
  assert.match(rb.stderr, /\+ git\.patch/);
  assert.equal(execFileSync('git', ['worktree', 'list'], { cwd: repo, encoding: 'utf8' }).trim().split('\n').length, 1, 'temporary worktrees removed');
});

test('the verdict compares every metric: exactly, or within the stated tolerance', () => {
  const recorded = { val: { tta1: { species: { macro_f1: 0.5, accuracy: 0.25, top5: 0.75 } } } };
  const same = structuredClone(recorded);
  assert.deepEqual(compareMetrics(recorded, same, 0), { compared: 3, diffs: [], maxAbs: 0 });
  const off = structuredClone(recorded);
  off.val.tta1.species.macro_f1 = 0.5 + 1e-9;
  assert.deepEqual(compareMetrics(recorded, off, 0).diffs.map((d) => d.path), ['val.tta1.species.macro_f1']);
  assert.equal(compareMetrics(recorded, off, 1e-6).diffs.length, 0);
  const missing = { val: { tta1: { species: { macro_f1: 0.5, accuracy: 0.25 } } } };
  assert.deepEqual(compareMetrics(recorded, missing as never, 1).diffs, [{ path: 'val.tta1.species.top5', recorded: 0.75, reproduced: null }]);
});

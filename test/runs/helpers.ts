// Shared by the run-record tests: temporary folders, a git repository to record, and a run
// created with plausible options.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createRun, type CreateRunOptions } from '../../src/runs/record.ts';

export function tempDir(t: { after: (fn: () => void) => void }, prefix = 'exp-runs-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Environment for git without the caller's GIT_* variables (a hook's GIT_DIR would redirect it). */
function gitEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^GIT_/i.test(k)) env[k] = v;
  return { ...env, GIT_AUTHOR_NAME: 'Test', GIT_AUTHOR_EMAIL: 't@example.com', GIT_COMMITTER_NAME: 'Test', GIT_COMMITTER_EMAIL: 't@example.com' };
}

export function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd, env: gitEnv(), encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export function writeFiles(root: string, files: Record<string, string | Uint8Array>): void {
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(dirname(join(root, name)), { recursive: true });
    writeFileSync(join(root, name), content);
  }
}

/** A repository on branch main with one commit holding `files`. */
export function makeRepo(root: string, files: Record<string, string | Uint8Array>): string {
  mkdirSync(root, { recursive: true });
  git(root, 'init', '-q', '-b', 'main', '.');
  writeFiles(root, files);
  git(root, 'add', '-A');
  git(root, 'commit', '-q', '-m', 'initial');
  return git(root, 'rev-parse', 'HEAD').trim();
}

export const CONFIG_HASH = 'a'.repeat(64);

export function runOptions(runsDir: string, cwdForGit: string, extra: Partial<CreateRunOptions> = {}): CreateRunOptions {
  return {
    runsDir,
    name: 'focal-hier',
    experimentText: '# as written\nname: focal-hier\nseed: 139\n',
    experimentPath: join(cwdForGit, 'focal-hier.yaml'),
    resolvedConfigYaml: 'name: focal-hier\nseed: 139\ntrain:\n  epochs: 3\n',
    configHash: CONFIG_HASH,
    seed: 139,
    overrides: [{ key: 'train.epochs', value: 3, source: '--set train.epochs' }],
    sweep: null,
    argv: ['run', 'focal-hier.yaml', '--set', 'train.epochs=3'],
    cwdForGit,
    ...extra,
  };
}

export const newRun = (runsDir: string, cwdForGit: string, extra: Partial<CreateRunOptions> = {}) =>
  createRun(runOptions(runsDir, cwdForGit, extra));

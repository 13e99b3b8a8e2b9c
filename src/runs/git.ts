// Git provenance of the repository an experiment file lives in: HEAD, branch, and every
// uncommitted change as one patch that `git apply` replays on a checkout of HEAD (tracked edits
// and untracked files alike), so `exp reproduce` can rebuild the exact code of a dirty run.
// This is the only module that imports simple-git. It never throws: outside a repository, without
// git, or before the first commit it returns available:false with the reason.
import { copyFileSync, existsSync, mkdtempSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { simpleGit, type SimpleGit } from 'simple-git';

/** Untracked files beyond these limits are listed as omitted instead of copied into the patch:
 * an unignored data folder must not turn git.patch into a copy of the dataset. */
export const UNTRACKED_LIMITS = { fileBytes: 1 << 20, totalBytes: 16 << 20, files: 2000, listed: 100 };

export type GitProvenance =
  | {
      available: true;
      sha: string;
      branch: string | null; // null on a detached HEAD
      dirty: boolean;
      patch: string; // '' when clean
      root: string;
      /** Untracked files left out of the patch (too large or too many); `paths` lists the first 100. */
      untrackedOmitted: { count: number; paths: string[] };
    }
  | { available: false; reason: string; sha: null; branch: null; dirty: null; patch: null; root: null };

function unavailable(reason: string): GitProvenance {
  return { available: false, reason, sha: null, branch: null, dirty: null, patch: null, root: null };
}

function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n').map((l) => l.trim()).find(Boolean) ?? text;
}

function isSpawnFailure(err: unknown): boolean {
  // simple-git wraps the spawn error; ENOENT means no git binary on PATH.
  const text = err instanceof Error ? `${err.message} ${String((err as { cause?: unknown }).cause ?? '')}` : String(err);
  return /ENOENT|spawn git/i.test(text);
}

export async function gitProvenance(dir: string): Promise<GitProvenance> {
  const abs = resolve(dir);
  if (!existsSync(abs) || !statSync(abs).isDirectory()) return unavailable(`${dir} is not a directory`);
  let root: string;
  let index: string; // the repository's index file, which the diff of untracked files copies
  try {
    const [top, gitPath] = (await simpleGit({ baseDir: abs }).revparse(['--show-toplevel', '--git-path', 'index'])).split('\n');
    root = top.trim();
    index = resolve(abs, gitPath.trim());
  } catch (err) {
    if (isSpawnFailure(err)) return unavailable('git is not installed (no `git` on PATH)');
    if (/not a git repository/i.test(String(err))) return unavailable(`${dir} is not inside a git repository`);
    return unavailable(`git failed in ${dir}: ${firstLine(err)}`);
  }
  const git = simpleGit({ baseDir: root });
  let sha: string;
  let branch: string | null;
  try {
    // one process for both; `--` keeps HEAD from being read as a path
    const [commit, ref] = (await git.revparse(['HEAD^{commit}', '--abbrev-ref', 'HEAD', '--'])).split('\n').map((l) => l.trim());
    if (!/^[0-9a-f]{40,64}$/.test(commit)) throw new Error(`unexpected rev-parse output ${commit}`);
    sha = commit;
    branch = ref === 'HEAD' || !ref ? null : ref; // HEAD: detached
  } catch (err) {
    if (/bad revision|unknown revision|ambiguous argument/i.test(String(err))) return unavailable(`the git repository at ${root} has no commits yet`);
    return unavailable(`git failed in ${root}: ${firstLine(err)}`);
  }
  try {
    const { included, omitted } = await untrackedFiles(git, root);
    const patch = await diffAgainstHead(git, root, sha, index, included);
    return {
      available: true,
      sha,
      branch,
      dirty: patch.length > 0 || omitted.length > 0,
      patch,
      root,
      untrackedOmitted: { count: omitted.length, paths: omitted.slice(0, UNTRACKED_LIMITS.listed) },
    };
  } catch (err) {
    return unavailable(`git failed in ${root}: ${firstLine(err)}`);
  }
}

/** Untracked, not ignored files (root-relative), split into those the patch carries and the rest. */
async function untrackedFiles(git: SimpleGit, root: string): Promise<{ included: string[]; omitted: string[] }> {
  const out = await git.raw(['ls-files', '--others', '--exclude-standard', '-z']);
  const paths = out.split('\0').filter(Boolean).sort();
  const included: string[] = [];
  const omitted: string[] = [];
  let total = 0;
  for (const p of paths) {
    let size = 0;
    try {
      size = statSync(join(root, p)).size;
    } catch {
      continue; // vanished between listing and stat
    }
    const fits = size <= UNTRACKED_LIMITS.fileBytes && total + size <= UNTRACKED_LIMITS.totalBytes && included.length < UNTRACKED_LIMITS.files;
    if (fits) {
      included.push(p);
      total += size;
    } else omitted.push(p);
  }
  return { included, omitted };
}

const UNNEEDED_ENV = /^(git_|ssh_)|^(editor|visual|pager|less|lv)$|askpass/i;

/**
 * `git diff HEAD` of the working tree, untracked files included as new-file diffs. The untracked
 * files are marked intent-to-add in a throwaway copy of the index (GIT_INDEX_FILE), so the user's
 * index is untouched and no objects are written; --binary makes binary files apply too.
 */
async function diffAgainstHead(git: SimpleGit, root: string, sha: string, realIndex: string, untracked: string[]): Promise<string> {
  const diffArgs = ['diff', sha, '--binary', '--no-color', '--no-ext-diff', '--no-textconv', '--no-renames', '--src-prefix=a/', '--dst-prefix=b/'];
  if (untracked.length === 0) return git.raw(diffArgs);
  const tmp = mkdtempSync(join(tmpdir(), 'exp-git-'));
  try {
    const index = join(tmp, 'index');
    if (existsSync(realIndex)) {
      copyFileSync(realIndex, index);
      // Git trusts an entry's cached stat only when the file is older than the index file
      // ("racy git"); a copy made now would look newer and hide same-size edits made in the
      // second before the last `git add`. Date the copy a second before the original instead.
      const { mtimeMs } = statSync(realIndex);
      utimesSync(index, (mtimeMs - 1000) / 1000, (mtimeMs - 1000) / 1000);
    }
    // Ambient GIT_* variables (GIT_DIR from a hook, say) would redirect git; drop them, then allow
    // the rest explicitly because simple-git rejects guarded variables passed through env().
    const env: Record<string, string> = {};
    // simple-git also refuses variables that can make git run programs (EDITOR, PAGER, *ASKPASS,
    // SSH commands): a diff needs none, and npm sets EDITOR for every script it runs.
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !UNNEEDED_ENV.test(k)) env[k] = v;
    env.GIT_INDEX_FILE = index;
    env.GIT_LITERAL_PATHSPECS = '1'; // file names are names, not globs
    const scratch = simpleGit({ baseDir: root, allowEnvironment: Object.keys(env) }).env(env);
    if (!existsSync(realIndex)) await scratch.raw(['read-tree', sha]);
    const list = join(tmp, 'paths');
    writeFileSync(list, untracked.join('\0'));
    await scratch.raw(['add', '--intent-to-add', `--pathspec-from-file=${list}`, '--pathspec-file-nul']);
    return await scratch.raw(diffArgs);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

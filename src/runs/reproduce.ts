// What `exp reproduce` needs besides running exp: rebuild a run's code from its record (a
// temporary git worktree of the recorded commit with git.patch applied) and compare two
// metrics.json files. The worktree lives at <tmp>/exp-reproduce-*/tree and the installed
// node_modules is linked one level up (<tmp>/exp-reproduce-*/node_modules): Node finds packages
// by walking up from the importing file, so nothing is reinstalled and the worktree itself stays
// exactly the recorded tree (a node_modules link inside it would show up as an untracked file).
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { RunError, UserError } from '../errors.ts';
import { sha256 } from '../util/hash.ts';
import type { MetricsJson, RunJson } from './schemas.ts';
import { versions } from './versions.ts';
import { resolveDecoder, type DecoderChoice } from '../data/jpeg.ts';
import { readConfigYaml } from './read-config.ts';

const run = promisify(execFile);
/** The installation of exp that is running (whose node_modules the worktree borrows). */
const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface Checkout {
  /** The worktree: the recorded commit with git.patch applied. */
  dir: string;
  /** Things that may make the reproduction differ (printed as warnings). */
  warnings: string[];
  remove(): Promise<void>;
}

async function git(cwd: string, args: string[]): Promise<string> {
  try {
    return (await run('git', args, { cwd, maxBuffer: 1 << 30 })).stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new RunError(`git ${args[0]} failed in ${cwd}: ${(e.stderr || e.message).trim().split('\n')[0]}`);
  }
}

/** Checks out `run`'s code (recorded sha + git.patch) in a temporary worktree of its repository. */
export async function checkoutRun(run: RunJson, runDir: string): Promise<Checkout> {
  const g = run.git;
  if (!g.available || !g.sha || !g.root) {
    throw new UserError(`${runDir} has no git provenance (${'reason' in g && g.reason ? g.reason : 'git was unavailable'}), so its code cannot be rebuilt; reproduce needs a run started inside a git repository.`);
  }
  if (!existsSync(g.root)) throw new UserError(`${runDir} was made in the repository ${g.root}, which does not exist here; clone it there (or run exp reproduce where it exists).`);
  try {
    await git(g.root, ['cat-file', '-e', `${g.sha}^{commit}`]);
  } catch {
    throw new UserError(`commit ${g.sha.slice(0, 12)} of ${runDir} is not in ${g.root}; fetch it (git fetch) and try again.`);
  }
  const warnings: string[] = [];
  const base = mkdtempSync(join(tmpdir(), 'exp-reproduce-'));
  const dir = join(base, 'tree');
  const remove = async () => {
    await git(g.root!, ['worktree', 'remove', '--force', dir]).catch(() => undefined);
    rmSync(base, { recursive: true, force: true });
    await git(g.root!, ['worktree', 'prune']).catch(() => undefined);
  };
  try {
    await git(g.root, ['worktree', 'add', '--detach', dir, g.sha]);
    const patchFile = join(runDir, 'git.patch');
    const patch = existsSync(patchFile) ? readFileSync(patchFile) : Buffer.alloc(0);
    if (g.patch_sha256 && sha256(patch) !== g.patch_sha256) warnings.push(`git.patch does not match the hash recorded in run.json (edited after the run?); applying it anyway`);
    if (patch.length) {
      const copy = join(base, 'git.patch');
      writeFileSync(copy, patch);
      await git(dir, ['apply', '--binary', '--whitespace=nowarn', copy]);
    }
    if (g.untracked_omitted?.count) {
      warnings.push(`${g.untracked_omitted.count} untracked file(s) were too large or too many to record in git.patch (${g.untracked_omitted.paths.slice(0, 3).join(', ')}...); the rebuilt tree lacks them`);
    }
    const modules = join(PACKAGE_ROOT, 'node_modules');
    if (!existsSync(modules)) throw new UserError(`no node_modules in ${PACKAGE_ROOT}; install exp's dependencies (npm ci) first.`);
    symlinkSync(modules, join(base, 'node_modules'), 'dir');
    const lockNow = versions().lockfile_sha256;
    const lockThen = run.versions.lockfile_sha256;
    if (lockThen && lockNow !== lockThen) {
      warnings.push(`package-lock.json differs from the run's (sha256 ${lockThen.slice(0, 12)} recorded, ${lockNow?.slice(0, 12) ?? 'none'} installed): the installed dependencies are used, so results may differ`);
    }
    const decoderWarning = decoderDiffers(run, runDir);
    if (decoderWarning) warnings.push(decoderWarning);
    return { dir, warnings, remove };
  } catch (err) {
    await remove();
    throw err;
  }
}

/** A warning when this machine would decode the run's images with another decoder than the record says. */
export function decoderDiffers(run: RunJson, runDir: string): string | null {
  const then = run.data?.decoder;
  if (!then) return null;
  const cfg = readConfigYaml(runDir) as { data?: { loader?: { decoder?: DecoderChoice } } } | undefined;
  const choice: DecoderChoice = cfg?.data?.loader?.decoder ?? 'auto'; // no config: the default
  let now: string;
  try {
    now = resolveDecoder(choice).description;
  } catch (e) {
    now = `none (${(e as Error).message})`;
  }
  if (now === then) return null;
  return `the run's images were decoded by ${then}; this machine would use ${now}. The two resample ` +
    'differently (about 1/255 per pixel), so results may differ slightly; build or hide the libjpeg-turbo ' +
    'addon (README, "Image decoding") or set data.loader.decoder to match.';
}

export interface MetricDiff {
  path: string;
  recorded: number | null;
  reproduced: number | null;
}

/**
 * Every number in either metrics.json, compared: equal when |a - b| <= tolerance (0: exactly
 * equal). A value present in one file only is a difference.
 */
export function compareMetrics(recorded: MetricsJson, reproduced: MetricsJson, tolerance: number): { compared: number; diffs: MetricDiff[]; maxAbs: number } {
  const diffs: MetricDiff[] = [];
  let compared = 0;
  let maxAbs = 0;
  const num = (v: unknown): number | null => (typeof v === 'number' ? v : null);
  const walk = (a: unknown, b: unknown, path: string) => {
    const isObj = (v: unknown) => v !== null && typeof v === 'object';
    if (isObj(a) || isObj(b)) {
      const ao = (isObj(a) ? a : {}) as Record<string, unknown>;
      const bo = (isObj(b) ? b : {}) as Record<string, unknown>;
      for (const k of [...new Set([...Object.keys(ao), ...Object.keys(bo)])].sort()) walk(ao[k], bo[k], path ? `${path}.${k}` : k);
      return;
    }
    compared++;
    const x = num(a), y = num(b);
    if (x === null && y === null && a === b) return;
    const d = x !== null && y !== null ? Math.abs(x - y) : Infinity;
    if (Number.isFinite(d)) maxAbs = Math.max(maxAbs, d);
    if (!(d <= tolerance) && !(x !== null && y !== null && x === y)) diffs.push({ path, recorded: x, reproduced: y });
  };
  walk(recorded, reproduced, '');
  return { compared, diffs, maxAbs };
}

// What `exp reproduce` needs besides running exp: rebuild a run's code from its record (a
// temporary git worktree of the recorded commit with git.patch applied, with the built addons),
// the command line that re-runs it, and the verdict: which metrics differ, and whether bitwise
// equality was to be expected (same deterministic backend, CPU, libraries, decoder and data).
// The worktree lives at <tmp>/exp-reproduce-*/tree and the installed node_modules is linked one
// level up (<tmp>/exp-reproduce-*/node_modules): Node finds packages by walking up from the
// importing file, so nothing is reinstalled and the worktree itself stays exactly the recorded
// tree (a node_modules link inside it would show up as an untracked file).
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { RunError, UserError } from '../errors.ts';
import { sha256 } from '../util/hash.ts';
import type { CpuInfo, MetricsJson, RunJson } from './schemas.ts';
import { versions } from './versions.ts';
import { resolveDecoder, type DecoderChoice } from '../data/jpeg.ts';
import { getAtPath, PATH_KEYS } from '../config/index.ts';
import { readConfigYaml } from './read-config.ts';

const run = promisify(execFile);
/** The installation of exp that is running (whose node_modules the worktree borrows). */
const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface Checkout {
  /** The worktree: the recorded commit with git.patch applied. */
  dir: string;
  /** Things that may make the reproduction differ (printed as warnings). */
  warnings: string[];
  /** What was done to the tree besides the checkout (addons copied or rebuilt). */
  notes: string[];
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
export async function checkoutRun(run: RunJson, runDir: string, progress: (line: string) => void = () => undefined): Promise<Checkout> {
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
    const notes = await provideAddons(dir, warnings, progress);
    return { dir, warnings, notes, remove };
  } catch (err) {
    await remove();
    throw err;
  }
}

/**
 * The addons scripts/build-native.js builds, each from the files of its folder (build/ is
 * node-gyp's scratch space; native/jpeg/ is the other addon).
 */
export const ADDONS = [
  { name: 'exp_native', what: 'native kernels (the native backend)', dir: 'native', skip: ['build', 'jpeg'] },
  { name: 'exp_jpeg', what: 'JPEG fast path (data.loader.decoder)', dir: join('native', 'jpeg'), skip: ['build'] },
] as const;

/** sha256 over an addon's source files (path and content) under `root`; null when it has none. */
export function addonSourceHash(root: string, addon: (typeof ADDONS)[number]): string | null {
  const base = join(root, addon.dir);
  if (!existsSync(base)) return null;
  const files: [string, string][] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (dir === base && (addon.skip as readonly string[]).includes(e.name)) continue;
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) files.push([relative(base, p), sha256(readFileSync(p))]);
    }
  };
  walk(base);
  if (!files.length) return null;
  files.sort((a, b) => (a[0] < b[0] ? -1 : 1));
  return sha256(JSON.stringify(files));
}

/**
 * Gives the rebuilt tree the addons its code was built with. The worktree has only tracked files,
 * so without this the native backend "is not built" there. Where the recorded addon sources are
 * this installation's, its built addon is copied (the same sources built on the same machine);
 * where they differ, the installation's binary would run other kernels than the recorded code's
 * (or fail on a changed interface), so the addon is rebuilt from the recorded sources with the
 * tree's own scripts/build-native.js. An addon this installation lacks is rebuilt too, which
 * succeeds only when its library is installed (the build script says why not).
 */
async function provideAddons(tree: string, warnings: string[], progress: (line: string) => void): Promise<string[]> {
  const notes: string[] = [];
  let rebuild = false;
  const copy: string[] = [];
  for (const a of ADDONS) {
    const then = addonSourceHash(tree, a);
    if (then === null) continue; // the recorded code has no such addon
    const built = join(PACKAGE_ROOT, 'build', 'Release', `${a.name}.node`);
    if (existsSync(built) && then === addonSourceHash(PACKAGE_ROOT, a)) copy.push(a.name);
    else rebuild = true;
  }
  for (const name of copy) {
    mkdirSync(join(tree, 'build', 'Release'), { recursive: true });
    copyFileSync(join(PACKAGE_ROOT, 'build', 'Release', `${name}.node`), join(tree, 'build', 'Release', `${name}.node`));
    notes.push(`${name}: this installation's build (same sources as the recorded code)`);
  }
  if (!rebuild) return notes;
  const script = join(tree, 'scripts', 'build-native.js');
  if (!existsSync(script)) {
    warnings.push('the recorded code has addon sources but no scripts/build-native.js to build them; runs that used them cannot be reproduced here');
    return notes;
  }
  for (const a of ADDONS) {
    if (copy.includes(a.name) || addonSourceHash(tree, a) === null) continue;
    progress(`building ${a.name} from the recorded sources (they differ from this installation's)...`);
    let line: string;
    try {
      line = (await run(process.execPath, [script, a.name], { cwd: tree, maxBuffer: 1 << 24 })).stdout.trim();
    } catch (err) {
      line = ((err as { stdout?: string }).stdout ?? (err as Error).message).trim();
    }
    if (existsSync(join(tree, 'build', 'Release', `${a.name}.node`))) {
      notes.push(`${a.name}: rebuilt from the recorded sources (they differ from this installation's)`);
    } else {
      warnings.push(`${a.what} could not be built from the recorded sources (${line.replace(/^exp: /, '')}); runs that used it cannot be reproduced here`);
    }
  }
  return notes;
}

/** The `exp run` arguments that re-run `rec` (with `config`, its config.yaml) from the rebuilt `tree`, into `out`. */
export function reproduceArgv(rec: RunJson, config: Record<string, unknown>, tree: string, opts: { out: string; backend: string; quiet: boolean }): string[] {
  const root = rec.git.root!;
  const path = rec.experiment_path!;
  const experiment = isAbsolute(path) ? mapInto(path, root, tree) : join(tree, path);
  const argv = ['run', experiment, '--set', 'sweep=null'];
  // The recorded overrides (--set, --sweep and sweep-block values alike) in their recorded order.
  for (const o of rec.overrides) argv.push('--set', `${o.key}=${JSON.stringify(o.value)}`);
  // Data outside the repository (or not committed) is read where the run read it.
  for (const key of PATH_KEYS) {
    const v = getAtPath(config, key);
    if (typeof v !== 'string' || !isAbsolute(v)) continue;
    const mapped = mapInto(v, root, tree);
    if (!existsSync(mapped) && existsSync(v)) argv.push('--set', `${key.join('.')}=${JSON.stringify(v)}`);
  }
  // `auto` replicas follow the core count; the record says how many the run used
  const replicas = rec.backend?.replicas;
  if (getAtPath(config, ['train', 'replicas']) === 'auto' && typeof replicas === 'number') {
    argv.push('--set', `train.replicas=${replicas}`);
  }
  argv.push('--runs-dir', opts.out, '--backend', opts.backend, '--name', rec.name);
  if (opts.quiet) argv.push('--quiet');
  return argv;
}

/** `abs` inside `root` -> the same place inside `into`; outside it, unchanged. */
function mapInto(abs: string, root: string, into: string): string {
  const rel = relative(root, abs);
  return rel.startsWith('..') || isAbsolute(rel) ? abs : join(into, rel);
}

const cpuText = (c: CpuInfo) => `${c.model ?? 'unknown model'}, ${c.isa ?? 'unknown ISA'}${c.simd.length ? ` (${c.simd.join(' ')})` : ''}, ${c.cores} core${c.cores === 1 ? '' : 's'}`;
const sameCpu = (a: CpuInfo, b: CpuInfo) => a.isa === b.isa && a.cores === b.cores && a.simd.join() === b.simd.join();

export interface Expectation {
  /** Bitwise equality is expected: every recorded condition of it holds. */
  exact: boolean;
  /** When exact: what makes it so, e.g. "wasm is deterministic". */
  basis: string;
  /** When not exact: each condition that does not hold, by its cause (backend, CPU, library, decoder, data). */
  reasons: string[];
}

/**
 * Whether the reproduction (`now`, the run record it wrote) should match the run (`then`) bit for
 * bit: the same deterministic backend and version, replicas, CPU where the backend depends on it
 * (native: oneDNN's kernels follow the instruction set, its reductions the thread count), the
 * same tfjs, Node and dependency tree, image decoder and data. The code is the recorded one.
 */
export function expectation(then: RunJson, now: RunJson): Expectation {
  const reasons: string[] = [];
  const a = then.backend, b = now.backend;
  if (!a || !b) {
    reasons.push('a record names no backend');
  } else if (a.name !== b.name) {
    reasons.push(`the run trained on ${a.name} and this reproduction on ${b.name}: results are deterministic per backend, not across backends`);
  } else {
    if (!a.deterministic) reasons.push(`${a.name} is not deterministic (its results vary from run to run)`);
    if (a.version !== b.version) reasons.push(`${a.name} ${a.version ?? 'unknown version'} then, ${b.version ?? 'unknown version'} now`);
    if ((a.replicas ?? 1) !== (b.replicas ?? 1)) reasons.push(`${a.replicas ?? 1} training replica(s) then, ${b.replicas ?? 1} now`);
    if (a.name === 'native') {
      const [c, d] = [then.versions.cpu, now.versions.cpu];
      if (!c) reasons.push("the run's record has no CPU (made before exp recorded it), and native results depend on the instruction set and core count");
      else if (d && !sameCpu(c, d)) reasons.push(`the run's CPU (${cpuText(c)}) is not this one (${cpuText(d)}): native's oneDNN picks kernels by instruction set and splits sums by thread count`);
    }
  }
  const [v, w] = [then.versions, now.versions];
  if (v.tfjs !== w.tfjs) reasons.push(`tfjs ${v.tfjs ?? 'none'} then, ${w.tfjs ?? 'none'} now`);
  if (v.node !== w.node) reasons.push(`Node ${v.node} then, ${w.node} now (its JavaScript maths may differ)`);
  if (v.lockfile_sha256 && v.lockfile_sha256 !== w.lockfile_sha256) reasons.push("the installed dependencies differ from the run's (package-lock.json)");
  if (then.data?.decoder && now.data?.decoder && then.data.decoder !== now.data.decoder) reasons.push(`images decoded by ${now.data.decoder}, the run's by ${then.data.decoder}`);
  if (then.data?.fingerprint && now.data?.fingerprint && then.data.fingerprint !== now.data.fingerprint) reasons.push('the data changed since the run (its fingerprint differs)');
  let basis = '';
  if (!reasons.length && a) {
    basis = a.name === 'native' && then.versions.cpu
      ? `native is deterministic on the same instruction set and core count: ${cpuText(then.versions.cpu)}`
      : `${a.name} is deterministic`;
  }
  return { exact: reasons.length === 0, basis, reasons };
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

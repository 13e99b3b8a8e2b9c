// exp reproduce <run>: rebuild the run's code (recorded commit + git.patch, in a temporary
// worktree), run its recorded experiment there with the installed exp dependencies, and compare
// the new metrics.json with the recorded one. Exit 0 when they agree, 1 when they differ.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { RunError, UserError } from '../../errors.ts';
import { readRun, resolveRunArgs } from '../../runs/read.ts';
import { configFix, readConfigYaml } from '../../runs/read-config.ts';
import { RecordFileError } from '../../runs/read-file.ts';
import { checkoutRun, compareMetrics } from '../../runs/reproduce.ts';
import { getAtPath, PATH_KEYS } from '../../config/index.ts';

const DEFAULT_TOLERANCE = 1e-6;

export async function run(args: string[], opts: Record<string, unknown>): Promise<number> {
  const runsDir = resolve((opts['runs-dir'] as string | undefined) ?? 'runs');
  const [dir] = resolveRunArgs([args[0]], runsDir);
  const view = readRun(dir);
  const rec = view.run;
  if (rec.kind !== 'train') throw new UserError(`${dir} is an ${rec.kind} run; reproduce its member runs instead.`);
  if (rec.status !== 'completed') throw new UserError(`${dir} is ${rec.status}, so it has no final metrics to compare; resume it first (exp run --resume ${dir}).`);
  const recorded = view.metrics();
  if (!Object.keys(recorded).length) throw new UserError(`${dir} has no metrics.json to compare with.`);
  if (!rec.experiment_path) throw new UserError(`${dir} does not record its experiment file (experiment_path), so it cannot be re-run.`);
  // read (and checked) before anything is checked out: the data paths the run read
  const config = readConfigYaml(dir);
  if (!config) throw new RecordFileError(join(dir, 'config.yaml'), 'missing: the run records no resolved config, so its data paths are unknown', configFix(dir));
  const tolArg = opts.tolerance as string | undefined;
  const tolerance = tolArg === undefined ? DEFAULT_TOLERANCE : Number(tolArg);
  if (!(tolerance >= 0)) throw new UserError(`--tolerance ${tolArg}: expected a number >= 0, e.g. 1e-6`);
  const backend = (opts.backend as string | undefined) ?? rec.backend?.name ?? 'auto';
  // Bitwise equality is promised only when the same deterministic backend runs it again.
  const exact = !!rec.backend?.deterministic && backend === rec.backend.name;
  const say = (s: string) => process.stderr.write(`${s}\n`);

  const checkout = await checkoutRun(rec, dir);
  const out = mkdtempSync(join(tmpdir(), 'exp-reproduce-runs-'));
  let keep = !!opts.keep;
  try {
    for (const w of checkout.warnings) say(`warning: ${w}`);
    say(`rebuilt ${rec.git.sha?.slice(0, 12)}${rec.git.dirty ? ' + git.patch' : ''} in ${checkout.dir}`);
    const root = rec.git.root!;
    const experiment = isAbsolute(rec.experiment_path) ? mapInto(rec.experiment_path, root, checkout.dir) : join(checkout.dir, rec.experiment_path);
    const argv = ['run', experiment, '--set', 'sweep=null'];
    // The recorded overrides (--set, --sweep and sweep-block values alike) in their recorded order.
    for (const o of rec.overrides) argv.push('--set', `${o.key}=${JSON.stringify(o.value)}`);
    // Data outside the repository (or not committed) is read where the run read it.
    for (const key of PATH_KEYS) {
      const v = getAtPath(config, key);
      if (typeof v !== 'string' || !isAbsolute(v)) continue;
      const mapped = mapInto(v, root, checkout.dir);
      if (!existsSync(mapped) && existsSync(v)) argv.push('--set', `${key.join('.')}=${JSON.stringify(v)}`);
    }
    // `auto` replicas follow the core count; the record says how many the run used
    const replicas = rec.backend?.replicas;
    if (getAtPath(config, ['train', 'replicas']) === 'auto' && typeof replicas === 'number') {
      argv.push('--set', `train.replicas=${replicas}`);
    }
    argv.push('--runs-dir', out, '--backend', backend, '--name', rec.name);
    if (opts.quiet) argv.push('--quiet');
    say(`exp ${argv.join(' ')}`);
    const code = await new Promise<number>((res, rej) => {
      const child = spawn(process.execPath, [join(checkout.dir, 'bin', 'exp.js'), ...argv], { cwd: checkout.dir, stdio: ['ignore', 2, 2] });
      child.on('error', rej);
      child.on('close', (c, sig) => res(c ?? (sig ? 128 : 1)));
    });
    if (code !== 0) {
      keep = true;
      throw new RunError(`the reproduction failed (exit ${code}); its worktree and record are kept in ${checkout.dir} and ${out}.`);
    }
    const [fresh] = readdirSync(out).map((d) => readRun(join(out, d)));
    if (fresh.run.data?.fingerprint !== rec.data?.fingerprint) say('warning: the data fingerprint differs from the recorded one: the data changed since the run');
    const { compared, diffs, maxAbs } = compareMetrics(recorded, fresh.metrics(), exact ? 0 : tolerance);
    const how = exact ? `exact comparison (${backend} is deterministic)` : `tolerance ${tolerance} absolute (bitwise equality is not guaranteed on ${backend})`;
    if (diffs.length === 0) {
      process.stdout.write(`reproduced: ${compared} metric values agree, ${how}${maxAbs ? `; largest difference ${maxAbs.toExponential(2)}` : ''}\n${keep ? `${fresh.dir}\n` : ''}`);
      return 0;
    }
    keep = true;
    process.stdout.write(`NOT reproduced: ${diffs.length} of ${compared} metric values differ, ${how}:\n`);
    for (const d of diffs.slice(0, 10)) process.stdout.write(`  ${d.path}: recorded ${d.recorded ?? 'missing'}, reproduced ${d.reproduced ?? 'missing'}\n`);
    if (diffs.length > 10) process.stdout.write(`  ... and ${diffs.length - 10} more\n`);
    process.stdout.write(`the reproduced run is kept in ${fresh.dir}\n`);
    return 1;
  } finally {
    if (!keep) rmSync(out, { recursive: true, force: true });
    if (!keep) await checkout.remove();
    else say(`kept: ${checkout.dir} (remove with: git -C ${rec.git.root} worktree remove --force ${checkout.dir})`);
  }
}

/** `abs` inside `root` -> the same place inside `into`; outside it, unchanged. */
function mapInto(abs: string, root: string, into: string): string {
  const rel = relative(root, abs);
  return rel.startsWith('..') || isAbsolute(rel) ? abs : join(into, rel);
}

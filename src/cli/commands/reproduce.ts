// exp reproduce <run>: rebuild the run's code (recorded commit + git.patch, in a temporary
// worktree with the built addons), run its recorded experiment there on the run's backend with the
// installed exp dependencies, and compare the new metrics.json with the recorded one. The verdict
// names why the two may differ (backend, CPU, library versions, decoder, data). Exit 0 when they
// agree, 1 when they differ.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { RunError, UserError } from '../../errors.ts';
import { readRun, resolveRunArgs } from '../../runs/read.ts';
import { configFix, readConfigYaml } from '../../runs/read-config.ts';
import { RecordFileError } from '../../runs/read-file.ts';
import { checkoutRun, compareMetrics, expectation, reproduceArgv } from '../../runs/reproduce.ts';
import type { Opts } from '../commands.ts';

export async function run(args: string[], opts: Opts<'reproduce'>): Promise<number> {
  const [dir] = resolveRunArgs([args[0]], resolve(opts['runs-dir']));
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
  const backend = opts.backend ?? rec.backend?.name ?? 'auto';
  const say = (s: string) => process.stderr.write(`${s}\n`);

  const checkout = await checkoutRun(rec, dir, say);
  const out = mkdtempSync(join(tmpdir(), 'exp-reproduce-runs-'));
  let keep = opts.keep;
  try {
    for (const w of checkout.warnings) say(`warning: ${w}`);
    say(`rebuilt ${rec.git.sha?.slice(0, 12)}${rec.git.dirty ? ' + git.patch' : ''} in ${checkout.dir}`);
    for (const n of checkout.notes) say(`  ${n}`);
    const argv = reproduceArgv(rec, config, checkout.dir, { out, backend, quiet: opts.quiet });
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
    const expect = expectation(rec, fresh.run);
    const tolerance = expect.exact ? 0 : opts.tolerance;
    const { compared, diffs, maxAbs } = compareMetrics(recorded, fresh.metrics(), tolerance);
    const why = expect.reasons.join('; ');
    const tol = tolerance > 0 && tolerance < 1e-3 ? tolerance.toExponential() : String(tolerance); // 1e-6, not 0.000001
    if (diffs.length === 0) {
      const how = expect.exact ? `exact comparison (${expect.basis})` : `within tolerance ${tol} absolute (bitwise equality was not expected: ${why})`;
      process.stdout.write(`reproduced: ${compared} metric values agree, ${how}${maxAbs ? `; largest difference ${maxAbs.toExponential(2)}` : ''}\n${keep ? `${fresh.dir}\n` : ''}`);
      return 0;
    }
    keep = true;
    process.stdout.write(expect.exact
      ? `NOT reproduced: ${diffs.length} of ${compared} metric values differ, although bitwise equality was expected (${expect.basis}; same code, libraries, decoder and data): something the record does not capture changed.\n`
      : `NOT reproduced: ${diffs.length} of ${compared} metric values differ by more than ${tol}; bitwise equality was not expected because ${why}.\n`);
    for (const d of diffs.slice(0, 10)) process.stdout.write(`  ${d.path}: recorded ${d.recorded ?? 'missing'}, reproduced ${d.reproduced ?? 'missing'}\n`);
    if (diffs.length > 10) process.stdout.write(`  ... and ${diffs.length - 10} more\n`);
    if (rec.backend && fresh.run.backend && rec.backend.name !== fresh.run.backend.name) {
      process.stdout.write(`To compare like with like, reproduce on the run's backend: exp reproduce ${dir} --backend ${rec.backend.name}\n`);
    }
    process.stdout.write(`the reproduced run is kept in ${fresh.dir}\n`);
    return 1;
  } finally {
    if (!keep) rmSync(out, { recursive: true, force: true });
    if (!keep) await checkout.remove();
    else say(`kept: ${checkout.dir} (remove with: git -C ${rec.git.root} worktree remove --force ${checkout.dir})`);
  }
}

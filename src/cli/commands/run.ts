// exp run <file>...: load + validate (data paths must exist), then run each experiment: once, or
// once per point of its sweep (the file's sweep: block times --sweep). Also `--point <sweep>/<n>`
// (one point of a recorded sweep, e.g. from a cluster array job) and `--resume <run>`. The work
// is in src/runs/sweep/run.ts (sweeps) and src/stages/run-experiment.ts (one run); this file
// maps options and prints.
import { resolve } from 'node:path';
import type { LoadResult } from '../../config/index.ts';
import type { ExperimentConfig } from '../../config/types.gen.ts';
import { UserError } from '../../errors.ts';
import type { BackendName } from '../../model/backend.ts';
import type { RunRecord } from '../../runs/record.ts';
import { resolveRunArgs } from '../../runs/read.ts';
import type { SweepInfo } from '../../runs/schemas.ts';
import { parseSweepArg, type SweepAxis } from '../../runs/sweep/define.ts';
import { fmtPoint, type SweepReporter } from '../../runs/sweep/launcher.ts';
import { describeRecordedPoint, prepareExperiment, runRecordedPoint, runSweep, type PointRunner } from '../../runs/sweep/run.ts';
import type { Opts } from '../commands.ts';
import { compile } from '../../stages/kinds.ts';
// the run lifecycle (and listr2) is imported when a run starts, so --dry-run stays quick
const stages = () => import('../../stages/run-experiment.ts');


export interface Common {
  runsDir: string;
  backend: BackendName;
  name?: string;
  quiet: boolean;
  noCache: boolean;
}

/** The options a run takes, from exp run or exp sweep submit. */
type RunOptions = Pick<Opts<'run'>, 'runs-dir' | 'backend' | 'quiet' | 'no-cache'> & { name?: string };

export const report: SweepReporter = {
  info: (line) => process.stdout.write(`${line}\n`),
  warn: (line) => process.stderr.write(`${line}\n`),
};

export async function run(files: string[], opts: Opts<'run'>): Promise<number> {
  const common = commonOf(opts);
  const sets = opts.set ?? [];
  const sweepArgs = opts.sweep ?? [];
  const exclusive = (flag: string) => {
    if (files.length || sets.length || sweepArgs.length) {
      throw new UserError(`exp run ${flag} takes no experiment file, --set or --sweep: it runs the recorded config. Example: exp run ${flag} ${flag === '--resume' ? 'runs/<run>' : 'sw-0123456789ab/0'}`);
    }
  };
  const runPoint = pointRunner(common, opts.backend);
  if (opts.resume !== undefined) {
    exclusive('--resume');
    return resumeRun(opts.resume, common, opts.backend, !!opts['dry-run']);
  }
  if (opts.point !== undefined) {
    exclusive('--point');
    if (opts['dry-run']) {
      const d = await describeRecordedPoint(opts.point, common.runsDir);
      process.stdout.write(`${d.label}\n${planLine(d.config)}\n${d.decision}\n`);
      return 0;
    }
    await runRecordedPoint(opts.point, { runsDir: common.runsDir, runPoint, report });
    return 0;
  }
  if (files.length === 0) throw new UserError('exp run needs an experiment file, --resume RUN or --point SWEEP/N.\nExample: exp run experiments/quickstart.yaml');

  const cliAxes: SweepAxis[] = [];
  const problems = sweepArgs.flatMap((a) => {
    const p = parseSweepArg(a);
    if (p.axis) cliAxes.push(p.axis);
    return p.problems;
  });
  if (problems.length) throw new UserError(problems.map((p) => `${p.file}: ${p.message}`).join('\n'), problems);

  // Validate everything first (every point of every sweep): a typo in the third file or the
  // fifth point should not surface after two hours.
  const jobs = files.map((f) => prepareExperiment(f, sets, cliAxes, { launcher: opts.launcher }));

  if (opts['dry-run']) {
    for (const j of jobs) {
      process.stdout.write(`${planLine(j.config)}\n`);
      if (j.sweep) {
        const over = j.sweep.record.keys.length ? `${j.sweep.points.length} point${j.sweep.points.length === 1 ? '' : 's'} over ${j.sweep.record.keys.join(', ')}` : 'one point, nothing swept';
        process.stdout.write(`sweep ${j.sweep.record.id}: ${over}${j.launcher === 'local' ? '' : ` (launcher ${j.launcher}: one job array)`}\n`);
        for (const p of j.sweep.points) process.stdout.write(`  ${j.sweep.record.id}/${p.point.index}  ${fmtPoint(p.point.point)}\n`);
      }
    }
    return 0;
  }
  let failed = 0;
  for (const j of jobs) {
    if (!j.sweep) await runOne(j.base, j.config, common, null);
    else failed += (await runSweep(j.sweep, { runsDir: common.runsDir, runPoint, report, launcher: j.launcher, wait: !!opts.wait, pointArgs: pointArgsOf(opts) })).failed;
  }
  return failed ? 1 : 0;
}

/** `name: index -> split -> ...`: what --dry-run prints for a config. */
const planLine = (config: ExperimentConfig): string => `${config.name}: ${compile(config).stages.map((s) => s.id).join(' -> ')}`;

/**
 * Runs a point in this process; a recorded point whose interrupted run is continued (continueDir)
 * goes through --resume's path, on `backend` when one was given, else the run's own.
 */
export const pointRunner = (c: Common, backend?: BackendName): PointRunner => async (p, sweep, continueDir) => {
  if (continueDir) await resumeRun(continueDir, c, backend);
  else await runOne(p.loaded, p.config, c, sweep);
};

/** The options every run takes, from a command's parsed options. */
export function commonOf(opts: RunOptions): Common {
  return {
    runsDir: resolve(opts['runs-dir']),
    backend: opts.backend ?? 'auto',
    name: opts.name,
    quiet: !!opts.quiet,
    noCache: !!opts['no-cache'],
  };
}

/** What a scheduler's task adds to `exp run --point`: the run options given here explicitly. */
export function pointArgsOf(opts: RunOptions): string[] {
  const out: string[] = [];
  if (opts.backend !== undefined) out.push('--backend', opts.backend);
  if (opts.name !== undefined) out.push('--name', opts.name);
  if (opts['no-cache']) out.push('--no-cache');
  return out;
}

/** A warning once per process: every point of a sweep would say the same. */
const warned = new Set<string>();
const warn = (message: string) => {
  if (!warned.has(message)) process.stderr.write(`warning: ${message}\n`);
  warned.add(message);
};

async function runOne(loaded: LoadResult, config: ExperimentConfig, c: Common, sweep: SweepInfo | null, resume?: { record: RunRecord; checkpoint?: string; epochsDone: number }): Promise<void> {
  const { runExperiment } = await stages();
  const record = await runExperiment(loaded, config, {
    runsDir: c.runsDir, backend: c.backend, name: c.name, quiet: c.quiet, noCache: c.noCache, argv: process.argv.slice(2), sweep, resume, warn,
  });
  const m = record.readMetrics();
  const target = config.data.levels[0];
  const tta = m.val?.[`tta${config.tta.count}`]?.[target] as { macro_f1?: number } | undefined;
  process.stdout.write(`${record.dir}\n${tta?.macro_f1 !== undefined ? `val ${target} macro-F1 ${tta.macro_f1.toFixed(4)}\n` : ''}`);
}

/**
 * `exp run --resume <run>`: the run's own resolved config (config.yaml), its record and model/last.
 * With `dryRun`: what would be continued, from where, on which backend; nothing is reopened.
 */
async function resumeRun(arg: string, c: Common, backend: BackendName | undefined, dryRun = false): Promise<number> {
  const [dir] = resolveRunArgs([arg], c.runsDir);
  const target = await (await stages()).resumeTarget(dir, backend);
  if (!target) {
    process.stdout.write(`${dir} is already completed; nothing to resume.\n`);
    return 0;
  }
  if (dryRun) {
    const st = target.state;
    const at = st ? `model/last (after epoch ${st.epoch}${st.in_epoch ? `, at step ${st.in_epoch.step} of epoch ${st.epoch + 1}` : ''})` : 'the start (no checkpoint yet)';
    process.stdout.write(`${planLine(target.config)}\nwould resume ${dir} from ${at} on backend ${target.backend}\n`);
    return 0;
  }
  const last = target.checkpoint;
  process.stdout.write(last ? `resuming ${dir} from ${last}\n` : `resuming ${dir}: no checkpoint yet, training from the start\n`);
  await runOne(target.loaded, target.config, { ...c, backend: target.backend }, target.sweep, { record: target.record, checkpoint: last, epochsDone: target.state?.epoch ?? 0 });
  return 0;
}

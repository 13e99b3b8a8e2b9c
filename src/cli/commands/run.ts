// exp run <file>...: load + validate (data paths must exist), then run each experiment: once, or
// once per point of its sweep (the file's sweep: block times --sweep). Also `--point <sweep>/<n>`
// (one point of a recorded sweep, e.g. from a cluster array job) and `--resume <run>`.
import { dirname, join, resolve } from 'node:path';
import { existsSync } from 'node:fs';
import { assertValid, loadExperiment, type LoadResult } from '../../config/index.ts';
import type { ExperimentConfig } from '../../config/types.gen.ts';
// run-experiment (and with it tfjs) is imported when a run starts, so --dry-run stays quick.
const stages = () => import('../../stages/run-experiment.ts');
import { compile } from '../../plan/compile.ts';
import { ExpError, UserError } from '../../errors.ts';
import type { BackendName } from '../../model/backend.ts';
import { listRuns, readRun, resolveRunArgs } from '../../runs/read.ts';
import { openRun, runIdentity, type RunRecord } from '../../runs/record.ts';
import { gitProvenance } from '../../runs/git.ts';
import { sha256, stableStringify } from '../../util/hash.ts';
import {
  configHash, expandPoints, fileAxes, loadOptionsOf, parsePointRef, parseSweepArg, readSweepRecord, sweepId, writeSweepRecord,
  type SweepAxis, type SweepPoint, type SweepRecord,
} from '../../runs/sweep.ts';

const BACKENDS = ['auto', 'tensorflow', 'webgpu', 'native', 'wasm', 'cpu', 'webgpu-software'];

interface Common {
  runsDir: string;
  backend: BackendName;
  name?: string;
  quiet: boolean;
  noCache: boolean;
}

export async function run(files: string[], opts: Record<string, unknown>): Promise<number> {
  const backendArg = opts.backend as string | undefined;
  if (backendArg !== undefined && !BACKENDS.includes(backendArg)) throw new UserError(`--backend ${backendArg}: expected one of ${BACKENDS.join(', ')}`);
  const common: Common = {
    runsDir: resolve((opts['runs-dir'] as string | undefined) ?? 'runs'),
    backend: (backendArg ?? 'auto') as BackendName,
    name: opts.name as string | undefined,
    quiet: !!opts.quiet,
    noCache: !!opts['no-cache'],
  };
  const sets = (opts.set as string[] | undefined) ?? [];
  const sweepArgs = (opts.sweep as string[] | undefined) ?? [];
  const exclusive = (flag: string) => {
    if (files.length || sets.length || sweepArgs.length) {
      throw new UserError(`exp run ${flag} takes no experiment file, --set or --sweep: it runs the recorded config. Example: exp run ${flag} ${flag === '--resume' ? 'runs/<run>' : 'sw-0123456789ab/0'}`);
    }
  };
  if (opts.resume !== undefined) {
    exclusive('--resume');
    return resumeRun(opts.resume as string, common, backendArg);
  }
  if (opts.point !== undefined) {
    exclusive('--point');
    return runRecordedPoint(opts.point as string, common);
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
  const jobs = files.map((f) => {
    const base = loadExperiment(f, { sets, mode: 'run' });
    const config = assertValid(base);
    const axes = [...fileAxes(config.sweep, base.source), ...cliAxes];
    if (axes.length === 0) return { file: f, base, config, sweep: null };
    const points = expandPoints(axes);
    const baseHash = configHash(config, base.asWritten);
    const record: SweepRecord = {
      schema_version: 1, id: sweepId(baseHash, axes), created: new Date().toISOString(), experiment: resolve(f), cwd: process.cwd(),
      sets, base_config_hash: baseHash, keys: axes.map((a) => a.key), points,
    };
    const loadedPoints = points.map((p) => {
      const l = loadExperiment(f, { sets, ...loadOptionsOf(p), mode: 'run' });
      return { point: p, loaded: l, config: assertValid(l) };
    });
    return { file: f, base, config, sweep: { record, points: loadedPoints } };
  });

  if (opts['dry-run']) {
    for (const j of jobs) {
      const plan = compile(j.config);
      process.stdout.write(`${j.config.name}: ${plan.stages.map((s) => s.id).join(' -> ')}\n`);
      if (j.sweep) {
        process.stdout.write(`sweep ${j.sweep.record.id}: ${j.sweep.points.length} points over ${j.sweep.record.keys.join(', ')}\n`);
        for (const p of j.sweep.points) process.stdout.write(`  ${j.sweep.record.id}/${p.point.index}  ${fmtPoint(p.point.point)}\n`);
      }
    }
    return 0;
  }
  let failed = 0;
  for (const j of jobs) {
    if (!j.sweep) {
      await runOne(j.base, j.config, common, null);
      continue;
    }
    const rec = writeSweepRecord(common.runsDir, j.sweep.record);
    const n = rec.points.length;
    process.stdout.write(`sweep ${rec.id}: ${n} points over ${rec.keys.join(', ')} (definition: ${join(common.runsDir, '.sweeps', `${rec.id}.json`)})\n`);
    const identities = new IdentityCache();
    for (const p of j.sweep.points) {
      process.stdout.write(`point ${p.point.index + 1}/${n} (${rec.id}/${p.point.index}): ${fmtPoint(p.point.point)}\n`);
      // One failed point does not stop the sweep; running it again retries the failed points.
      try {
        await runPoint(rec, p.point, p.loaded, p.config, common, identities);
      } catch (err) {
        if (!(err instanceof ExpError)) throw err;
        failed++;
        process.stderr.write(`point ${rec.id}/${p.point.index} failed: ${err.message}\n`);
      }
    }
    process.stdout.write(`sweep ${rec.id} done${failed ? `: ${failed} point${failed === 1 ? '' : 's'} failed (run the same command again to retry them)` : ''}. List it with: exp ls --sweep ${rec.id}\n`);
  }
  return failed ? 1 : 0;
}

const fmtPoint = (point: Record<string, unknown>): string => Object.entries(point).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(' ');

async function runOne(loaded: LoadResult, config: ExperimentConfig, c: Common, sweep: { id: string; point: Record<string, unknown>; keys: string[]; point_index?: number } | null, resume?: { record: RunRecord; checkpoint?: string }): Promise<void> {
  const { runExperiment } = await stages();
  const record = await runExperiment(loaded, config, {
    runsDir: c.runsDir, backend: c.backend, name: c.name, quiet: c.quiet, noCache: c.noCache, argv: process.argv.slice(2), sweep, resume,
  });
  const m = record.readMetrics();
  const target = config.data.levels[0];
  const tta = m.val?.[`tta${config.tta.count}`]?.[target] as { macro_f1?: number } | undefined;
  process.stdout.write(`${record.dir}\n${tta?.macro_f1 !== undefined ? `val ${target} macro-F1 ${tta.macro_f1.toFixed(4)}\n` : ''}`);
}

/** Git provenance and data fingerprints, computed at most once per sweep invocation. */
class IdentityCache {
  private git = new Map<string, Promise<{ sha: string | null; patchSha: string | null }>>();
  private data = new Map<string, Promise<string>>();

  gitOf(dir: string) {
    if (!this.git.has(dir)) {
      this.git.set(dir, gitProvenance(dir).then((g) => ({ sha: g.sha, patchSha: g.available ? sha256(g.patch) : null })));
    }
    return this.git.get(dir)!;
  }

  dataOf(config: ExperimentConfig) {
    const d = config.data;
    const key = stableStringify([d.format, d.train, d.test, d.levels]);
    if (!this.data.has(key)) this.data.set(key, stages().then((s) => s.predictDataFingerprint(config)));
    return this.data.get(key)!;
  }
}

/**
 * Runs one point unless a run of this sweep already has its identity (resolved config, git SHA,
 * patch, data): completed ones are skipped, running ones (perhaps another machine's) are left
 * alone; failed and interrupted ones are run again in a fresh run directory.
 */
async function runPoint(rec: SweepRecord, point: SweepPoint, loaded: LoadResult, config: ExperimentConfig, c: Common, ids: IdentityCache): Promise<void> {
  const hash = configHash(config, loaded.asWritten);
  const git = await ids.gitOf(dirname(loaded.files[loaded.files.length - 1]));
  // Cheap filter first; the data fingerprint (which reads the metadata) only when a run could match.
  const candidates = listRuns(c.runsDir).filter((r) => r.run && r.run.sweep?.id === rec.id && r.run.config_hash === hash &&
    r.run.git.sha === git.sha && r.run.git.patch_sha256 === git.patchSha && (r.status === 'completed' || r.status === 'running'));
  if (candidates.length) {
    const identity = runIdentity({ configHash: hash, gitSha: git.sha, patchSha256: git.patchSha, dataFingerprint: await ids.dataOf(config) });
    const same = candidates.filter((r) => r.run!.identity === identity || (r.status === 'running' && !r.run!.data));
    const done = same.find((r) => r.status === 'completed');
    if (done) {
      process.stdout.write(`  already completed with the same identity: ${done.dir} (skipped)\n`);
      return;
    }
    if (same.length) {
      process.stdout.write(`  running in ${same[0].dir} (another process?); skipped. If that process died, continue it with: exp run --resume ${same[0].dir}\n`);
      return;
    }
  }
  await runOne(loaded, config, c, { id: rec.id, point: point.point, keys: rec.keys, point_index: point.index });
}

/** `exp run --point <sweep>/<n>`: one point from the sweep's record in the runs directory. */
async function runRecordedPoint(ref: string, c: Common): Promise<number> {
  const { id, n } = parsePointRef(ref);
  const rec = readSweepRecord(c.runsDir, id);
  const point = rec.points[n];
  if (!point) throw new UserError(`--point ${ref}: sweep ${id} has points 0 to ${rec.points.length - 1}.`);
  if (!existsSync(rec.experiment)) throw new UserError(`sweep ${id} was defined from ${rec.experiment}, which does not exist here; run it where that path exists (a shared checkout).`);
  const base = loadExperiment(rec.experiment, { sets: rec.sets, cwd: rec.cwd, mode: 'run' });
  const baseHash = configHash(assertValid(base), base.asWritten);
  if (baseHash !== rec.base_config_hash) {
    throw new UserError(`${rec.experiment} changed since sweep ${id} was defined (its config hash differs), so point ${n} would not be the recorded point. ` +
      'Run the sweep again (exp run <experiment> --sweep ...) to define the new sweep.');
  }
  const loaded = loadExperiment(rec.experiment, { sets: rec.sets, cwd: rec.cwd, ...loadOptionsOf(point), mode: 'run' });
  process.stdout.write(`point ${n + 1}/${rec.points.length} (${id}/${n}): ${fmtPoint(point.point)}\n`);
  await runPoint(rec, point, loaded, assertValid(loaded), c, new IdentityCache());
  return 0;
}

/** `exp run --resume <run>`: the run's own resolved config (config.yaml), its record and model/last. */
async function resumeRun(arg: string, c: Common, backendArg: string | undefined): Promise<number> {
  const [dir] = resolveRunArgs([arg], c.runsDir);
  const view = readRun(dir);
  if (view.run.kind !== 'train') throw new UserError(`${dir} is an ${view.run.kind} run; only training runs can be resumed.`);
  if (view.run.status === 'completed') {
    process.stdout.write(`${dir} is already completed; nothing to resume.\n`);
    return 0;
  }
  // config.yaml is the fully resolved config with absolute data paths, so the resume does not
  // depend on the working directory or on the experiment file having changed since.
  const loaded = loadExperiment(join(dir, 'config.yaml'), { mode: 'run' });
  const config = assertValid(loaded);
  const last = join(dir, 'model', 'last');
  const checkpoint = existsSync(join(last, 'state.json')) ? last : undefined;
  // Same backend as before unless told otherwise: bitwise continuation needs it.
  const backend = (backendArg ?? view.run.backend?.name ?? 'auto') as BackendName;
  process.stdout.write(checkpoint ? `resuming ${dir} from ${last}\n` : `resuming ${dir}: no checkpoint yet, training from the start\n`);
  await runOne(loaded, config, { ...c, backend }, view.run.sweep, { record: openRun(dir), checkpoint });
  return 0;
}

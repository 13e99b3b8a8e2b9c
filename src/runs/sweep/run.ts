// Running experiments and sweeps: load and validate everything first, define the sweep in the
// runs directory, then hand its points to a launcher (launchers.ts). Whether a point needs running
// is decided here, from the run records and the point's identity (runs/identity.ts): a completed
// run of this sweep with the same identity is skipped, a running one is left alone, a failed or
// interrupted one is run again in a fresh run directory (`exp run --point` claims the point first
// and may continue an interrupted or orphaned run instead: claimed.ts). Running one point is injected
// (`runPoint`: the experiment pipeline, src/stages/run-experiment.ts), so this module, and a
// launcher, never load the training code.
import { dirname, resolve } from 'node:path';
import { existsSync } from 'node:fs';
import { assertValid, loadExperiment, type LoadResult } from '../../config/index.ts';
import type { ExperimentConfig } from '../../config/types.gen.ts';
import { UserError } from '../../errors.ts';
import { listRuns } from '../read.ts';
import type { SweepInfo } from '../schemas.ts';
import { IdentityCache, configHash, runIdentity } from '../identity.ts';
import {
  expandPoints, fileAxes, loadOptionsOf, parsePointRef, readSweepRecord, sweepId, sweepRecordPath, writeSweepRecord,
  type SweepAxis, type SweepRecord,
} from './define.ts';
import { fmtPoint, type LoadedPoint, type PointState, type SubmitResult, type SweepReporter } from './launcher.ts';
import { launchers } from './launchers.ts';
import { runClaimedPoint } from './claimed.ts';

/** One experiment file, validated: a single run, or a sweep with every point loaded. */
export interface ExperimentJob {
  file: string;
  base: LoadResult;
  config: ExperimentConfig;
  sweep: { record: SweepRecord; points: LoadedPoint[] } | null;
}

/**
 * Loads and validates an experiment and, when it sweeps (its sweep: block and `cliAxes`), every
 * point, so that a typo in the fifth point surfaces before the first one trains.
 */
export function prepareExperiment(file: string, sets: string[], cliAxes: SweepAxis[]): ExperimentJob {
  const base = loadExperiment(file, { sets, mode: 'run' });
  const config = assertValid(base);
  const axes = [...fileAxes(config.sweep, base.source), ...cliAxes];
  if (axes.length === 0) return { file, base, config, sweep: null };
  const points = expandPoints(axes);
  const baseHash = configHash(config, base.asWritten);
  const record: SweepRecord = {
    schema_version: 1, id: sweepId(baseHash, axes), created: new Date().toISOString(), experiment: resolve(file), cwd: process.cwd(),
    sets, base_config_hash: baseHash, keys: axes.map((a) => a.key), points,
  };
  const loaded = points.map((point) => {
    const l = loadExperiment(file, { sets, ...loadOptionsOf(point), mode: 'run' });
    return { point, loaded: l, config: assertValid(l) };
  });
  return { file, base, config, sweep: { record, points: loaded } };
}

/** Runs one point's experiment in this process, recording `sweep` in its run (or continues the run in `continueDir`). */
export type PointRunner = (p: LoadedPoint, sweep: SweepInfo, continueDir?: string) => Promise<void>;

export interface SweepRunOptions {
  runsDir: string;
  /** A registered launcher's name ('local' unless told otherwise). */
  launcher?: string;
  runPoint: PointRunner;
  report: SweepReporter;
  identities?: IdentityCache;
}

const sweepInfo = (rec: SweepRecord, p: LoadedPoint): SweepInfo => ({ id: rec.id, point: p.point.point, keys: rec.keys, point_index: p.point.index });

/** The state of a point from the runs of its sweep that have its identity (resolved config, git SHA, patch, data). */
export async function pointState(runsDir: string, rec: SweepRecord, p: LoadedPoint, ids: IdentityCache): Promise<PointState> {
  const hash = configHash(p.config, p.loaded.asWritten);
  const git = await ids.gitOf(dirname(p.loaded.files[p.loaded.files.length - 1]));
  // Cheap filter first; the data fingerprint (which reads the metadata) only when a run could match.
  const candidates = listRuns(runsDir).filter((r) => r.run && r.run.sweep?.id === rec.id && r.run.config_hash === hash &&
    r.run.git.sha === git.sha && r.run.git.patch_sha256 === git.patchSha && (r.status === 'completed' || r.status === 'running'));
  if (!candidates.length) return { state: 'pending' };
  const identity = runIdentity({ configHash: hash, gitSha: git.sha, patchSha256: git.patchSha, dataFingerprint: await ids.dataOf(p.config) });
  // a running run that has not indexed its data yet has no final identity: count it as this point's
  const same = candidates.filter((r) => r.run!.identity === identity || (r.status === 'running' && !r.run!.data));
  const done = same.find((r) => r.status === 'completed');
  if (done) return { state: 'completed', dir: done.dir };
  if (same.length) return { state: 'running', dir: same[0].dir };
  return { state: 'pending' };
}

/** Defines the sweep in the runs directory and hands its points to the launcher. */
export async function runSweep(job: NonNullable<ExperimentJob['sweep']>, o: SweepRunOptions): Promise<SubmitResult> {
  const launcher = launchers.get(o.launcher ?? 'local');
  const rec = writeSweepRecord(o.runsDir, job.record);
  const ids = o.identities ?? new IdentityCache();
  o.report.info(`sweep ${rec.id}: ${rec.points.length} points over ${rec.keys.join(', ')} (definition: ${sweepRecordPath(o.runsDir, rec.id)})`);
  const r = await launcher.submit({
    sweep: rec,
    runsDir: o.runsDir,
    points: job.points,
    stateOf: (p) => pointState(o.runsDir, rec, p, ids),
    run: (p) => o.runPoint(p, sweepInfo(rec, p)),
    report: o.report,
  });
  const failed = r.failed ? `: ${r.failed} point${r.failed === 1 ? '' : 's'} failed (run the same command again to retry them)` : '';
  o.report.info(`sweep ${rec.id} done${failed}. List it with: exp ls --sweep ${rec.id}`);
  return r;
}

/**
 * `exp run --point <sweep>/<n>`: point n of a sweep defined in the runs directory (e.g. from a
 * cluster array task), unless a run with its identity is already completed or running.
 */
export async function runRecordedPoint(ref: string, o: Omit<SweepRunOptions, 'launcher'>): Promise<void> {
  const { id, n } = parsePointRef(ref);
  const rec = readSweepRecord(o.runsDir, id);
  const point = rec.points[n];
  if (!point) throw new UserError(`--point ${ref}: sweep ${id} has points 0 to ${rec.points.length - 1}.`);
  if (!existsSync(rec.experiment)) throw new UserError(`sweep ${id} was defined from ${rec.experiment}, which does not exist here; run it where that path exists (a shared checkout).`);
  const base = loadExperiment(rec.experiment, { sets: rec.sets, cwd: rec.cwd, mode: 'run' });
  if (configHash(assertValid(base), base.asWritten) !== rec.base_config_hash) {
    throw new UserError(`${rec.experiment} changed since sweep ${id} was defined (its config hash differs), so point ${n} would not be the recorded point. ` +
      'Run the sweep again (exp run <experiment> --sweep ...) to define the new sweep.');
  }
  const loaded = loadExperiment(rec.experiment, { sets: rec.sets, cwd: rec.cwd, ...loadOptionsOf(point), mode: 'run' });
  const p: LoadedPoint = { point, loaded, config: assertValid(loaded) };
  o.report.info(`point ${n + 1}/${rec.points.length} (${id}/${n}): ${fmtPoint(point.point)}`);
  // claimed first, then decided from the records (claimed.ts: who continues what)
  const ids = o.identities ?? new IdentityCache();
  await runClaimedPoint(rec, p, {
    runsDir: o.runsDir, report: o.report, identities: ids,
    state: () => pointState(o.runsDir, rec, p, ids),
    run: (continueDir) => o.runPoint(p, sweepInfo(rec, p), continueDir),
  });
}

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
import { StorageError, UserError } from '../../errors.ts';
import { listRuns } from '../read.ts';
import type { SweepInfo } from '../schemas.ts';
import { IdentityCache, configHash, runIdentity } from '../identity.ts';
import {
  expandPoints, fileAxes, loadOptionsOf, parsePointRef, readSweepRecord, sweepId, sweepPaths, sweepRecordPath, writeSweepRecord,
  type SweepAxis, type SweepPoint, type SweepRecord,
} from './define.ts';
import { fmtPoint, type LoadedPoint, type PointState, type SubmitResult, type SweepReporter } from './launcher.ts';
import { launchers } from './launchers.ts';
import { pointDecision, runClaimedPoint } from './claimed.ts';

/** One experiment file, validated: a single run, or a sweep with every point loaded. */
export interface ExperimentJob {
  file: string;
  base: LoadResult;
  config: ExperimentConfig;
  /** The launcher its points go to: `--launcher`, else the file's launcher.name. */
  launcher: string;
  sweep: { record: SweepRecord; points: LoadedPoint[] } | null;
}

/**
 * Loads and validates an experiment and, when it sweeps (its sweep: block and `cliAxes`), every
 * point, so that a typo in the fifth point surfaces before the first one trains. An experiment
 * without a sweep that goes to a launcher other than `local` (a scheduler) is a one-point sweep,
 * so that its task can run it by number like any other (`exp run --point <sweep>/0`).
 */
export function prepareExperiment(file: string, sets: string[], cliAxes: SweepAxis[], o: { launcher?: string } = {}): ExperimentJob {
  const base = loadExperiment(file, { sets, mode: 'run' });
  const config = assertValid(base);
  const launcher = o.launcher ?? config.launcher.name;
  launchers.get(launcher); // an unknown name lists the choices before anything runs
  const axes = [...fileAxes(config.sweep, base.source), ...cliAxes];
  for (const a of axes) {
    if (a.key === 'launcher' || a.key.startsWith('launcher.')) {
      throw new UserError(`${a.source}: '${a.key}' cannot be swept: the launcher block says where the points run (one job array for all of them), not what they compute. Set it once with --set ${a.key}=...`);
    }
  }
  if (axes.length === 0 && launcher === 'local') return { file, base, config, launcher, sweep: null };
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
  return { file, base, config, launcher, sweep: { record, points: loaded } };
}

/** Runs one point's experiment in this process, recording `sweep` in its run (or continues the run in `continueDir`). */
export type PointRunner = (p: LoadedPoint, sweep: SweepInfo, continueDir?: string) => Promise<void>;

export interface SweepRunOptions {
  runsDir: string;
  /** A registered launcher's name ('local' unless told otherwise). */
  launcher?: string;
  /** The launcher block (default: the first point's). */
  settings?: ExperimentConfig['launcher'];
  /** A scheduler's launcher waits for the submitted points to end. */
  wait?: boolean;
  /** Options for `exp run --point` in a scheduler's tasks. */
  pointArgs?: string[];
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
  let rec: SweepRecord;
  try {
    rec = writeSweepRecord(o.runsDir, job.record);
  } catch (e) {
    if (!(e instanceof StorageError)) throw e;
    throw new UserError(`cannot define sweep ${job.record.id} in ${o.runsDir}: ${e.message.split('\n')[0]} ` +
      'Every process that runs a point (on a cluster: every node) reads the sweep record from the runs directory and writes its run there: ' +
      'pass --runs-dir DIR with a directory you (and the nodes) can write, or fix its permissions.');
  }
  const ids = o.identities ?? new IdentityCache();
  const over = rec.keys.length ? `${rec.points.length} point${rec.points.length === 1 ? '' : 's'} over ${rec.keys.join(', ')}` : 'one point, nothing swept';
  o.report.info(`sweep ${rec.id}: ${over} (definition: ${sweepRecordPath(o.runsDir, rec.id)})`);
  const r = await launcher.submit({
    sweep: rec,
    runsDir: o.runsDir,
    points: job.points,
    settings: o.settings ?? job.points[0].config.launcher,
    wait: o.wait ?? false,
    pointArgs: o.pointArgs ?? [],
    stateOf: (p) => pointState(o.runsDir, rec, p, ids),
    run: (p) => o.runPoint(p, sweepInfo(rec, p)),
    report: o.report,
  });
  const failed = r.failed ? `: ${r.failed} point${r.failed === 1 ? '' : 's'} failed (run the same command again to retry them)` : '';
  // a scheduler's job runs on after this process unless it waited
  if (r.job === undefined || o.wait) o.report.info(`sweep ${rec.id} done${failed}. List it with: exp ls --sweep ${rec.id}`);
  return r;
}

/**
 * A recorded sweep's experiment, loaded here from the record (its paths resolved against the runs
 * directory) and checked against the recorded base config hash.
 */
export function loadRecordedBase(rec: SweepRecord, runsDir: string): { base: LoadResult; config: ExperimentConfig } {
  const { experiment, cwd } = sweepPaths(rec, runsDir);
  if (!existsSync(experiment)) {
    throw new UserError(`sweep ${rec.id} was defined from ${experiment} (${rec.experiment} in ${sweepRecordPath(runsDir, rec.id)}), which does not exist here; ` +
      'run it where the checkout and the runs directory sit side by side as they did when the sweep was defined (a shared filesystem).');
  }
  const base = loadExperiment(experiment, { sets: rec.sets, cwd, mode: 'run' });
  const config = assertValid(base);
  if (configHash(config, base.asWritten) !== rec.base_config_hash) {
    throw new UserError(`${experiment} changed since sweep ${rec.id} was defined (its config hash differs), so its points would not be the recorded points. ` +
      'Run the sweep again (exp run <experiment> --sweep ...) to define the new sweep.');
  }
  return { base, config };
}

/** One point of a recorded sweep, loaded and validated (after loadRecordedBase's checks). */
export function loadRecordedPoint(rec: SweepRecord, runsDir: string, point: SweepPoint, checked = false): LoadedPoint {
  if (!checked) loadRecordedBase(rec, runsDir);
  const { experiment, cwd } = sweepPaths(rec, runsDir);
  const loaded = loadExperiment(experiment, { sets: rec.sets, cwd, ...loadOptionsOf(point), mode: 'run' });
  return { point, loaded, config: assertValid(loaded) };
}

/** Every point of a recorded sweep, loaded (for `exp sweep submit` and `exp sweep status`). */
export function loadRecordedSweep(runsDir: string, id: string): { record: SweepRecord; base: LoadResult; config: ExperimentConfig; points: LoadedPoint[] } {
  const record = readSweepRecord(runsDir, id);
  const { base, config } = loadRecordedBase(record, runsDir);
  return { record, base, config, points: record.points.map((p) => loadRecordedPoint(record, runsDir, p, true)) };
}

/**
 * `exp run --point <sweep>/<n>`: point n of a sweep defined in the runs directory (e.g. from a
 * cluster array task), unless a run with its identity is already completed or running.
 */
export async function runRecordedPoint(ref: string, o: Omit<SweepRunOptions, 'launcher'>): Promise<void> {
  const { rec, p, label } = recordedPoint(ref, o.runsDir);
  o.report.info(label);
  // claimed first, then decided from the records (claimed.ts: who continues what)
  const ids = o.identities ?? new IdentityCache();
  await runClaimedPoint(rec, p, {
    runsDir: o.runsDir, report: o.report, identities: ids,
    state: () => pointState(o.runsDir, rec, p, ids),
    run: (continueDir) => o.runPoint(p, sweepInfo(rec, p), continueDir),
  });
}

/** `exp run --point <sweep>/<n> --dry-run`: the point, its plan's config and what a task would do now. */
export async function describeRecordedPoint(ref: string, runsDir: string): Promise<{ label: string; config: ExperimentConfig; decision: string }> {
  const { rec, p, label } = recordedPoint(ref, runsDir);
  const ids = new IdentityCache();
  const decision = await pointDecision(rec, p, { runsDir, identities: ids, state: () => pointState(runsDir, rec, p, ids) });
  return { label, config: p.config, decision };
}

/** Point n of a recorded sweep (`<sweep>/<n>`), loaded and validated, with its progress label. */
function recordedPoint(ref: string, runsDir: string): { rec: SweepRecord; p: LoadedPoint; label: string } {
  const { id, n } = parsePointRef(ref);
  const rec = readSweepRecord(runsDir, id);
  const point = rec.points[n];
  if (!point) throw new UserError(`--point ${ref}: sweep ${id} has points 0 to ${rec.points.length - 1}.`);
  return { rec, p: loadRecordedPoint(rec, runsDir, point), label: `point ${n + 1}/${rec.points.length} (${id}/${n}): ${fmtPoint(point.point)}` };
}

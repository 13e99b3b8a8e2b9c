// One experiment, end to end: the run record first (so a crash still leaves one), then the
// compiled stages through the run lifecycle (lifecycle.ts), which ends the record. Also what
// `exp run --resume` continues.
import { existsSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { stringify as toYaml } from 'yaml';
import type { ExperimentConfig } from '../config/types.gen.ts';
import type { LoadResult } from '../config/index.ts';
import { UserError } from '../errors.ts';
import { createRun, openRun, type RunRecord } from '../runs/record.ts';
import { readCheckpointState, readHistoryFile, readRun } from '../runs/read.ts';
import { loadRunConfig } from '../runs/read-config.ts';
import { configHash } from '../runs/identity.ts';
import type { CheckpointState, SweepInfo } from '../runs/schemas.ts';
import type { BackendName } from '../model/backend.ts';
import { writeAtomic } from '../util/fs.ts';
import type { RunContext } from './context.ts';
import { compile } from './kinds.ts';
import { runPipeline } from './lifecycle.ts';
import { BadImages } from './bad-images.ts';

export interface RunOptions {
  runsDir: string;
  backend: BackendName;
  name?: string;
  quiet?: boolean;
  noCache?: boolean;
  argv: string[];
  sweep?: SweepInfo | null;
  /**
   * Continue this run: its record is reopened and the data stages are redone (cached), training
   * continues from `checkpoint` (model/last; absent when the run died before its first epoch
   * ended, and then training starts over), and prediction follows.
   */
  /** Continue this record from `checkpoint` (resumeTarget), which holds `epochsDone` epochs (0: none). */
  resume?: { record: RunRecord; checkpoint?: string; epochsDone: number };
  /** Told what the user should know before the stages start (the CLI prints it). */
  warn?: (message: string) => void;
}

export async function runExperiment(loaded: LoadResult, config: ExperimentConfig, opts: RunOptions): Promise<RunRecord> {
  const plan = compile(config);
  const record = opts.resume?.record ?? await createRun({
    runsDir: opts.runsDir,
    name: opts.name ?? config.name,
    experimentText: loaded.rawText,
    experimentPath: loaded.files[loaded.files.length - 1],
    resolvedConfigYaml: toYaml(config),
    configHash: configHash(config, loaded.asWritten),
    seed: config.seed,
    overrides: loaded.overrides.map((o) => ({ key: o.key, value: o.value, source: o.source })),
    sweep: opts.sweep ?? null,
    argv: opts.argv,
    cwdForGit: dirname(loaded.files[loaded.files.length - 1]),
  });
  if (!opts.resume && !record.json.git.available) {
    const g = record.json.git as { reason?: string };
    opts.warn?.(`${g.reason ?? 'git is unavailable'}: this run records no code version, so exp reproduce cannot rebuild it. ` +
      'Keep the experiment in a git repository to make its runs reproducible.');
  }
  if (opts.resume) prepareResume(opts.resume.record, opts.resume.epochsDone);
  await runPipeline<RunContext>(plan, {
    config,
    record,
    backend: opts.backend,
    noCache: !!opts.noCache,
    resumeFrom: opts.resume?.checkpoint,
    badImages: new BadImages(),
    normalize: typeof config.data.normalize === 'object' ? { mean: config.data.normalize.mean, std: config.data.normalize.std } : undefined,
  }, { quiet: opts.quiet, afterInterrupt: `${record.dir} is marked interrupted; continue it with: exp run --resume ${record.dir}` });
  return record;
}

/** What `exp run --resume <run>` continues. */
export interface ResumeTarget {
  loaded: LoadResult;
  config: ExperimentConfig;
  record: RunRecord;
  /** model/last, when the run saved one (after an epoch, or at a step when preempted) before it stopped. */
  checkpoint?: string;
  /** model/last's state.json, validated: how far the checkpoint got. */
  state?: CheckpointState;
  /** The backend the run trained on, unless told otherwise: bitwise continuation needs it. */
  backend: BackendName;
  sweep: SweepInfo | null;
}

/** The run in `dir` to resume, or null when it is already completed. */
export async function resumeTarget(dir: string, backend?: BackendName): Promise<ResumeTarget | null> {
  const view = readRun(dir);
  if (view.run.kind !== 'train') throw new UserError(`${dir} is an ${view.run.kind} run; only training runs can be resumed.`);
  if (view.run.status === 'completed') return null;
  // config.yaml is the fully resolved config with absolute data paths, so the resume does not
  // depend on the working directory or on the experiment file having changed since; validated
  // like an experiment file, so a damaged one is a located error before anything is reopened.
  const { loaded, config } = await loadRunConfig(dir, 'run');
  const last = join(dir, 'model', 'last');
  // a damaged checkpoint stops here, before the record is reopened
  const state = readCheckpointState(last);
  return {
    loaded,
    config,
    record: openRun(dir),
    checkpoint: state ? last : undefined,
    state,
    backend: backend ?? (view.run.backend?.name as BackendName | undefined) ?? 'auto',
    sweep: view.run.sweep,
  };
}

/**
 * Makes a reopened record consistent with the checkpoint it continues from: history rows of
 * epochs the checkpoint does not contain are dropped (they are trained again), results of the
 * stages after training are removed (they are recomputed), and the run is running again.
 * History epochs are 1-based; state.json's epoch is the number of epochs completed.
 */
function prepareResume(record: RunRecord, done: number): void {
  const file = record.path('history.jsonl');
  if (existsSync(file)) {
    // validated; a torn last line (the kill that stopped the run) is dropped, a damaged one stops the resume
    const { rows, note } = readHistoryFile(record.dir);
    if (note) record.log(note);
    writeAtomic(file, rows.filter((r) => r.epoch <= done).map((r) => JSON.stringify(r) + '\n').join(''));
  }
  rmSync(record.path('metrics.json'), { force: true });
  record.update({ status: 'running', finished: null, error: null, predictions: [] });
}

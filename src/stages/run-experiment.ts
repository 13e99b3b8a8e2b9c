// One experiment, end to end: run record first (so a crash still leaves one), then the compiled
// stages through listr2, then the final status. The only place that knows every stage kind.
import { existsSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { stringify as toYaml } from 'yaml';
import type { ExperimentConfig } from '../config/types.gen.ts';
import type { LoadResult } from '../config/load.ts';
import { compile } from '../plan/compile.ts';
import type { Plan, Stage } from '../plan/types.ts';
import { runStages, type StageExecutor } from '../plan/listr.ts';
import { createRun, installSignalHandlers, type RunRecord } from '../runs/record.ts';
import { readHistoryFile } from '../runs/read.ts';
import type { SweepInfo } from '../runs/schemas.ts';
import type { BackendName } from '../model/backend.ts';
import { sha256, stableStringify } from '../util/hash.ts';
import { configHash } from '../runs/sweep.ts';
import { readJsonIfExists, writeAtomic } from '../util/fs.ts';
import { loadDataset } from '../data/formats/index.ts';
import { dataFingerprint } from '../data/fingerprint.ts';
import { alignToTraining } from '../data/hierarchy.ts';
import type { RunContext } from './context.ts';
import { cacheStage, indexStage, splitStage, statsStage } from './data.ts';
import { trainStage } from './train.ts';
import { predictStage, submissionStage } from './predict.ts';

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
  resume?: { record: RunRecord; checkpoint?: string };
}

// configHash lives with the sweep code (which the CLI loads without tfjs); re-exported here.
export { configHash } from '../runs/sweep.ts';

export function executorFor(ctx: RunContext): (stage: Stage) => StageExecutor {
  const table: Record<Stage['kind'], (ctx: RunContext) => StageExecutor> = {
    index: indexStage,
    split: splitStage,
    stats: statsStage,
    cache: cacheStage,
    train: trainStage,
    predict: predictStage,
    submission: submissionStage,
  };
  return (stage) => table[stage.kind](ctx);
}

export async function runExperiment(loaded: LoadResult, config: ExperimentConfig, opts: RunOptions): Promise<RunRecord> {
  const plan: Plan = compile(config);
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
  if (opts.resume) prepareResume(opts.resume.record, opts.resume.checkpoint);
  const controller = new AbortController();
  const removeHandlers = installSignalHandlers(record, { onSignal: (s) => controller.abort(s) });
  const ctx: RunContext = {
    config,
    record,
    backend: opts.backend,
    noCache: !!opts.noCache,
    signal: controller.signal,
    resumeFrom: opts.resume?.checkpoint,
    normalize: typeof config.data.normalize === 'object' ? { mean: config.data.normalize.mean, std: config.data.normalize.std } : undefined,
  };
  let current: Stage | undefined;
  try {
    await runStages(plan, executorFor(ctx), {
      quiet: opts.quiet,
      onStageStart: (s) => {
        current = s;
        record.stageStarted(s.id);
      },
      onStageEnd: (s, seconds, r) => record.stageFinished(s.id, { seconds, cached: !!r.cached }),
      onLog: (line) => record.log(line),
    });
    record.complete();
    return record;
  } catch (err) {
    record.fail(err, current?.id);
    throw err;
  } finally {
    removeHandlers();
  }
}

/**
 * Makes a reopened record consistent with the checkpoint it continues from: history rows of
 * epochs the checkpoint does not contain are dropped (they are trained again), results of the
 * stages after training are removed (they are recomputed), and the run is running again.
 * History epochs are 1-based; state.json's epoch is the number of epochs completed.
 */
function prepareResume(record: RunRecord, checkpoint: string | undefined): void {
  const done = checkpoint ? (readJsonIfExists<{ epoch: number }>(join(checkpoint, 'state.json'))?.epoch ?? 0) : 0;
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

/**
 * The data fingerprint the index stage would record for this config (same computation), so a
 * sweep can tell whether a finished run already has a point's identity before starting it.
 */
export async function predictDataFingerprint(config: ExperimentConfig): Promise<string> {
  const d = config.data;
  const train = await loadDataset(d.format, d.train, d.levels, 'train', {});
  const fps = [await dataFingerprint(train)];
  if (d.test) fps.push(await dataFingerprint(alignToTraining(train, await loadDataset(d.format, d.test, d.levels, 'test', {}))));
  return fps.length === 1 ? fps[0].sha256 : sha256(stableStringify(fps.map((f) => f.sha256)));
}

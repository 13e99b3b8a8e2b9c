// One experiment, end to end: run record first (so a crash still leaves one), then the compiled
// stages through listr2, then the final status. The only place that knows every stage kind.
import { dirname } from 'node:path';
import { stringify as toYaml } from 'yaml';
import type { ExperimentConfig } from '../config/types.gen.ts';
import type { LoadResult } from '../config/load.ts';
import { compile } from '../plan/compile.ts';
import type { Plan, Stage } from '../plan/types.ts';
import { runStages, type StageExecutor } from '../plan/listr.ts';
import { createRun, installSignalHandlers, type RunRecord } from '../runs/record.ts';
import type { SweepInfo } from '../runs/schemas.ts';
import type { BackendName } from '../model/backend.ts';
import { hashValue } from '../util/hash.ts';
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
  /** Continue this run (its record is reopened; finished stages are redone except training epochs). */
  resume?: { record: RunRecord; checkpoint: string };
}

/**
 * The config fields that determine results, hashed into the run identity. Name and description
 * do not change results. Data paths enter as written (relative to the experiment file), not as
 * resolved absolute paths, so the same checkout on two machines has the same identity; the data
 * itself enters the identity through its fingerprint.
 */
export function configHash(config: ExperimentConfig, asWritten: Record<string, string> = {}): string {
  const { name: _n, description: _d, extends: _e, sweep: _s, ...rest } = config as ExperimentConfig & { description?: string; extends?: string };
  const copy = JSON.parse(JSON.stringify(rest)) as Record<string, any>;
  for (const [key, written] of Object.entries(asWritten)) {
    const path = key.split('.');
    let node = copy;
    for (const k of path.slice(0, -1)) node = node?.[k];
    if (node && path.at(-1)! in node) node[path.at(-1)!] = written;
  }
  return hashValue(copy);
}

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
  if (opts.resume) record.update({ status: 'running', finished: null, error: null });
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

// The one module that imports listr2: runs a compiled Plan as listr2 tasks. Execution only
// emits events; what the terminal shows is the renderer's business: listr2's default renderer on
// a TTY, its line-per-event 'verbose' renderer otherwise (CI, pipes, files), nothing with --quiet.
// Interruption: once `signal` aborts, no further stage starts, the running stage's progress()
// throws InterruptedError, and a stage that returns anyway is not reported as done.
import { Listr, PRESET_TIMER } from 'listr2';
import { throwIfInterrupted, InterruptedError } from '../errors.ts';
import type { Plan, StageIO, StageResult, StageSpec } from './types.ts';

export type { StageIO, StageResult } from './types.ts';

const PLAIN_PROGRESS_MS = 10_000;

export type StageExecutor<S extends StageSpec = StageSpec> = (stage: S, io: StageIO) => Promise<StageResult | void>;

export interface RunStagesOptions<S extends StageSpec = StageSpec> {
  quiet?: boolean;
  /** Force the plain renderer even on a TTY (tests). */
  plain?: boolean;
  /** Aborted (reason: the signal's name) when the run is interrupted. */
  signal?: AbortSignal;
  onStageStart?(stage: S): void;
  onStageEnd?(stage: S, seconds: number, result: StageResult): void;
  onLog?(line: string): void;
}

export async function runStages<S extends StageSpec>(plan: Plan<S>, execute: StageExecutor<S>, opts: RunStagesOptions<S> = {}): Promise<void> {
  // The plain renderer prints every output change as a line: progress (many updates a second)
  // would flood logs, so without a TTY it is shown at most every PLAIN_PROGRESS_MS.
  const plain = opts.plain || !process.stdout.isTTY;
  const signal = opts.signal;
  const tasks = plan.stages.map((stage) => ({
    title: stage.title,
    task: async (_ctx: unknown, task: { output: string; title: string }) => {
      throwIfInterrupted(signal);
      let lastShown = -Infinity;
      const io: StageIO = {
        progress: (line) => {
          throwIfInterrupted(signal);
          const now = performance.now();
          if (plain && now - lastShown < PLAIN_PROGRESS_MS) return;
          lastShown = now;
          task.output = line;
        },
        log: (line) => {
          task.output = line;
          opts.onLog?.(`[${stage.id}] ${line}`);
        },
      };
      const tell = () => {
        task.output = `${InterruptedError.of(signal!).message}: stopping at the next step (again to stop at once)`;
      };
      signal?.addEventListener('abort', tell, { once: true });
      try {
        opts.onStageStart?.(stage);
        const t0 = performance.now();
        const result = (await execute(stage, io)) ?? {};
        // a stage that finished although the run was interrupted meanwhile is not recorded as done:
        // the record already says interrupted, and it stays the truth
        throwIfInterrupted(signal);
        const seconds = (performance.now() - t0) / 1000;
        opts.onStageEnd?.(stage, seconds, result);
        const notes = [result.cached ? 'cached' : '', result.summary ?? ''].filter(Boolean).join(', ');
        if (notes) task.title = `${stage.title}: ${notes}`;
      } finally {
        signal?.removeEventListener('abort', tell);
      }
    },
  }));

  const list = new Listr(tasks, {
    concurrent: false,
    exitOnError: true,
    // The run lifecycle handles SIGINT/SIGTERM/SIGHUP (marks the run interrupted, aborts `signal`);
    // listr2 must not exit the process first.
    registerSignalListeners: false,
    renderer: opts.quiet ? 'silent' : 'default',
    rendererOptions: { timer: PRESET_TIMER, collapseSubtasks: false, showErrorMessage: false },
    fallbackRenderer: 'verbose',
    fallbackRendererOptions: { timer: PRESET_TIMER, logTitleChange: false },
    fallbackRendererCondition: opts.plain ? true : undefined,
    silentRendererCondition: opts.quiet ? true : undefined,
  });
  await list.run();
}

// The one module that imports listr2: turns a compiled Plan into listr2 tasks. Execution only
// emits events; what the terminal shows is the renderer's business: listr2's default renderer on
// a TTY, its line-per-event 'verbose' renderer otherwise (CI, pipes, files), nothing with --quiet.
import { Listr, PRESET_TIMER } from 'listr2';
import type { Plan, Stage } from './types.ts';

/** What a stage executor may tell the terminal while it runs. */
export interface StageIO {
  /** One line of progress under the task (e.g. "epoch 3/10 step 40/120 loss 2.31 71 img/s ETA 1m20s"). */
  progress(line: string): void;
  /** Permanently log a line (also goes to the run's log.txt through onLog). */
  log(line: string): void;
}

export interface StageResult {
  cached?: boolean;
  /** A short summary shown in the final title, e.g. "val species macro-F1 0.412". */
  summary?: string;
}

const PLAIN_PROGRESS_MS = 10_000;

export type StageExecutor = (stage: Stage, io: StageIO) => Promise<StageResult | void>;

export interface RunStagesOptions {
  quiet?: boolean;
  /** Force the plain renderer even on a TTY (tests). */
  plain?: boolean;
  onStageStart?(stage: Stage): void;
  onStageEnd?(stage: Stage, seconds: number, result: StageResult): void;
  onLog?(line: string): void;
}

export async function runStages(
  plan: Plan,
  executorFor: (stage: Stage) => StageExecutor,
  opts: RunStagesOptions = {},
): Promise<void> {
  // The plain renderer prints every output change as a line: progress (many updates a second)
  // would flood logs, so without a TTY it is shown at most every PLAIN_PROGRESS_MS.
  const plain = opts.plain || !process.stdout.isTTY;
  const tasks = plan.stages.map((stage) => ({
    title: stage.title,
    task: async (_ctx: unknown, task: { output: string; title: string }) => {
      let lastShown = -Infinity;
      const io: StageIO = {
        progress: (line) => {
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
      opts.onStageStart?.(stage);
      const t0 = performance.now();
      const result = (await executorFor(stage)(stage, io)) ?? {};
      const seconds = (performance.now() - t0) / 1000;
      opts.onStageEnd?.(stage, seconds, result);
      const notes = [result.cached ? 'cached' : '', result.summary ?? ''].filter(Boolean).join(', ');
      if (notes) task.title = `${stage.title}: ${notes}`;
    },
  }));

  const list = new Listr(tasks, {
    concurrent: false,
    exitOnError: true,
    // The run record handles SIGINT/SIGTERM (marks the run interrupted); listr2 must not exit first.
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

// The one module that imports listr2: runs a compiled Plan as listr2 tasks. Execution only
// emits events; what the terminal shows is the renderer's business: listr2's default renderer on
// a TTY, its line-per-event 'verbose' renderer otherwise (CI, pipes, files), nothing with --quiet.
// Two kinds of output: progress (io.progress, the one current line, replaced by the next) and log
// lines (io.log: an epoch's result, a warning), which stay. The verbose renderer prints each log
// line as it comes; on a TTY a task's output is its log lines (the last LIVE_LOG_LINES) above its
// current progress line, and the log lines stay under the task's title once it has finished.
// Interruption: once `signal` aborts, no further stage starts, the running stage's progress()
// throws InterruptedError, and a stage that returns anyway is not reported as done.
import { Listr, PRESET_TIMER } from 'listr2';
import { throwIfInterrupted, InterruptedError } from '../errors.ts';
import type { Plan, StageIO, StageResult, StageSpec } from './types.ts';

export type { StageIO, StageResult } from './types.ts';

const PLAIN_PROGRESS_MS = 10_000;
/** Log lines a task shows on a TTY (all of them are in log.txt). */
export const LIVE_LOG_LINES = 30;

/** A task's output on a TTY: its log lines (the last `max`, after a note of how many are not shown), then the progress line. */
export function liveOutput(logged: readonly string[], progress: string, max = LIVE_LOG_LINES): string {
  const hidden = logged.length - max;
  const lines = hidden > 0 ? [`(${hidden} earlier line${hidden === 1 ? '' : 's'} in the run's log.txt)`, ...logged.slice(hidden)] : [...logged];
  if (progress) lines.push(progress);
  return lines.join('\n');
}

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
    // a TTY task keeps its output (its log lines) once it has finished
    rendererOptions: { persistentOutput: true },
    task: async (_ctx: unknown, task: { output: string; title: string }) => {
      throwIfInterrupted(signal);
      let lastShown = -Infinity;
      const logged: string[] = [];
      let current = '';
      const show = (line: string) => {
        current = line;
        task.output = plain ? line : liveOutput(logged, current);
      };
      const io: StageIO = {
        progress: (line) => {
          throwIfInterrupted(signal);
          const now = performance.now();
          if (plain && now - lastShown < PLAIN_PROGRESS_MS) return;
          lastShown = now;
          show(line);
        },
        log: (line) => {
          logged.push(line);
          if (plain) task.output = line;
          else show(current);
          opts.onLog?.(`[${stage.id}] ${line}`);
        },
      };
      const tell = () => show(`${InterruptedError.of(signal!).message}: stopping at the next step (again to stop at once)`);
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
        // the finished task keeps its log lines, not its last progress line
        if (!plain && current) show('');
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

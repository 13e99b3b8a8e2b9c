// The one run lifecycle. `exp run` (an experiment's stages), `exp predict` (index, split,
// predict:<split> on a trained run) and `exp ensemble` (blend:<split>, then submission) all run
// their plan through here, so they share the stage records, the signal handling and the failure
// states:
//   - every stage is recorded in run.json as it starts and ends (seconds, cached);
//   - success completes the run; an error fails it, naming the stage that was running;
//   - SIGINT/SIGTERM/SIGHUP mark the run interrupted at once (runs/record.ts) and abort the run's
//     signal: no further stage starts, the running one stops at its next step, and
//     InterruptedError travels up to src/cli/main.ts, which returns 130/143/129;
//   - images left out under data.on_bad_image: skip (ctx.badImages) are written into run.json
//     (data.bad_images) after each stage, and before a failure or an interruption is recorded.
// A run that had already ended (exp predict adds to a completed run) keeps its status; only its
// stage records say what happened (see RunRecord.complete).
import { InterruptedError } from '../errors.ts';
import { wasmHeapError } from '../model/heap.ts';
import type { Plan } from '../plan/types.ts';
import { runStages } from '../plan/listr.ts';
import { installSignalHandlers } from '../runs/record.ts';
import type { StageContext } from './context.ts';
import { executorFor, type Stage } from './kinds.ts';

export interface PipelineOptions {
  /** No terminal output (the record is written all the same). */
  quiet?: boolean;
  /** The line-per-event renderer even on a TTY (tests). */
  plain?: boolean;
  /**
   * What the user can do after an interruption (the command that continues): the error that
   * reaches the CLI says it, where the stage's own failure line only names the signal.
   */
  afterInterrupt?: string;
}

/** Runs `plan` with the context `fields` plus the run's abort signal; returns the context the stages filled. */
export async function runPipeline<C extends StageContext>(plan: Plan<Stage>, fields: Omit<C, 'signal'>, opts: PipelineOptions = {}): Promise<C> {
  const controller = new AbortController();
  const ctx = { ...fields, signal: controller.signal } as C;
  const { record } = ctx;
  const removeHandlers = installSignalHandlers(record, { onSignal: (s) => controller.abort(s) });
  let current: Stage | undefined;
  try {
    await runStages(plan, executorFor(ctx), {
      quiet: opts.quiet,
      plain: opts.plain,
      signal: controller.signal,
      onStageStart: (s) => {
        current = s;
        record.stageStarted(s.id);
      },
      onStageEnd: (s, seconds, r) => {
        ctx.badImages?.flush(record);
        record.stageFinished(s.id, { seconds, cached: !!r.cached });
      },
      onLog: (line) => record.log(line),
    });
    record.complete();
    return ctx;
  } catch (e) {
    // Once interrupted, whatever a stage threw on its way out (a wrapped error, a closed file) is
    // the interruption.
    const err = controller.signal.aborted ? InterruptedError.of(controller.signal) : wasmHeapError(e) ?? e;
    try {
      ctx.badImages?.flush(record); // what was left out before it ended
    } catch {
      // the failure is what must be recorded
    }
    if (!(err instanceof InterruptedError)) {
      record.fail(err, current?.id);
      throw err;
    }
    record.interrupt(err.signal);
    throw new InterruptedError(err.signal, opts.afterInterrupt);
  } finally {
    removeHandlers();
  }
}

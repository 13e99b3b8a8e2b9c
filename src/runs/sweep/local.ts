// The `local` launcher: the sweep's points run in this process, one after another. One failed
// point does not stop the sweep (running the same sweep again retries it); Ctrl-C does.
import { ExpError, InterruptedError } from '../../errors.ts';
import { fmtPoint, skipLine, type Launcher } from './launcher.ts';

export const local: Launcher = {
  async submit({ sweep, points, stateOf, run, report }) {
    const n = sweep.points.length;
    let submitted = 0;
    let skipped = 0;
    let failed = 0;
    for (const p of points) {
      report.info(`point ${p.point.index + 1}/${n} (${sweep.id}/${p.point.index}): ${fmtPoint(p.point.point)}`);
      const skip = skipLine(await stateOf(p));
      if (skip) {
        report.info(skip);
        skipped++;
        continue;
      }
      submitted++;
      try {
        await run(p);
      } catch (err) {
        // an interrupted sweep stops: the user asked it to
        if (!(err instanceof ExpError) || err instanceof InterruptedError) throw err;
        failed++;
        report.warn(`point ${sweep.id}/${p.point.index} failed: ${err.message}`);
      }
    }
    return { submitted, skipped, failed };
  },
  // Nothing outlives this process: the run records are the whole state.
  query: async () => new Map(),
  cancel: async () => 0,
};

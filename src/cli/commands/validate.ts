// exp validate <file>...: every problem of every file, then exit 2 if any file has an error.
import { loadExperiment } from '../../config/index.ts';
import { formatProblem } from '../../errors.ts';
import type { Opts } from '../commands.ts';

export async function run(files: string[], opts: Opts<'validate'>): Promise<number> {
  let failed = 0;
  for (const file of files) {
    const result = loadExperiment(file, { sets: opts.set, mode: 'validate' });
    for (const p of result.problems) process.stderr.write(`${formatProblem(p)}\n`);
    const errors = result.problems.filter((p) => p.severity !== 'warning').length;
    const warnings = result.problems.length - errors;
    if (errors) failed++;
    const w = warnings ? ` (${warnings} warning${warnings === 1 ? '' : 's'})` : '';
    process.stdout.write(errors ? `${result.file}: ${errors} error${errors === 1 ? '' : 's'}${w}\n` : `${result.file}: ok${w}\n`);
  }
  return failed ? 2 : 0;
}

// exp compare <run>... | --sweep ID: reads and analyses the runs (src/runs/compare/load.ts) and
// prints the report in the chosen format; --html also writes the page.
import { resolve } from 'node:path';
import { UserError } from '../../errors.ts';
import { writeAtomic } from '../../util/fs.ts';
import { compareRuns, type CompareOptions } from '../../runs/compare/load.ts';
import { FORMATS, render, type Format } from '../../runs/compare/render.ts';
import { renderHtml } from '../../runs/compare/html.ts';

export async function run(args: string[], opts: CompareOptions & { format?: string; html?: string }): Promise<number> {
  const format = (opts.format ?? 'table') as Format;
  if (!FORMATS.includes(format)) throw new UserError(`--format ${opts.format}: expected one of ${FORMATS.join(', ')}.`);
  const report = await compareRuns(args, opts);
  // Colours by sign only on a terminal that wants them (https://no-color.org).
  const color = format === 'table' && process.stdout.isTTY === true && !process.env.NO_COLOR;
  process.stdout.write(render(report, format, { color }));
  if (opts.html) {
    try {
      writeAtomic(resolve(opts.html), renderHtml(report, { generated: new Date().toISOString() }));
    } catch (e) {
      throw new UserError(`Cannot write --html ${opts.html}: ${(e as Error).message}. Check that its folder exists and is writable.`);
    }
    process.stderr.write(`wrote ${opts.html}\n`);
  }
  return 0;
}

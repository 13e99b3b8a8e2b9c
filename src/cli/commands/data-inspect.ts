// exp data inspect <dir>: what a dataset holds, before training on it.
import { inspectDataset, renderInspect } from '../../data/inspect.ts';
import type { Opts } from '../commands.ts';

export async function run([dir]: string[], opts: Opts<'data inspect'>): Promise<number> {
  const report = await inspectDataset(dir, {
    format: opts.format,
    levels: opts.levels ? opts.levels.split(',').map((s) => s.trim()).filter(Boolean) : undefined,
  });
  const text = opts.json ? JSON.stringify(report, null, 2) : renderInspect(report);
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  return 0;
}

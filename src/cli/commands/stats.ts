// exp stats <dir>: the per-channel mean/std that `normalize: auto` uses (same cache).
import { detectFormat, formats, loadDataset } from '../../data/formats/index.ts';
import { computeStats } from '../../data/stats.ts';
import { allRows } from '../../stages/context.ts';
import type { Opts } from '../commands.ts';

export async function run([dir]: string[], opts: Opts<'stats'>): Promise<number> {
  const resize = opts.resize ?? 512;
  const { format, variant } = opts.format ? { format: opts.format, variant: '' } : await detectFormat(dir);
  const levels = await formats.get(format).levelsOf(dir, variant || (await formats.get(format).detect(dir)) || '');
  const index = await loadDataset(format, dir, levels.slice(0, 1), 'train');
  const s = await computeStats(index, allRows(index), {
    resize,
    cacheDir: '.cache/exp',
    onProgress: (done, total) => {
      if (process.stderr.isTTY) process.stderr.write(`\r${done}/${total} images`);
    },
  });
  if (process.stderr.isTTY) process.stderr.write('\n');
  if (opts.json) process.stdout.write(`${JSON.stringify(s, null, 2)}\n`);
  else {
    const f = (xs: number[]) => `[${xs.map((x) => x.toFixed(4)).join(', ')}]`;
    process.stdout.write(`${s.images} images at ${resize} px${s.cached ? ' (cached)' : ''}\nmean ${f(s.mean)}\nstd  ${f(s.std)}\n` +
      `in an experiment: data.normalize: { mean: ${f(s.mean)}, std: ${f(s.std)} }\n`);
  }
  return 0;
}

// exp stats <experiment.yaml | dataset-dir>: the per-channel mean/std that `normalize: auto`
// measures, computed as a run's stats stage computes it (src/data/stats.ts trainingStats: the
// training rows after the split, the same resize, image cache and stats cache).
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { assertValid, loadExperiment, parseSetArg, setAtPath, splitKey, validateConfig } from '../../config/index.ts';
import { UserError, formatProblem } from '../../errors.ts';
import { detectFormat, formats } from '../../data/formats/index.ts';
import { trainingStats, type StatsSettings } from '../../data/stats.ts';
import { usageError } from '../args.ts';
import { COMMANDS, type Opts } from '../commands.ts';

const spec = () => COMMANDS.find((c) => c.name === 'stats')!;

/** An experiment file's data settings, --set applied. */
function fromExperiment(file: string, opts: Opts<'stats'>): StatsSettings {
  for (const flag of ['resize', 'format', 'levels'] as const) {
    if (opts[flag] !== undefined) {
      const key = { resize: 'data.image.resize', format: 'data.format', levels: 'data.levels' }[flag];
      throw usageError(spec(), `--${flag} is for a dataset directory; with an experiment file its ${key} is used (change it with --set ${key}=...).`);
    }
  }
  return assertValid(loadExperiment(file, { sets: opts.set, mode: 'run' })).data;
}

/**
 * The data settings of an experiment that names only this directory: format and levels detected
 * (as exp data inspect does), every other setting the schema's default, then --resize and --set.
 */
async function fromDirectory(dir: string, opts: Opts<'stats'>): Promise<StatsSettings> {
  const { format, variant } = opts.format ? { format: opts.format, variant: '' } : await detectFormat(dir);
  const levels = opts.levels?.split(',').map((s) => s.trim()).filter(Boolean)
    ?? await formats.get(format).levelsOf(resolve(dir), variant || (await formats.get(format).detect(resolve(dir))) || '');
  const raw: Record<string, unknown> = { name: 'stats', data: { format, train: resolve(dir), levels } };
  if (opts.resize !== undefined) setAtPath(raw, ['data', 'image', 'resize'], opts.resize);
  for (const arg of opts.set) {
    const { override, problems } = parseSetArg(arg);
    if (!override) throw new UserError(problems.map(formatProblem).join('\n'));
    const problem = setAtPath(raw, splitKey(override.key), override.value);
    if (problem) throw new UserError(`--set ${arg}: ${problem}`);
  }
  // The crop size plays no part in the statistics; keep it within the resize so any resize validates.
  const image = ((raw.data as Record<string, unknown>).image ?? {}) as { resize?: number; size?: number };
  if (image.size === undefined && image.resize !== undefined) setAtPath(raw, ['data', 'image', 'size'], Math.min(224, image.resize));
  const v = validateConfig(raw);
  if (!v.config) throw new UserError(`the settings for ${dir} are not valid:\n${v.errors.map((p) => `  ${formatProblem(p)}`).join('\n')}`);
  return v.config.data;
}

export async function run([target]: string[], opts: Opts<'stats'>): Promise<number> {
  // a .yaml that does not exist is a missing experiment file, not a missing dataset
  const isFile = statSync(target, { throwIfNoEntry: false })?.isFile() ?? /\.ya?ml$/i.test(target);
  const d = isFile ? fromExperiment(target, opts) : await fromDirectory(target, opts);
  const s = await trainingStats(d, {
    onProgress: (done, total) => {
      if (process.stderr.isTTY) process.stderr.write(`\r${done}/${total} images`);
    },
  });
  if (process.stderr.isTTY) process.stderr.write('\n');
  const resize = d.image.resize;
  if (opts.json) {
    process.stdout.write(`${JSON.stringify({ ...s, resize, cache: d.cache.enabled ? d.cache.dir : null }, null, 2)}\n`);
    return 0;
  }
  const f = (xs: number[]) => `[${xs.map((x) => x.toFixed(4)).join(', ')}]`;
  const left = s.indexed - s.rows;
  const what = d.val.path ? `${s.rows} training images (validation: ${d.val.path})` : `${s.rows} training images of ${s.indexed} (${left} left out: validation split${d.limit ? ' and data.limit' : ''})`;
  process.stdout.write(`${what} at ${resize} px, ${d.cache.enabled ? `through the resized-image cache in ${d.cache.dir}` : 'from the original files'}${s.cached ? ' (cached)' : ''}\n` +
    `mean ${f(s.mean)}\nstd  ${f(s.std)}\n` +
    `in an experiment: data.normalize: { mean: ${f(s.mean)}, std: ${f(s.std)} }\n`);
  return 0;
}

// Dataset formats behind one registry. A format detects whether a directory holds its layout,
// lists the label levels it knows, and loads one split into a DatasetIndex (src/data/types.ts).
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Registry } from '../../registry.ts';
import { UserError } from '../../errors.ts';
import type { DatasetIndex } from '../types.ts';
import { herbarium } from './herbarium.ts';
import { folders } from './folders.ts';
import type { DatasetFormat, DatasetLoadOptions, SplitName } from './types.ts';

export type { DatasetFormat, DatasetLoadOptions, LoadProgress, SplitName } from './types.ts';

export const formats = new Registry<DatasetFormat>('dataset format');
formats.register('herbarium', 'Herbarium FGVC metadata: 2020 and 2021 (metadata.json), 2022 (train_metadata.json)', herbarium);
formats.register('folders', 'one directory per label level, coarsest first: root/<family>/<genus>/<species>/*.jpg', folders);

export async function assertDirectory(root: string): Promise<string> {
  const abs = resolve(root);
  const s = await stat(abs).catch(() => null);
  if (!s) throw new UserError(`dataset directory ${abs} does not exist. Check data.train / data.test (paths are relative to the experiment file) or download the data first.`);
  if (!s.isDirectory()) throw new UserError(`${abs} is a file, not a dataset directory. Point data.train at the directory that holds the metadata (or the class folders).`);
  return abs;
}

/** Load one split of a dataset with a registered format. */
export async function loadDataset(
  format: string,
  root: string,
  levels: string[],
  split: SplitName,
  extra: Pick<DatasetLoadOptions, 'onProgress' | 'streamThresholdBytes'> = {},
): Promise<DatasetIndex> {
  const f = formats.get(format);
  const abs = await assertDirectory(root);
  if (levels.length === 0) throw new UserError('data.levels is empty: list the label levels finest first, e.g. [species, genus, family].');
  const dup = levels.find((l, i) => levels.indexOf(l) !== i);
  if (dup) throw new UserError(`data.levels names '${dup}' twice; each level appears once, finest first.`);
  return f.load({ root: abs, levels, split, ...extra });
}

/** The first registered format whose detect() recognises `root`. */
export async function detectFormat(root: string): Promise<{ format: string; variant: string }> {
  const abs = await assertDirectory(root);
  for (const { name, value } of formats.list()) {
    const variant = await value.detect(abs);
    if (variant) return { format: name, variant };
  }
  throw new UserError(
    `${abs} does not look like a dataset in any known format. Expected one of:\n` +
      formats.list().map((e) => `  ${e.name}: ${e.value.describe}`).join('\n'),
  );
}

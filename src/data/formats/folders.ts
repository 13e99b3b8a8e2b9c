// torchvision's ImageFolder convention extended to a hierarchy: one directory level per label
// level, coarsest first, images in the finest directories:
//   root/<family>/<genus>/<species>/*.{jpg,jpeg,png}      with data.levels [species, genus, family]
// Class ids are the directory names; an image's id is its path relative to the root. A test
// split is a directory of images (flat, or nested: the directories are ignored), labels -1.
import { readdir, stat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../../errors.ts';
import type { DatasetIndex } from '../types.ts';
import { buildHierarchy, type LabelUnits } from '../hierarchy.ts';
import { compareIds } from './paths.ts';
import type { DatasetFormat, DatasetLoadOptions } from './types.ts';

const IMAGE = /\.(jpe?g|png)$/i;
/** Names inspect gives the levels of a tree `depth` directories deep, finest first. */
const DEFAULT_LEVELS = ['species', 'genus', 'family', 'order', 'class', 'phylum', 'kingdom'];

interface Entry { name: string; dir: boolean; file: boolean }

async function entries(dir: string): Promise<Entry[]> {
  const out: Entry[] = [];
  for (const d of await readdir(dir, { withFileTypes: true })) {
    if (d.name.startsWith('.')) continue; // .DS_Store, ._ files, hidden folders
    let isDir = d.isDirectory();
    let isFile = d.isFile();
    if (d.isSymbolicLink()) {
      const s = await stat(join(dir, d.name)).catch(() => null);
      isDir = !!s?.isDirectory();
      isFile = !!s?.isFile();
    }
    out.push({ name: d.name, dir: isDir, file: isFile });
  }
  return out.sort((a, b) => compareIds(a.name, b.name));
}

/** Depth of the first images found going down the first directory of each level, or null. */
async function imageDepth(root: string, max = 8): Promise<number | null> {
  let dir = root;
  for (let depth = 0; depth <= max; depth++) {
    const es = await entries(dir);
    if (es.some((e) => e.file && IMAGE.test(e.name))) return depth;
    const sub = es.find((e) => e.dir);
    if (!sub) return null;
    dir = join(dir, sub.name);
  }
  return null;
}

async function load(opts: DatasetLoadOptions): Promise<DatasetIndex> {
  const { root, levels, split } = opts;
  const n = levels.length;
  const files: string[] = [];
  const rowUnit: number[] = [];
  const units: LabelUnits = { keys: levels.map(() => []), names: levels.map(() => []) };
  let walked = 0;

  const walk = async (rel: string[]): Promise<void> => {
    const dir = join(root, ...rel);
    opts.onProgress?.({ phase: 'read', done: ++walked, total: 0 });
    const es = await entries(dir);
    if (split === 'test') {
      for (const e of es) {
        if (e.dir) await walk([...rel, e.name]);
        else if (e.file && IMAGE.test(e.name)) files.push([...rel, e.name].join('/'));
      }
      return;
    }
    if (rel.length < n) {
      const stray = es.find((e) => e.file && IMAGE.test(e.name));
      if (stray) {
        throw new UserError(
          `${join(dir, stray.name)} is an image ${rel.length} director${rel.length === 1 ? 'y' : 'ies'} below the dataset root, but data.levels ` +
            `[${levels.join(', ')}] has ${n} level(s), so images must sit ${n} directories deep (root/${[...levels].reverse().map((l) => `<${l}>`).join('/')}/image.jpg). ` +
            'Fix data.levels or the directory layout.',
        );
      }
      for (const e of es) if (e.dir) await walk([...rel, e.name]);
      return;
    }
    const sub = es.find((e) => e.dir);
    if (sub) {
      throw new UserError(
        `${join(dir, sub.name)} is a directory ${n + 1} levels below the dataset root, but data.levels [${levels.join(', ')}] has ${n} level(s); ` +
          'add a level to data.levels or move its images up.',
      );
    }
    const u = units.keys[0].length;
    for (let l = 0; l < n; l++) {
      units.keys[l].push(rel[n - 1 - l]);
      units.names[l].push(rel[n - 1 - l]);
    }
    for (const e of es) {
      if (e.file && IMAGE.test(e.name)) {
        files.push([...rel, e.name].join('/'));
        rowUnit.push(u);
      }
    }
  };
  await walk([]);
  if (files.length === 0) {
    throw new UserError(`${root} holds no images (.jpg, .jpeg, .png)${split === 'train' ? ` ${n} directories deep (root/${[...levels].reverse().map((l) => `<${l}>`).join('/')}/image.jpg)` : ''}.`);
  }

  // Rows are already in path order: directories and names are visited sorted by code point.
  const hier = split === 'train'
    ? buildHierarchy(levels, units, root)
    : { levels: levels.map((name) => ({ name, ids: [], names: [] })), unitClass: [] as Int32Array[] };
  const labels = levels.map((_, l) => {
    const out = new Int32Array(files.length).fill(-1);
    if (split === 'train') for (let r = 0; r < files.length; r++) out[r] = hier.unitClass[l][rowUnit[r]];
    return out;
  });
  opts.onProgress?.({ phase: 'index', done: files.length, total: files.length });
  return { format: 'folders', variant: 'folders', root, levels: hier.levels, ids: files.slice(), files, labels, metadataFiles: [] };
}

export const folders: DatasetFormat = {
  describe:
    'one directory per label level, coarsest first, images in the finest: root/<family>/<genus>/<species>/*.{jpg,jpeg,png} ' +
    '(ImageFolder, extended); a test split is a directory of images.',
  async detect(root) {
    // A metadata file here or in train/ / test/ means a Herbarium download, whose images/ tree
    // would otherwise pass for class folders.
    const metas = ['metadata.json', 'train_metadata.json', 'test_metadata.json', 'train/metadata.json', 'test/metadata.json'];
    if (metas.some((m) => existsSync(join(root, m)))) return null;
    return (await imageDepth(root)) === null ? null : 'folders';
  },
  async levelsOf(root) {
    const depth = (await imageDepth(root)) ?? 0;
    return Array.from({ length: depth }, (_, i) => DEFAULT_LEVELS[i] ?? `level${i + 1}`);
  },
  load,
};

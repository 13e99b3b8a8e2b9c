// Herbarium FGVC metadata, 2020, 2021 and 2022, read exactly as published.
//   2020  <root>/metadata.json  images {id, file_name, width, height}, annotations {image_id,
//         category_id, region_id}, categories {id, name, family, genus}, regions
//   2021  <root>/metadata.json  as 2020, but annotations carry institution_id and categories
//         {id, name, family, order} have no genus: the genus is the first word of the name
//   2022  <root>/train_metadata.json, test_metadata.json  images {image_id, file_name},
//         annotations {image_id, category_id, genus_id, institution_id}, categories {category_id,
//         scientificName, family, genus, species}, genera [{genus_id, genus}]; file names are
//         relative to <root>/train_images (test_images) as in the Kaggle download
// file_name is otherwise relative to the directory holding the metadata. Test metadata has no
// annotations: its labels are -1.
import { existsSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { UserError } from '../../errors.ts';
import type { DatasetIndex } from '../types.ts';
import { readMetadata, ROOT_ARRAY_KEY, type MetadataDoc } from '../metadata-stream.ts';
import { buildHierarchy, type LabelUnits } from '../hierarchy.ts';
import { checkInsideRoot } from './paths.ts';
import { makeRowLookup, sortRowsById } from './rows.ts';
import type { DatasetFormat, DatasetLoadOptions, SplitName } from './types.ts';

type Variant = 'herbarium2020' | 'herbarium2021' | 'herbarium2022';
type Cat = Record<string, unknown>;
type ClassOf = (c: Cat, genusIds: Map<string, number | string>) => { id: number | string; name: string };

const str = (v: unknown) => (typeof v === 'string' ? v : String(v));
const named = (field: string): ClassOf => (c) => ({ id: str(c[field]), name: str(c[field]) });

/** Level name -> how a category yields its class at that level, per variant (finest first). */
const LEVELS: Record<Variant, Record<string, ClassOf>> = {
  herbarium2020: {
    species: (c) => ({ id: c.id as number, name: str(c.name) }),
    genus: named('genus'),
    family: named('family'),
  },
  herbarium2021: {
    species: (c) => ({ id: c.id as number, name: str(c.name) }),
    genus: (c) => { const g = str(c.name).trim().split(/\s+/)[0]; return { id: g, name: g }; },
    family: named('family'),
    order: named('order'),
  },
  herbarium2022: {
    species: (c) => ({ id: c.category_id as number, name: str(c.scientificName) }),
    genus: (c, genusIds) => ({ id: genusIds.get(str(c.genus)) ?? str(c.genus), name: str(c.genus) }),
    family: named('family'),
  },
};
/** The category fields each level reads, for a clear error when one is missing. */
const NEEDS: Record<string, string> = { species: 'name', genus: 'genus', family: 'family', order: 'order' };

function metadataPath(root: string, split: SplitName): { file: string; is2022: boolean } | null {
  const f2022 = join(root, split === 'train' ? 'train_metadata.json' : 'test_metadata.json');
  if (existsSync(f2022)) return { file: f2022, is2022: true };
  const f = join(root, 'metadata.json');
  return existsSync(f) ? { file: f, is2022: false } : null;
}

/** 2020 or 2021 from a cheap look at the start and end of metadata.json (load decides for sure). */
async function sniff(file: string): Promise<Variant | null> {
  const size = statSync(file).size;
  const n = Math.min(size, 1 << 20);
  const fh = await open(file, 'r');
  try {
    const head = Buffer.alloc(n);
    const tail = Buffer.alloc(n);
    await fh.read(head, 0, n, 0);
    await fh.read(tail, 0, n, size - n);
    const text = head.toString('latin1') + tail.toString('latin1');
    if (/"(region_id|regions)"\s*:/.test(text)) return 'herbarium2020';
    if (/"(institution_id|institutions|order)"\s*:/.test(text)) return 'herbarium2021';
    if (/"genus"\s*:/.test(text)) return 'herbarium2020';
    return null;
  } finally {
    await fh.close();
  }
}

function variantOf(doc: MetadataDoc, is2022: boolean): { variant: Variant; certain: boolean } {
  if (is2022) return { variant: 'herbarium2022', certain: true };
  const cats = doc.data.categories;
  if (Array.isArray(cats) && cats.length) {
    return { variant: 'genus' in (cats[0] as Cat) ? 'herbarium2020' : 'herbarium2021', certain: true };
  }
  if (doc.keys.includes('institutions')) return { variant: 'herbarium2021', certain: true };
  if (doc.keys.includes('regions')) return { variant: 'herbarium2020', certain: true };
  return { variant: 'herbarium2020', certain: false }; // test metadata without any hint
}

function checkLevels(levels: string[], variant: Variant, certain: boolean, file: string): void {
  const known = certain ? Object.keys(LEVELS[variant]) : [...new Set([...Object.keys(LEVELS.herbarium2020), ...Object.keys(LEVELS.herbarium2021)])];
  for (const l of levels) {
    if (!known.includes(l)) {
      throw new UserError(`unknown level '${l}' in data.levels for ${certain ? variant : 'Herbarium'} metadata ${file}. Available: ${known.join(', ')} (list them finest first).`);
    }
  }
}

function list(doc: MetadataDoc, key: string, file: string, required: boolean): Cat[] {
  const v = doc.data[key];
  if (v === undefined && !required) return [];
  if (!Array.isArray(v)) throw new UserError(`${file} has no '${key}' list. Is this a Herbarium metadata file? Expected top-level keys images, annotations, categories.`);
  return v as Cat[];
}

async function load(opts: DatasetLoadOptions): Promise<DatasetIndex> {
  const { root, levels, split } = opts;
  const where = metadataPath(root, split);
  if (!where) {
    throw new UserError(`${root} holds no Herbarium metadata for the ${split} split: expected metadata.json (2020, 2021) or ${split}_metadata.json (2022). Point data.${split} at the directory that holds it.`);
  }
  const { file, is2022 } = where;
  const doc = await readMetadata(file, {
    keys: ['images', 'annotations', 'categories', 'genera', ROOT_ARRAY_KEY],
    fields: { images: ['id', 'image_id', 'file_name'], annotations: ['image_id', 'category_id'], [ROOT_ARRAY_KEY]: ['image_id', 'file_name'] },
    streamThresholdBytes: opts.streamThresholdBytes,
    onBytes: (done, total) => opts.onProgress?.({ phase: 'read', done, total }),
  });
  const { variant, certain } = variantOf(doc, is2022);
  checkLevels(levels, variant, certain, file);

  // Label units: one per category, with its class at every requested level.
  const cats = list(doc, 'categories', file, split === 'train');
  const idField = variant === 'herbarium2022' ? 'category_id' : 'id';
  const genusIds = new Map<string, number | string>();
  for (const g of list(doc, 'genera', file, false)) genusIds.set(str(g.genus), g.genus_id as number);
  const units: LabelUnits = { keys: levels.map(() => []), names: levels.map(() => []) };
  const catUnit = new Map<unknown, number>();
  cats.forEach((c, u) => {
    if (catUnit.has(c[idField])) throw new UserError(`${file}: category id ${str(c[idField])} appears twice in categories.`);
    catUnit.set(c[idField], u);
    levels.forEach((l, li) => {
      const need = l === 'species' ? (variant === 'herbarium2022' ? 'scientificName' : 'name') : l === 'genus' && variant === 'herbarium2021' ? 'name' : NEEDS[l];
      if (c[idField] === undefined || c[need] === undefined || c[need] === null) {
        throw new UserError(`${file}: category ${JSON.stringify(c).slice(0, 120)} has no '${c[idField] === undefined ? idField : need}', which level '${l}' needs.`);
      }
      const k = LEVELS[variant][l](c, genusIds);
      units.keys[li].push(k.id);
      units.names[li].push(k.name);
    });
  });
  const { levels: classes, unitClass } = buildHierarchy(levels, units, file);

  // Rows: every image, sorted by image id so nothing depends on the order of the file.
  const images = list(doc, is2022 && split === 'test' && !doc.data.images ? ROOT_ARRAY_KEY : 'images', file, true);
  const imgIdField = variant === 'herbarium2022' ? 'image_id' : 'id';
  const prefix = is2022 && existsSync(join(root, `${split}_images`)) ? `${split}_images/` : '';
  const rawIds: (number | string)[] = new Array(images.length);
  for (let i = 0; i < images.length; i++) {
    const im = images[i];
    const id = im[imgIdField] as number | string;
    const name = im.file_name;
    if (id === undefined || typeof name !== 'string') {
      throw new UserError(`${file}: image entry ${JSON.stringify(im).slice(0, 120)} lacks '${id === undefined ? imgIdField : 'file_name'}'.`);
    }
    checkInsideRoot(name, `image ${str(id)}`, file, root);
    rawIds[i] = id;
  }
  const order = sortRowsById(rawIds, file);
  const ids = Array.from(order, (r) => rawIds[r]);
  const files = Array.from(order, (r) => prefix + (images[r].file_name as string));
  opts.onProgress?.({ phase: 'index', done: 0, total: ids.length });

  const n = ids.length;
  const labels = levels.map(() => new Int32Array(n).fill(-1));
  if (split === 'train') {
    const rowUnit = new Int32Array(n).fill(-1);
    const rowOf = makeRowLookup(ids);
    for (const a of list(doc, 'annotations', file, true)) {
      const row = rowOf(a.image_id as number | string);
      if (row < 0) throw new UserError(`${file}: an annotation refers to image ${str(a.image_id)}, which is not in images. The metadata file is inconsistent; re-download it.`);
      const u = catUnit.get(a.category_id);
      if (u === undefined) throw new UserError(`${file}: image ${str(a.image_id)} is annotated with category ${str(a.category_id)}, which is not in categories.`);
      if (rowUnit[row] >= 0 && rowUnit[row] !== u) throw new UserError(`${file}: image ${str(a.image_id)} has two annotations with different categories (${str(cats[rowUnit[row]][idField])} and ${str(a.category_id)}); each image needs exactly one label.`);
      rowUnit[row] = u;
    }
    const unlabelled: string[] = [];
    let count = 0;
    for (let r = 0; r < n; r++) {
      if (rowUnit[r] < 0) { if (count++ < 5) unlabelled.push(str(ids[r])); continue; }
      for (let l = 0; l < levels.length; l++) labels[l][r] = unitClass[l][rowUnit[r]];
    }
    if (count) throw new UserError(`${file}: ${count} image(s) have no annotation (first: ${unlabelled.join(', ')}). Every training image needs a label; if this is test metadata, use it as data.test.`);
  }
  opts.onProgress?.({ phase: 'index', done: n, total: n });
  return { format: 'herbarium', variant, root, levels: classes, ids, files, labels, metadataFiles: [file] };
}

export const herbarium: DatasetFormat = {
  describe:
    'Herbarium FGVC metadata: metadata.json (2020, 2021) or train_metadata.json / test_metadata.json (2022) ' +
    'in the dataset directory, file_name relative to it (2022: to train_images/). Levels: species, genus, family (2021 also order).',
  async detect(root) {
    if (existsSync(join(root, 'train_metadata.json')) || existsSync(join(root, 'test_metadata.json'))) return 'herbarium2022';
    const f = join(root, 'metadata.json');
    if (!existsSync(f)) return null;
    return (await sniff(f)) ?? 'herbarium';
  },
  async levelsOf(_root, variant) {
    return Object.keys(LEVELS[variant as Variant] ?? LEVELS.herbarium2020);
  },
  load,
};

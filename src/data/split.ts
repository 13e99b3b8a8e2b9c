// The validation split. It has its own seed (val.seed), so runs that differ only in their
// training seed share one validation set and compare pairwise.
//
// Stratified (default): per species (the first level), the images are ordered by image id and
// shuffled by Rng(seed, SPLIT, hash(species id)), so a species' split depends on nothing but its
// own images: adding a species, or reordering the metadata file, leaves the others' unchanged.
// round(fraction * n) images go to val (round half up), at least 1 when n >= 2 and at most n - 1,
// so every species keeps a training image; a species with one image stays in train.
//
// cap_per_class: the competition's test set holds at most 10 images per species while train holds
// hundreds for some. With a cap, val holds at most `cap` images of a species and the species'
// other images train. (Leaving the excess out of both sets would waste training data and change
// nothing for the macro-F1 estimate, which weighs every species equally anyway.)
//
// stratify: false draws a plain random `fraction` of all images (one shuffle of all rows by image
// id, Rng(seed, SPLIT, 0)); the cap still applies, and singletons may then land in val.
// Rows labelled -1 at the first level (unknown species) are in neither set.
import type { DatasetIndex, Split } from './types.ts';
import { Rng } from '../util/rng.ts';
import { UserError } from '../errors.ts';
import { alignToTraining } from './hierarchy.ts';
import { compareIds } from './formats/paths.ts';
import { loadDataset, type DatasetLoadOptions } from './formats/index.ts';
import { fnv1a32 } from '../util/hash.ts';

/** Purpose key of the split's random streams (keeps them apart from shuffling and augmentation). */
const SPLIT = 0x53504c54; // "SPLT"

export interface SplitOptions {
  /** Fraction of each species' images for validation, in (0, 1). */
  fraction: number;
  seed: number;
  /** At most this many val images per species (the competition's test cap is 10). */
  capPerClass?: number | null;
  /** Default true. */
  stratify?: boolean;
}

/** 32-bit FNV-1a of the id's text: the same key for the same species on every machine. */
export function idHash(id: number | string): number {
  return fnv1a32(String(id));
}

export function stratifiedSplit(index: DatasetIndex, opts: SplitOptions): Split {
  const { fraction, seed } = opts;
  if (!(fraction > 0 && fraction < 1)) throw new UserError(`val.fraction must be between 0 and 1 (exclusive), got ${fraction}.`);
  const cap = opts.capPerClass ?? Infinity;
  if (!(cap >= 1)) throw new UserError(`val.cap_per_class must be at least 1, got ${opts.capPerClass}.`);
  const labels = index.labels[0];
  const nClasses = index.levels[0].ids.length;
  const n = labels.length;
  const byId = rowsById(index);
  const isVal = new Uint8Array(n);
  const valPerClass = new Int32Array(nClasses);

  if (opts.stratify === false) {
    const rows = byId.filter((r) => labels[r] >= 0);
    new Rng(seed, SPLIT, 0).shuffle(rows);
    let want = Math.round(fraction * rows.length);
    for (let i = 0; i < rows.length && want > 0; i++) {
      const c = labels[rows[i]];
      if (valPerClass[c] >= cap) continue;
      valPerClass[c]++;
      isVal[rows[i]] = 1;
      want--;
    }
  } else {
    // Bucket rows by species (a counting sort keeps each bucket in image-id order).
    const start = new Int32Array(nClasses + 1);
    for (let i = 0; i < n; i++) if (labels[i] >= 0) start[labels[i] + 1]++;
    for (let c = 0; c < nClasses; c++) start[c + 1] += start[c];
    const fill = start.slice(0, nClasses);
    const bucketed = new Int32Array(start[nClasses]);
    for (const r of byId) if (labels[r] >= 0) bucketed[fill[labels[r]]++] = r;
    for (let c = 0; c < nClasses; c++) {
      const size = start[c + 1] - start[c];
      if (size < 2) continue;
      const k = Math.min(cap, size - 1, Math.max(1, Math.round(fraction * size)));
      const rows = bucketed.subarray(start[c], start[c + 1]);
      new Rng(seed, SPLIT, idHash(index.levels[0].ids[c])).shuffle(rows);
      for (let i = 0; i < k; i++) isVal[rows[i]] = 1;
    }
  }

  let nVal = 0;
  let nTrain = 0;
  for (let i = 0; i < n; i++) {
    if (labels[i] < 0) continue;
    if (isVal[i]) nVal++; else nTrain++;
  }
  const train = new Int32Array(nTrain);
  const val = new Int32Array(nVal);
  for (let i = 0, t = 0, v = 0; i < n; i++) {
    if (labels[i] < 0) continue;
    if (isVal[i]) val[v++] = i; else train[t++] = i;
  }
  return { train, val };
}

/** Row indices ordered by image id (the index is normally sorted already; this makes sure). */
function rowsById(index: DatasetIndex): Int32Array {
  const ids = index.ids;
  const rows = new Int32Array(ids.length);
  let sorted = true;
  for (let i = 0; i < ids.length; i++) {
    rows[i] = i;
    if (i > 0 && compareIds(ids[i - 1], ids[i]) > 0) sorted = false;
  }
  if (!sorted) rows.sort((a, b) => compareIds(ids[a], ids[b]));
  return rows;
}

/**
 * val.path: a second dataset root of the same format, read as a labelled split and re-expressed
 * in the training set's dense classes (a class training lacks is a UserError). Every row of the
 * returned index is validation; every row of `train` trains.
 */
export async function splitFromPath(
  train: DatasetIndex,
  valRoot: string,
  extra: Pick<DatasetLoadOptions, 'onProgress' | 'streamThresholdBytes'> = {},
): Promise<DatasetIndex> {
  const val = await loadDataset(train.format, valRoot, train.levels.map((l) => l.name), 'train', extra);
  return alignToTraining(train, val);
}

/** The settings of data.limit and data.val that decide a run's training rows. */
export interface TrainingRowsSettings {
  limit: number | null;
  val: { path?: string | null; fraction?: number | null; seed: number; cap_per_class?: number | null; stratify: boolean };
}

/** data.limit: a deterministic subset for smoke runs, the first N rows in id order (all without a limit). */
export function limitRows(index: DatasetIndex, limit: number | null): Int32Array {
  const rows = Int32Array.from({ length: index.files.length }, (_x, i) => i);
  return limit && limit < rows.length ? rows.subarray(0, limit) : rows;
}

/**
 * The training and validation rows of a held-out split. The full index is split (not the
 * data.limit subset), so a limited smoke run validates on the same examples as the full run
 * would; then the limited rows that are not validation train. The split stage, the stats stage,
 * `exp plan`'s cache statuses and `exp stats` all use this, so they agree on the rows.
 */
export function holdOutRows(index: DatasetIndex, d: TrainingRowsSettings): { train: Int32Array; val: Int32Array } {
  const v = d.val;
  const split = stratifiedSplit(index, { fraction: v.fraction ?? 0.2, seed: v.seed, capPerClass: v.cap_per_class, stratify: v.stratify });
  const isVal = new Uint8Array(index.files.length);
  for (const r of split.val) isVal[r] = 1;
  const limited = limitRows(index, d.limit);
  // limitRows keeps rows 0..N-1, so "in the limited set" is r < N.
  const n = limited.length;
  return { train: limited.filter((r) => !isVal[r]), val: split.val.filter((r) => r < n) };
}

/**
 * The rows a run trains on (and its stats stage measures): data.limit's first N rows, less the
 * validation rows of the split of the full index, or every one of them with val.path
 * (validation is another dataset).
 */
export function trainingRows(index: DatasetIndex, d: TrainingRowsSettings): Int32Array {
  return d.val.path ? limitRows(index, d.limit) : holdOutRows(index, d).train;
}

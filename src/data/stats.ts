// Per-channel mean and standard deviation of the training images (what `normalize: auto` uses),
// over every pixel of every image at the resize size, as the reference recipe's collect_stats did.
// Streaming: each image is reduced to exact integer sums, and the per-image moments are merged in
// row order (Chan et al.'s pairwise update) through a reorder window of at most `concurrency`
// images plus those finished early behind a slow one (7 numbers each), so memory stays small and
// the result does not depend on decode timing.
// Results are cached as JSON under <cacheDir>/stats/, keyed by the image list (names and sizes,
// never modification times) and the resize.
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { UserError } from '../errors.ts';
import { hashValue } from '../util/hash.ts';
import { readJsonIfExists, writeJsonAtomic } from '../util/fs.ts';
import type { DatasetIndex } from './types.ts';
import { BadImageError, decodeResized, type RawImage } from './image.ts';
import { forEachLimit, ImageCache } from './cache.ts';
import { configureSharp } from './loader.ts';
import { loadDataset } from './formats/index.ts';
import { trainingRows, type TrainingRowsSettings } from './split.ts';

export interface ChannelStats {
  mean: [number, number, number];
  std: [number, number, number];
  /** Images that contributed. */
  images: number;
  /** true when read from the stats cache. */
  cached: boolean;
}

export interface StatsOptions {
  resize: number;
  concurrency?: number;
  /** Base cache directory (data.cache.dir, whose default the schema declares); null disables the stats cache. */
  cacheDir: string | null;
  /** Read pixels through the resized-image cache when given. */
  imageCache?: ImageCache | null;
  onBadImage?: 'fail' | 'skip';
  /** Told of each image left out under on_bad_image: skip (the run records them). */
  onSkip?: (b: { row: number; file: string; reason: string; detail: string }) => void;
  onProgress?: (done: number, total: number) => void;
}

/** Running moments of the 0..1 pixel values of each channel. */
interface Moments {
  n: number;
  mean: number[];
  m2: number[];
}

/** Per-image moments from integer sums (exact in a double for any image under 10^11 pixels). */
export function imageMoments(img: RawImage): Moments {
  const d = img.data;
  const s = [0, 0, 0];
  const q = [0, 0, 0];
  // per-row partial sums keep the inner loop on small integers (V8 keeps them unboxed)
  const rowLen = img.width * 3;
  for (let y = 0; y < img.height; y++) {
    let s0 = 0, s1 = 0, s2 = 0, q0 = 0, q1 = 0, q2 = 0;
    for (let i = y * rowLen, end = i + rowLen; i < end; i += 3) {
      const r = d[i], g = d[i + 1], b = d[i + 2];
      s0 += r; s1 += g; s2 += b;
      q0 += r * r; q1 += g * g; q2 += b * b;
    }
    s[0] += s0; s[1] += s1; s[2] += s2;
    q[0] += q0; q[1] += q1; q[2] += q2;
  }
  const n = img.width * img.height;
  const mean = s.map((v) => v / n / 255);
  // M2 = sum (x - mean)^2 = sum x^2 - (sum x)^2 / n, on the 0..1 scale
  const m2 = q.map((v, c) => Math.max(0, (v - (s[c] * s[c]) / n) / (255 * 255)));
  return { n, mean, m2 };
}

/** Chan et al.: merge moments b into a. */
function merge(a: Moments, b: Moments): void {
  const n = a.n + b.n;
  if (b.n === 0) return;
  for (let c = 0; c < 3; c++) {
    const delta = b.mean[c] - a.mean[c];
    a.mean[c] += (delta * b.n) / n;
    a.m2[c] += b.m2[c] + (delta * delta * a.n * b.n) / n;
  }
  a.n = n;
}

/**
 * The stats cache key: the sorted (file name, size) list, the resize and what the pixels are read
 * from (the originals, or the resized-image cache in its format: a JPEG re-encoding moves the
 * statistics in the 4th decimal, enough to change every later bit of a run). v2: v1 keys did not
 * say the source, so entries computed from the originals could be served to runs reading the cache.
 */
async function fingerprint(index: DatasetIndex, rows: Int32Array, resize: number, concurrency: number, source: string): Promise<string> {
  const entries: [string, number][] = new Array(rows.length);
  await forEachLimit(rows.length, Math.max(8, concurrency), async (i) => {
    const f = index.files[rows[i]];
    const size = await stat(join(index.root, f)).then((s) => s.size, () => -1);
    entries[i] = [f, size];
  });
  entries.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] - b[1]));
  return hashValue({ v: 2, resize, source, entries }).slice(0, 32);
}

/** The cached statistics for these rows, or null; computes nothing (for `exp plan`). */
export async function cachedStats(index: DatasetIndex, rows: Int32Array, opts: Pick<StatsOptions, 'resize' | 'cacheDir' | 'concurrency' | 'imageCache'>): Promise<ChannelStats | null> {
  const cacheDir = opts.cacheDir;
  if (cacheDir === null) return null;
  const path = join(cacheDir, 'stats', `${await fingerprint(index, rows, opts.resize, Math.max(1, opts.concurrency ?? 4), sourceOf(opts.imageCache))}.json`);
  const hit = readJsonIfExists<Omit<ChannelStats, 'cached'>>(path);
  return hit ? { mean: hit.mean, std: hit.std, images: hit.images, cached: true } : null;
}

const sourceOf = (cache: ImageCache | null | undefined): string => (cache ? `cache-${cache.format}` : 'originals');

export async function computeStats(index: DatasetIndex, rows: Int32Array, opts: StatsOptions): Promise<ChannelStats> {
  const concurrency = Math.max(1, opts.concurrency ?? 4);
  const cacheDir = opts.cacheDir;
  let cachePath: string | null = null;
  if (cacheDir !== null) {
    cachePath = join(cacheDir, 'stats', `${await fingerprint(index, rows, opts.resize, concurrency, sourceOf(opts.imageCache))}.json`);
    const hit = readJsonIfExists<Omit<ChannelStats, 'cached'>>(cachePath);
    if (hit) return { mean: hit.mean, std: hit.std, images: hit.images, cached: true };
  }
  configureSharp();
  const total: Moments = { n: 0, mean: [0, 0, 0], m2: [0, 0, 0] };
  const window = new Map<number, Moments | null>(); // finished out of order, waiting for their turn
  let nextMerge = 0;
  let images = 0;
  let done = 0;
  await forEachLimit(rows.length, concurrency, async (i) => {
    const file = join(index.root, index.files[rows[i]]);
    let m: Moments | null = null;
    try {
      const src = opts.imageCache ? await opts.imageCache.ensure(file) : file;
      m = imageMoments(typeof src === 'string' ? await decodeResized(src, opts.resize) : src);
    } catch (e) {
      if (!(e instanceof BadImageError)) throw e;
      if (opts.onBadImage !== 'skip') {
        throw new UserError(
          `image ${file} (image id ${index.ids[rows[i]]}) is ${e.reason}${e.detail ? `: ${e.detail}` : ''}; ` +
            'the dataset statistics need every training image. Replace or remove it, or set data.on_bad_image: skip.',
        );
      }
      opts.onSkip?.({ row: rows[i], file: index.files[rows[i]], reason: e.reason, detail: e.detail });
    }
    window.set(i, m);
    while (window.has(nextMerge)) {
      const w = window.get(nextMerge)!;
      window.delete(nextMerge++);
      if (w) {
        merge(total, w);
        images++;
      }
    }
    opts.onProgress?.(++done, rows.length);
  });
  if (images === 0) throw new UserError(`no readable training images under ${index.root} to compute statistics from`);
  const result = {
    mean: total.mean.map((v) => v) as [number, number, number],
    std: total.m2.map((v) => Math.sqrt(v / total.n)) as [number, number, number],
    images,
  };
  if (cachePath) writeJsonAtomic(cachePath, { ...result, resize: opts.resize });
  return { ...result, cached: false };
}

/** The data settings (an experiment's `data`) that decide what `normalize: auto` measures. */
export interface StatsSettings extends TrainingRowsSettings {
  format: string;
  train: string;
  levels: string[];
  image: { resize: number };
  cache: { enabled: boolean; dir: string };
  loader: { concurrency: number };
  on_bad_image: 'fail' | 'skip';
}

/**
 * What a run's stats stage computes for these settings, without a run: the training rows after
 * the validation split and data.limit, at image.resize, read through the resized-image cache when
 * caching is on (the cache stage runs before the stats stage), with the same stats cache, so the
 * two share an entry. For `exp stats`.
 */
export async function trainingStats(d: StatsSettings, opts: Pick<StatsOptions, 'onProgress'> = {}): Promise<ChannelStats & { indexed: number; rows: number }> {
  const index = await loadDataset(d.format, d.train, d.levels, 'train');
  const rows = trainingRows(index, d);
  const stats = await computeStats(index, rows, {
    resize: d.image.resize,
    concurrency: d.loader.concurrency,
    cacheDir: d.cache.enabled ? d.cache.dir : null,
    imageCache: d.cache.enabled ? new ImageCache(d.image.resize, { dir: d.cache.dir }) : null,
    onBadImage: d.on_bad_image,
    onProgress: opts.onProgress,
  });
  return { ...stats, indexed: index.files.length, rows: rows.length };
}

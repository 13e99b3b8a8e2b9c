// One batch's pixels: every image of a batch read (through the image cache when there is one),
// decoded, cropped, augmented and normalised into one Float32Array. Each image's failure is
// reported, not thrown, so the caller (loader.ts, on the main thread) applies data.on_bad_image the
// same way whether the batch was decoded on the main thread or in the loader's worker thread
// (loader-thread.ts). A DecodeSpec, a DecodeJob and a DecodedBatch are plain data, which is what a
// message between threads can carry.
import sharp from 'sharp';
import { serializeError, type SerializedError } from '../util/worker.ts';
import { ImageCache, type CacheFormat } from './cache.ts';
import { BadImageError, loadImage, type AugmentSpec, type BadImageReason, type Normalize, type RawImage } from './image.ts';
import { resolveDecoder, type Decoder } from './jpeg.ts';

/** What every batch of one loader shares. */
export interface DecodeSpec {
  image: { resize: number; size: number };
  /** null for evaluation (centre crop, nothing random). */
  augment: AugmentSpec | null;
  normalize: Normalize;
  /** View 0 is plain when views > 1 (TTA), views 1.. augmented; a single view is augmented. */
  views: number;
  seed: number;
  epoch: number;
  /** Images of the loader decoded at once. */
  concurrency: number;
  /** JPEGs through exp's libjpeg-turbo addon (true) or sharp (false). */
  jpeg: boolean;
  /** The resized-image cache to read and fill, or null for the originals. */
  cache: { base: string; resize: number; format: CacheFormat } | null;
}

/** One batch: absolute file paths and their dataset rows (the rows key the random choices). */
export interface DecodeJob {
  files: string[];
  rows: Int32Array;
  /** Cache content keys the caller already knows (null where not), so they are not read again. */
  keys: (string | null)[];
}

export type ImageFailure =
  | { i: number; bad: { reason: BadImageReason; detail: string } }
  | { i: number; error: SerializedError };

export interface DecodedBatch {
  /** Float32 NHWC, view-major [views, B, size, size, 3]; a failed image's slots are unspecified. */
  x: Float32Array;
  /** The images that failed, in batch order. */
  failures: ImageFailure[];
  /** Cache content keys computed for this batch, [index in the batch, key]. */
  keys: [number, string][];
}

/** A FIFO counting semaphore: earlier batches get decoder slots first. */
export class Limiter {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(private readonly limit: number) {}
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active < this.limit) this.active++;
    else await new Promise<void>((r) => this.waiting.push(r)); // the slot is handed over
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }
}

/** What decodes a loader's batches in one thread: its decoder slots, cache handle and JPEG path. */
export interface DecodeEnv {
  limiter: Limiter;
  cache: ImageCache | null;
  decoder: Decoder;
}

let sharpConfigured = false;
/**
 * One libvips thread per image: the loader already decodes `concurrency` images in parallel, and
 * libvips threads inside one small image mostly contend. The operation cache is useless when every
 * image is read once per epoch, so it is off (it only holds memory).
 */
export function configureSharp(): void {
  if (sharpConfigured) return;
  sharp.concurrency(1);
  sharp.cache(false);
  sharpConfigured = true;
}

const caches = new Map<string, ImageCache>();
/** The worker thread's handle on a cache: one per cache, so its memory of the entries it has seen
 * lasts from batch to batch (content keys come with each batch from the main thread, which keeps them). */
export function cacheFor(spec: NonNullable<DecodeSpec['cache']>): ImageCache {
  const id = `${spec.format}:${spec.resize}:${spec.base}`;
  let c = caches.get(id);
  if (!c) caches.set(id, (c = new ImageCache(spec.resize, { dir: spec.base, format: spec.format, rememberKeys: false })));
  return c;
}

/** The environment a worker thread builds from a spec (the main thread passes its own objects). */
export function envOf(spec: DecodeSpec): DecodeEnv {
  configureSharp();
  return {
    limiter: new Limiter(Math.max(1, spec.concurrency)),
    cache: spec.cache ? cacheFor(spec.cache) : null,
    decoder: resolveDecoder(spec.jpeg ? 'libjpeg-turbo' : 'sharp'),
  };
}

export async function decodeBatch(spec: DecodeSpec, job: DecodeJob, env: DecodeEnv): Promise<DecodedBatch> {
  const { size } = spec.image;
  const per = size * size * 3;
  const B = job.files.length;
  const x = new Float32Array(spec.views * B * per);
  const computed: (string | null)[] = job.files.map(() => null);
  const results = await Promise.allSettled(job.files.map((file, i) =>
    env.limiter.run(async () => { computed[i] = await decodeRow(spec, env, file, job.rows[i], i, B, x, job.keys[i]); })));
  const failures: ImageFailure[] = [];
  results.forEach((r, i) => {
    if (r.status === 'fulfilled') return;
    const e = r.reason;
    failures.push(e instanceof BadImageError ? { i, bad: { reason: e.reason, detail: e.detail } } : { i, error: serializeError(e) });
  });
  const keys: [number, string][] = [];
  computed.forEach((k, i) => { if (k && !job.keys[i]) keys.push([i, k]); });
  return { x, failures, keys };
}

/** One image's views into x; with a cache, returns the file's content key. */
async function decodeRow(
  spec: DecodeSpec, env: DecodeEnv, file: string, row: number, i: number, B: number, x: Float32Array, key: string | null,
): Promise<string | null> {
  const { resize, size } = spec.image;
  const per = size * size * 3;
  const views = async (src: string | RawImage): Promise<void> => {
    for (let v = 0; v < spec.views; v++) {
      // without TTA the single view is the training view; with TTA, view 0 is the plain one
      const augment = spec.views > 1 && v === 0 ? null : spec.augment;
      await loadImage(src, {
        resize, size, augment, normalize: spec.normalize,
        key: [spec.seed, spec.epoch, row, v], out: x, offset: (v * B + i) * per, decoder: env.decoder,
      });
    }
  };
  const { cache } = env;
  if (!cache) {
    await views(file);
    return null;
  }
  const found = await cache.lookup(file, key ?? undefined);
  try {
    await views(found.image);
  } catch (e) {
    // an entry this thread saw went away (the cache was cleared during the run): make it again
    const src = found.image;
    if (!(typeof src === 'string' && e instanceof BadImageError && e.reason === 'missing' && e.file === src)) throw e;
    cache.forgetEntry(src);
    await views((await cache.lookup(file, found.key)).image);
  }
  return found.key;
}

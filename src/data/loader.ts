// Batches of decoded, augmented, normalised images for training and prediction. Decoding runs ahead
// of the consumer: up to `prefetch` batches are in flight and up to `concurrency` images decode at
// once (sharp and the JPEG addon run on libuv's thread pool, so the JS thread only does the
// per-pixel pass). With `worker` the pixel work (batch-decode.ts) runs in the loader's worker thread
// (loader-thread.ts), whose event loop is free while a training step holds the main one; otherwise
// on the main thread. Every random choice is keyed by (seed, epoch, row, view), so the batches do not
// depend on timing or on the thread; data.on_bad_image is applied here, in batch order.
import { join, resolve, sep } from 'node:path';
import { UserError } from '../errors.ts';
import { Rng } from '../util/rng.ts';
import type { DatasetIndex } from './types.ts';
import type { ImageCache } from './cache.ts';
import { resolveDecoder, type Decoder } from './jpeg.ts';
import { BadImageError, checkGeometry, type AugmentSpec, type Normalize } from './image.ts';
import { configureSharp, decodeBatch, Limiter, type DecodedBatch, type DecodeEnv, type DecodeJob, type DecodeSpec } from './batch-decode.ts';
import { loaderThread } from './loader-thread.ts';
import { deserializeError } from '../util/worker.ts';

export type OnBadImage = 'fail' | 'skip';

export interface LoaderOptions {
  /** Rows of the index to visit, in this order unless `shuffle` is set. */
  rows: Int32Array;
  batchSize: number;
  seed: number;
  epoch: number;
  /** Shuffle the rows with Rng(seed, epoch) (false: the caller has ordered them). */
  shuffle?: boolean;
  image: { resize: number; size: number };
  /** null for evaluation (centre crop, nothing random). */
  augment: AugmentSpec | null;
  normalize: Normalize;
  /** Test-time augmentation: view 0 is plain, views 1..n-1 use `augment`. Default 1 (no TTA). */
  views?: number;
  /** Images decoded at once (data.loader.concurrency). Default 4, libuv's default pool size. */
  concurrency?: number;
  /** Batches prepared ahead of the consumer. Default 2. */
  prefetch?: number;
  onBadImage?: OnBadImage;
  /** Told of each image left out under on_bad_image: skip, when it is met (the run's record of them). */
  onSkip?: (s: SkippedImage) => void;
  /** Read (and fill) the resized-image cache instead of decoding originals every time. */
  cache?: ImageCache | null;
  /** The JPEG decoder (data.loader.decoder; default auto). */
  decoder?: Decoder;
  /** Decode in the loader's worker thread (data.loader.worker; default false here, true in runs). */
  worker?: boolean;
}

export interface LoadedBatch {
  /** Float32 NHWC, view-major: [views, B, size, size, 3] (views = 1 without TTA). */
  x: Float32Array;
  /** Dataset rows of the B examples. */
  rows: Int32Array;
  /** Dense labels of the B examples, one array per level (finest first); -1 where unknown. */
  labels: Int32Array[];
  views: number;
  size: number;
}

export interface SkippedImage {
  row: number;
  /** As in the index (relative to the dataset root). */
  file: string;
  reason: string;
  detail: string;
}

/**
 * The UserError for a bad image under on_bad_image: fail, wherever it is met (the cache stage, the
 * loader): the file, its image id and row, the metadata that lists it, the reason, and the fixes.
 */
export function badImageUserError(index: DatasetIndex, row: number, e: BadImageError): UserError {
  const file = join(resolve(index.root), index.files[row]);
  const meta = index.metadataFiles.length ? ` listed in ${index.metadataFiles.join(', ')}` : '';
  return new UserError(
    `image ${file} (image id ${index.ids[row]}, row ${row}${meta}) is ${e.reason}` +
      `${e.detail ? `: ${e.detail}` : ''}. Replace or remove the file, or set data.on_bad_image: skip ` +
      'to leave unreadable images out (they are listed in run.json under data.bad_images).',
  );
}

export { configureSharp } from './batch-decode.ts';

export class BatchLoader implements AsyncIterable<LoadedBatch> {
  /** Images left out under on_bad_image: skip (for the run record), in the order met. */
  readonly skipped: SkippedImage[] = [];
  private readonly root: string;
  private readonly spec: DecodeSpec;
  /** Main-thread decoding: this loader's decoder slots, cache and decoder (null with `worker`). */
  private readonly env: DecodeEnv | null;

  constructor(private readonly index: DatasetIndex, private readonly opts: LoaderOptions) {
    checkGeometry(opts.image.resize, opts.image.size);
    if (!(opts.batchSize >= 1)) throw new UserError(`train.batch_size must be at least 1, got ${opts.batchSize}`);
    this.root = resolve(index.root);
    const decoder = opts.decoder ?? resolveDecoder('auto');
    const cache = opts.cache ?? null;
    this.spec = {
      image: opts.image, augment: opts.augment, normalize: opts.normalize, views: Math.max(1, opts.views ?? 1),
      seed: opts.seed, epoch: opts.epoch, concurrency: Math.max(1, opts.concurrency ?? 4), jpeg: decoder.jpeg !== null,
      cache: cache ? { base: cache.base, resize: cache.resize, format: cache.format } : null,
    };
    this.env = opts.worker ? null : { limiter: new Limiter(this.spec.concurrency), cache, decoder };
    configureSharp();
  }

  get numBatches(): number {
    return Math.ceil(this.opts.rows.length / this.opts.batchSize);
  }

  async *[Symbol.asyncIterator](): AsyncIterator<LoadedBatch> {
    const order = Int32Array.from(this.opts.rows);
    if (this.opts.shuffle) new Rng(this.opts.seed, this.opts.epoch).shuffle(order);
    const nb = this.numBatches;
    const prefetch = Math.max(1, this.opts.prefetch ?? 2);
    const thread = this.env ? null : loaderThread();
    const decode = (job: DecodeJob): Promise<DecodedBatch> =>
      thread ? thread.thread.decode(thread.id, this.spec, job) : decodeBatch(this.spec, job, this.env!);
    const pending: Promise<LoadedBatch | null>[] = [];
    let next = 0;
    const start = (): void => {
      const b = this.opts.batchSize;
      const p = this.makeBatch(order.subarray(next * b, Math.min(order.length, (next + 1) * b)), decode);
      p.catch(() => undefined); // a failure surfaces when its turn comes, not as an unhandled rejection
      pending.push(p);
      next++;
    };
    try {
      while (pending.length < prefetch && next < nb) start();
      while (pending.length > 0) {
        const batch = await pending.shift()!;
        if (next < nb) start();
        // Let the event loop turn once per batch: a batch already decoded would otherwise be handed
        // over in a microtask, and while the loader keeps ahead of the steps nothing else would run
        // until the epoch ends (the signal handlers that preempt a run, progress, the worker's messages).
        await new Promise<void>((r) => setImmediate(r));
        if (batch) yield batch;
      }
    } finally {
      thread?.thread.done(thread.id);
    }
  }

  private async makeBatch(rows: Int32Array, decode: (job: DecodeJob) => Promise<DecodedBatch>): Promise<LoadedBatch | null> {
    const { size } = this.opts.image;
    const per = size * size * 3;
    const B = rows.length;
    const V = this.spec.views;
    const files = Array.from(rows, (r) => this.resolveFile(r));
    const cache = this.opts.cache;
    const { x, failures, keys } = await decode({ files, rows, keys: files.map((f) => cache?.knownKey(f) ?? null) });
    for (const [i, k] of keys) cache?.rememberKey(files[i], k);
    const ok = new Uint8Array(B).fill(1);
    for (const f of failures) {
      const row = rows[f.i];
      if ('error' in f) throw deserializeError(f.error, `loading image ${files[f.i]}`);
      if (this.opts.onBadImage !== 'skip') {
        throw badImageUserError(this.index, row, new BadImageError(files[f.i], f.bad.reason, f.bad.detail));
      }
      const skipped = { row, file: this.index.files[row], reason: f.bad.reason, detail: f.bad.detail };
      this.skipped.push(skipped);
      this.opts.onSkip?.(skipped);
      ok[f.i] = 0;
    }
    const keep = B - failures.length;
    if (keep === 0) return null;
    let out = x;
    let kept = rows;
    if (keep < B) {
      // compact the surviving examples to the front of each view, keeping their order
      out = new Float32Array(V * keep * per);
      kept = new Int32Array(keep);
      for (let v = 0; v < V; v++) {
        let k = 0;
        for (let i = 0; i < B; i++) {
          if (!ok[i]) continue;
          out.set(x.subarray((v * B + i) * per, (v * B + i + 1) * per), (v * keep + k) * per);
          kept[k++] = rows[i];
        }
      }
    } else {
      kept = Int32Array.from(rows);
    }
    const labels = this.index.labels.map((l) => Int32Array.from(kept, (r) => l[r]));
    return { x: out, rows: kept, labels, views: V, size };
  }

  private resolveFile(row: number): string {
    const rel = this.index.files[row];
    const abs = resolve(this.root, rel);
    if (!abs.startsWith(this.root + sep)) {
      throw new UserError(
        `image ${JSON.stringify(rel)} (image id ${this.index.ids[row]}) lies outside the dataset root ` +
          `${this.root}; file names in the metadata must be relative paths inside the dataset directory.`,
      );
    }
    return join(abs);
  }
}

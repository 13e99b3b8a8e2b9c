// Batches of decoded, augmented, normalised images for training and prediction. Decoding runs ahead
// of the consumer: up to `prefetch` batches are in flight and up to `concurrency` images decode at
// once (sharp runs on libuv's thread pool, so the JS thread only does the per-pixel pass). Every
// random choice is keyed by (seed, epoch, row, view), so the batches do not depend on timing.
import { join, resolve, sep } from 'node:path';
import sharp from 'sharp';
import { UserError } from '../errors.ts';
import { Rng } from '../util/rng.ts';
import type { DatasetIndex } from './types.ts';
import type { ImageCache } from './cache.ts';
import type { Decoder } from './jpeg.ts';
import { BadImageError, checkGeometry, loadImage, type AugmentSpec, type Normalize, type RawImage } from './image.ts';

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

/** A FIFO counting semaphore: earlier batches get decoder slots first. */
class Limiter {
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

export class BatchLoader implements AsyncIterable<LoadedBatch> {
  /** Images left out under on_bad_image: skip (for the run record), in the order met. */
  readonly skipped: SkippedImage[] = [];
  private readonly root: string;
  private readonly views: number;
  private readonly limiter: Limiter;

  constructor(private readonly index: DatasetIndex, private readonly opts: LoaderOptions) {
    checkGeometry(opts.image.resize, opts.image.size);
    if (!(opts.batchSize >= 1)) throw new UserError(`train.batch_size must be at least 1, got ${opts.batchSize}`);
    this.views = Math.max(1, opts.views ?? 1);
    this.root = resolve(index.root);
    this.limiter = new Limiter(Math.max(1, opts.concurrency ?? 4));
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
    const pending: Promise<LoadedBatch | null>[] = [];
    let next = 0;
    const start = (): void => {
      const b = this.opts.batchSize;
      const p = this.makeBatch(order.subarray(next * b, Math.min(order.length, (next + 1) * b)));
      p.catch(() => undefined); // a failure surfaces when its turn comes, not as an unhandled rejection
      pending.push(p);
      next++;
    };
    while (pending.length < prefetch && next < nb) start();
    while (pending.length > 0) {
      const batch = await pending.shift()!;
      if (next < nb) start();
      if (batch) yield batch;
    }
  }

  private async makeBatch(rows: Int32Array): Promise<LoadedBatch | null> {
    const { size } = this.opts.image;
    const per = size * size * 3;
    const B = rows.length;
    const V = this.views;
    const x = new Float32Array(V * B * per);
    const ok = new Uint8Array(B).fill(1);
    await Promise.all(Array.from(rows, (row, i) =>
      this.limiter.run(() => this.loadRow(row, i, B, x)).catch((e) => {
        if (!(e instanceof BadImageError) || this.opts.onBadImage !== 'skip') throw this.toUserError(e, row);
        const skipped = { row, file: this.index.files[row], reason: e.reason, detail: e.detail };
        this.skipped.push(skipped);
        this.opts.onSkip?.(skipped);
        ok[i] = 0;
      })));
    const keep = ok.reduce((a, b) => a + b, 0);
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

  private async loadRow(row: number, i: number, B: number, x: Float32Array): Promise<void> {
    const { resize, size } = this.opts.image;
    const per = size * size * 3;
    const file = this.resolveFile(row);
    const src: string | RawImage = this.opts.cache ? await this.opts.cache.ensure(file) : file;
    for (let v = 0; v < this.views; v++) {
      // without TTA the single view is the training view; with TTA, view 0 is the plain one
      const augment = this.views > 1 && v === 0 ? null : this.opts.augment;
      await loadImage(src, {
        resize, size, augment, normalize: this.opts.normalize,
        key: [this.opts.seed, this.opts.epoch, row, v], out: x, offset: (v * B + i) * per,
        decoder: this.opts.decoder,
      });
    }
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

  private toUserError(e: unknown, row: number): unknown {
    return e instanceof BadImageError ? badImageUserError(this.index, row, e) : e;
  }
}

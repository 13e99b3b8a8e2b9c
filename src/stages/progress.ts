// What the stages print while they run, as pure functions of what they measured (so the wording
// is tested without running a stage). Every count names its unit (bytes, folders, images, rows,
// epochs), and work that was already cached says so instead of counting as if it were being done.
import type { LoadProgress } from '../data/formats/index.ts';
import type { WarmProgress } from '../data/cache.ts';
import type { EpochResult } from '../train/loop.ts';

/** "12/247 images (4 %)". */
export function count(done: number, total: number, unit: string): string {
  return `${done}/${total} ${unit} (${Math.floor((100 * done) / Math.max(1, total))} %)`;
}

/** 42614 -> "41.6 kB" (1024-based, as file managers show sizes). */
export function bytes(n: number): string {
  const units = ['bytes', 'kB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} bytes` : `${v.toFixed(1)} ${units[u]}`;
}

/**
 * The index stage: reading metadata (bytes) or walking class folders (a count: how many there are
 * is not known in advance), then indexing the images.
 */
export function indexProgress(split: string, q: LoadProgress): string {
  if (q.phase === 'index') return `${split}: indexing ${count(q.done, q.total, 'images')}`;
  // 'read' is the metadata's bytes (herbarium) or, with no total, directories walked (folders)
  if (q.total > 0) return `${split}: reading metadata, ${bytes(q.done)} of ${bytes(q.total)} (${Math.floor((100 * q.done) / q.total)} %)`;
  return `${split}: listing folders, ${q.done} folder${q.done === 1 ? '' : 's'} so far`;
}

/**
 * The cache stage. Until an image has to be resized, the stage only checks that the entries exist
 * (a warm cache); from the first miss on, it says how many it resized.
 */
export function cacheProgress(split: string, q: WarmProgress): string {
  const bad = q.bad ? `, ${q.bad} bad image${q.bad === 1 ? '' : 's'} skipped` : '';
  const hits = q.done - q.written - q.bad;
  if (q.written === 0) return `${split}: checking the image cache, ${count(q.done, q.total, 'images')} checked: ${hits} already cached${bad}`;
  return `${split}: resizing into the image cache, ${count(q.done, q.total, 'images')} done: ${q.written} resized, ${hits} already cached${bad}`;
}

/**
 * The cache stage's summary: the images in the cache and what it had to do for them. When it
 * resized none, the stage's result is `cached` and the title already says so.
 */
export function cacheSummary(r: { images: number; written: number; bad: number; resize: number }): string {
  const what = r.written === 0 ? '' : r.written === r.images ? ', all resized now' : `, ${r.written} resized now, ${r.images - r.written} already cached`;
  const bad = r.bad ? `; ${r.bad} bad image${r.bad === 1 ? '' : 's'} skipped (listed in run.json, data.bad_images)` : '';
  return `${r.images} images at ${r.resize} px${what}${bad}`;
}

const lr = (x: number) => (x !== 0 && Math.abs(x) < 0.01 ? x.toExponential(2) : String(Number(x.toPrecision(3))));
const f3 = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? 'n/a' : x.toFixed(3));

/**
 * One finished epoch, the line that stays on screen and in log.txt: epoch (1-based), training
 * loss (the weighted total the optimizer minimises), the target level's validation loss,
 * macro-F1 and accuracy (and the EMA weights' macro-F1 when train.ema is on), the learning rate
 * and the throughput.
 */
export function epochLine(row: EpochResult, target: string): string {
  const parts = [`epoch ${row.epoch + 1}: train loss ${f3(row.train_loss.total)}`];
  const v = row.val?.[target];
  if (v) {
    const ema = row.val_ema?.[target];
    parts.push(`val ${target} loss ${f3(v.loss)} macro-F1 ${f3(v.macro_f1)} accuracy ${f3(v.accuracy)}` +
      (ema ? ` (EMA macro-F1 ${f3(ema.macro_f1)})` : ''));
  } else {
    parts.push('no validation set');
  }
  parts.push(`lr ${lr(row.lr)}`, `${row.images_per_s.toFixed(1)} images/s`);
  return parts.join(', ');
}

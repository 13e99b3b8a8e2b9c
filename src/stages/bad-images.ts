// Images left out under data.on_bad_image: skip, per split, for run.json (data.bad_images). Any
// stage that meets one adds it here (the cache stage, which reads every image of every split;
// without the image cache, the stats stage, training, validation and prediction); an image met
// again (every epoch reads it) counts once. The lifecycle writes the record after each stage.
// At Herbarium scale the list can be long, so the record keeps the count of all of them and the
// first BAD_IMAGES_LISTED in dataset order (the order does not depend on decode timing).
import type { RunRecord } from '../runs/record.ts';
import type { BadImagesInfo } from '../runs/schemas.ts';

export const BAD_IMAGES_LISTED = 1000;
/** A decoder's message is kept to one line of at most this many characters. */
const DETAIL_CHARS = 200;
/** Splits in the order a user reads them; any other name after them. */
const SPLIT_ORDER = ['train', 'val', 'test'];

/** libvips repeats its warnings over several lines: keep each distinct one once, on one line. */
export function oneLine(detail: string): string {
  const lines = [...new Set(detail.split(/\r?\n/).map((l) => l.trim()).filter(Boolean))];
  const s = lines.join('; ');
  return s.length > DETAIL_CHARS ? `${s.slice(0, DETAIL_CHARS - 3)}...` : s;
}

export interface BadImage {
  /** The row in the split's index (its order is the dataset order). */
  row: number;
  /** As in the index: relative to the dataset root. */
  file: string;
  reason: string;
  detail: string;
}

interface SplitLog {
  files: Set<string>;
  /** The BAD_IMAGES_LISTED lowest rows, sorted by row. */
  listed: BadImage[];
}

export class BadImages {
  private readonly splits = new Map<string, SplitLog>();
  private changed = false;

  constructor(private readonly listed = BAD_IMAGES_LISTED) {}

  /** Records one bad image of `split`; an image already recorded is not counted again. */
  add(split: string, img: BadImage): void {
    let log = this.splits.get(split);
    if (!log) this.splits.set(split, (log = { files: new Set(), listed: [] }));
    if (log.files.has(img.file)) return;
    log.files.add(img.file);
    this.changed = true;
    const l = log.listed;
    if (l.length >= this.listed && img.row > l[l.length - 1].row) return;
    let lo = 0;
    let hi = l.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (l[mid].row < img.row) lo = mid + 1;
      else hi = mid;
    }
    l.splice(lo, 0, { ...img, detail: oneLine(img.detail) });
    if (l.length > this.listed) l.pop();
  }

  /** Bad images recorded for `split` (all splits when absent). */
  count(split?: string): number {
    if (split !== undefined) return this.splits.get(split)?.files.size ?? 0;
    let n = 0;
    for (const s of this.splits.values()) n += s.files.size;
    return n;
  }

  /** run.json's data.bad_images: per split that has any, the count and the listed files. */
  toRecord(): BadImagesInfo {
    const out: BadImagesInfo = {};
    const rank = (s: string) => (SPLIT_ORDER.includes(s) ? SPLIT_ORDER.indexOf(s) : SPLIT_ORDER.length);
    for (const split of [...this.splits.keys()].sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0))) {
      const s = this.splits.get(split)!;
      out[split] = {
        count: s.files.size,
        files: s.listed.map((b) => ({ file: b.file, reason: b.reason, ...(b.detail ? { detail: b.detail } : {}) })),
      };
    }
    return out;
  }

  /** Writes data.bad_images into the record when something was added since the last write. */
  flush(record: RunRecord): void {
    if (!this.changed) return;
    const data = record.json.data;
    if (!data) return; // nothing is read before the index stage records the data
    record.update({ data: { ...data, bad_images: this.toRecord() } });
    this.changed = false;
  }
}

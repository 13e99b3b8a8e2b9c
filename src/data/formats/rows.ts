// Row order and row lookup for an index of up to millions of images. Rows are sorted by image
// id, so an index (and every split, fingerprint and prediction file built on it) does not depend
// on the order of entries in the metadata file.
import { UserError } from '../../errors.ts';
import { compareIds } from './paths.ts';

const PACK_ROWS = 2 ** 22; // rows < 4M and ids < 2^31 pack into one exact float64 (2^53)

/** Row order that sorts `ids` ascending; a repeated id is a UserError naming `source`. */
export function sortRowsById(ids: (number | string)[], source: string): Int32Array {
  const n = ids.length;
  let order: Int32Array;
  const smallInts = n < PACK_ROWS && ids.every((x) => typeof x === 'number' && Number.isInteger(x) && x >= 0 && x < 2 ** 31);
  if (smallInts) {
    // A native numeric sort of (id * 2^22 + row) beats a comparator sort of 1M rows several-fold.
    const packed = new Float64Array(n);
    for (let i = 0; i < n; i++) packed[i] = (ids[i] as number) * PACK_ROWS + i;
    packed.sort();
    order = new Int32Array(n);
    for (let i = 0; i < n; i++) order[i] = packed[i] % PACK_ROWS;
  } else {
    order = new Int32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    order.sort((a, b) => compareIds(ids[a], ids[b]) || a - b);
  }
  for (let i = 1; i < n; i++) {
    if (ids[order[i]] === ids[order[i - 1]]) {
      throw new UserError(`${source}: image id ${String(ids[order[i]])} appears more than once. Image ids must be unique; the metadata file is inconsistent.`);
    }
  }
  return order;
}

/** id -> row (or -1) for ids already sorted ascending, by binary search (no 1M-entry Map). */
export function makeRowLookup(sortedIds: (number | string)[]): (id: number | string) => number {
  const numeric = sortedIds.every((x) => typeof x === 'number');
  const nums = numeric ? Float64Array.from(sortedIds as number[]) : null;
  return (id) => {
    let lo = 0;
    let hi = sortedIds.length - 1;
    if (nums) {
      if (typeof id !== 'number') return -1;
      while (lo <= hi) {
        const mid = (lo + hi) >>> 1;
        const v = nums[mid];
        if (v === id) return mid;
        if (v < id) lo = mid + 1; else hi = mid - 1;
      }
      return -1;
    }
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const c = compareIds(sortedIds[mid], id);
      if (c === 0) return mid;
      if (c < 0) lo = mid + 1; else hi = mid - 1;
    }
    return -1;
  };
}

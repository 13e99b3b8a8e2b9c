// Where an effect comes from: the classes whose F1 gained and lost most between a baseline and a
// variant (averaged over seed pairs), and the class pairs most often confused. Both from the
// aligned top-1 predictions compare already holds, so nothing more is read: per-class F1 from
// top-1 is exactly what per_class.json records, whose class names label the rows.

export interface ClassChange {
  /** Class id (as in index.json). */
  id: string;
  name: string | null;
  /** Validation examples of the class. */
  support: number;
  baseline: number;
  variant: number;
  delta: number;
}

/** Per-class F1 from top-1 predictions (0 where a class has support but no hit, NaN where it has neither support nor predictions). */
export function perClassF1(truth: Int32Array, pred: Int32Array, C: number): Float64Array {
  const tp = new Int32Array(C);
  const fp = new Int32Array(C);
  const fn = new Int32Array(C);
  for (let i = 0; i < truth.length; i++) {
    const t = truth[i];
    if (t < 0) continue;
    if (pred[i] === t) tp[t]++;
    else {
      fp[pred[i]]++;
      fn[t]++;
    }
  }
  return Float64Array.from(tp, (x, c) => {
    const d = 2 * x + fp[c] + fn[c];
    return d > 0 ? (2 * x) / d : NaN;
  });
}

/**
 * Classes that gained and lost most F1 from the baseline runs to the variant runs (pairs in the
 * same order, same rows), `top` of each; classes without validation examples are left out.
 */
export function classChanges(truth: Int32Array, ids: readonly (string | number)[], names: readonly string[] | null, base: Int32Array[], variant: Int32Array[], top = 5): { gained: ClassChange[]; lost: ClassChange[] } {
  const C = ids.length;
  const support = new Int32Array(C);
  for (const t of truth) if (t >= 0) support[t]++;
  const mean = (preds: Int32Array[]) => {
    const out = new Float64Array(C);
    for (const p of preds) {
      const f = perClassF1(truth, p, C);
      for (let c = 0; c < C; c++) out[c] += (Number.isNaN(f[c]) ? 0 : f[c]) / preds.length;
    }
    return out;
  };
  const a = mean(base);
  const b = mean(variant);
  const rows: ClassChange[] = [];
  for (let c = 0; c < C; c++) {
    if (!support[c]) continue;
    rows.push({ id: String(ids[c]), name: names?.[c] ?? null, support: support[c], baseline: a[c], variant: b[c], delta: b[c] - a[c] });
  }
  const byDelta = [...rows].sort((x, y) => y.delta - x.delta || y.support - x.support);
  return {
    gained: byDelta.filter((r) => r.delta > 0).slice(0, top),
    lost: byDelta.filter((r) => r.delta < 0).reverse().slice(0, top),
  };
}

export interface ConfusedPair {
  /** True and predicted class columns. */
  truth: number;
  predicted: number;
  /** Mean count of this confusion per run, one per column group. */
  counts: number[];
}

/**
 * The `top` (true, predicted) pairs of different classes most often confused, counted per run and
 * averaged within each column group (e.g. a sweep point's seeds), ranked by the largest group mean.
 */
export function confusedPairs(truth: Int32Array, groups: Int32Array[][], C: number, top = 8): ConfusedPair[] {
  const counts = new Map<number, number[]>();
  groups.forEach((preds, g) => {
    for (const p of preds) {
      for (let i = 0; i < truth.length; i++) {
        const t = truth[i];
        if (t < 0 || p[i] === t) continue;
        const key = t * C + p[i];
        let row = counts.get(key);
        if (!row) counts.set(key, (row = new Array(groups.length).fill(0)));
        row[g] += 1 / preds.length;
      }
    }
  });
  const out: ConfusedPair[] = [];
  for (const [key, row] of counts) out.push({ truth: Math.floor(key / C), predicted: key % C, counts: row });
  return out.sort((x, y) => Math.max(...y.counts) - Math.max(...x.counts) || x.truth - y.truth || x.predicted - y.predicted).slice(0, top);
}

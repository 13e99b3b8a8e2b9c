// Classification metrics, accumulated over row blocks so that scores are never held whole.
// macro-F1 follows scikit-learn's f1_score(average="macro") with its default labels: the classes
// present in the truth or the predictions (a class absent from both does not count; a counted class
// with no true positive scores 0). Top-k ranks by score, ties broken by the lower column index.

/**
 * The k highest-scoring columns of each row, best first, as rows*k column indices. Ties go to the
 * lower column index; NaN ranks below every number. One pass per row keeping a sorted list of k
 * (insertion beats a full sort of 32k columns when k is 5).
 */
export function topK(scores: Float32Array, rows: number, cols: number, k: number, out: Int32Array = new Int32Array(rows * k)): Int32Array {
  if (!(Number.isInteger(k) && k >= 1 && k <= cols)) throw new RangeError(`topK: k must be in 1..${cols} (the column count), got ${k}`);
  if (scores.length < rows * cols) throw new RangeError(`topK: ${scores.length} scores for ${rows} x ${cols}`);
  const vals = new Float64Array(k);
  const idx = new Int32Array(k);
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    // Seed the list with the first k columns, sorted (value desc, index asc).
    for (let j = 0; j < k; j++) {
      const v = scores[base + j];
      insertSorted(vals, idx, j, v !== v ? -Infinity : v, j);
    }
    let thr = vals[k - 1];
    for (let j = k; j < cols; j++) {
      const v = scores[base + j];
      // Strictly greater: an equal later column never displaces an earlier one. NaN fails too.
      if (v > thr) {
        insertSorted(vals, idx, k - 1, v, j); // drops the old last entry
        thr = vals[k - 1];
      }
    }
    out.set(idx, r * k);
  }
  return out;
}

/**
 * Put (v, column) into the list vals/idx (sorted by value, descending), whose slot `last` is free
 * or to be overwritten: entries below v move down one. Equal values keep their order.
 */
function insertSorted(vals: Float64Array, idx: Int32Array, last: number, v: number, column: number): void {
  let p = last;
  while (p > 0 && v > vals[p - 1]) {
    vals[p] = vals[p - 1];
    idx[p] = idx[p - 1];
    p--;
  }
  vals[p] = v;
  idx[p] = column;
}

/** The numbers metrics.json holds for one split, TTA setting and level. */
export interface LevelMetrics {
  macro_f1: number;
  accuracy: number;
  /** null when the level has fewer than 5 classes (top-5 would be trivially 1), or not computed. */
  top5: number | null;
  /** Labelled examples counted. */
  count: number;
  /** Classes in the macro average (present in truth or predictions). */
  classes: number;
}

export interface PerClassMetrics {
  f1: Float64Array;
  precision: Float64Array;
  recall: Float64Array;
  /** True examples per class (tp + fn). */
  support: Int32Array;
  /** Predicted examples per class (tp + fp). */
  predicted: Int32Array;
}

/** Macro-F1 from per-class counts, over the classes with tp + fp + fn > 0. NaN when none. */
export function macroF1FromCounts(tp: ArrayLike<number>, fp: ArrayLike<number>, fn: ArrayLike<number>): { macroF1: number; classes: number } {
  let sum = 0;
  let classes = 0;
  for (let c = 0; c < tp.length; c++) {
    const d = 2 * tp[c] + fp[c] + fn[c];
    if (d > 0) {
      sum += (2 * tp[c]) / d; // = 2PR/(P+R); 0 when tp is 0, as sklearn's zero_division gives
      classes++;
    }
  }
  return { macroF1: classes ? sum / classes : NaN, classes };
}

/**
 * Accumulates one level's metrics from row blocks of top-k predictions and true labels. Rows whose
 * true label is negative (unknown, as in a test split) are skipped and counted in `unlabeled`.
 */
export class MetricAccumulator {
  readonly tp: Int32Array;
  readonly fp: Int32Array;
  readonly fn: Int32Array;
  private n = 0;
  private correct = 0;
  private inTop5 = 0;
  unlabeled = 0;

  /** top5: false when only top-1 predictions are fed (top5 then finishes as null). */
  constructor(readonly numClasses: number, private readonly top5 = true) {
    this.tp = new Int32Array(numClasses);
    this.fp = new Int32Array(numClasses);
    this.fn = new Int32Array(numClasses);
  }

  /** top: rows*k predicted columns, best first (as topK returns); truth: one label per row. */
  add(top: Int32Array, k: number, truth: Int32Array): void {
    const rows = truth.length;
    if (top.length !== rows * k) throw new RangeError(`MetricAccumulator: ${top.length} predictions for ${rows} rows x ${k}`);
    const C = this.numClasses;
    const k5 = this.hasTop5() ? 5 : 1;
    if (k < k5) throw new RangeError(`MetricAccumulator: top-5 accuracy needs 5 predicted columns per row, got ${k}`);
    for (let r = 0; r < rows; r++) {
      const t = truth[r];
      if (t < 0) {
        this.unlabeled++;
        continue;
      }
      const p = top[r * k];
      if (t >= C || p < 0 || p >= C) throw new RangeError(`MetricAccumulator: label ${t} or prediction ${p} outside 0..${C - 1}`);
      this.n++;
      if (p === t) {
        this.tp[t]++;
        this.correct++;
        this.inTop5++;
      } else {
        this.fp[p]++;
        this.fn[t]++;
        for (let j = 1; j < k5; j++) {
          if (top[r * k + j] === t) {
            this.inTop5++;
            break;
          }
        }
      }
    }
  }

  private hasTop5(): boolean {
    return this.top5 && this.numClasses >= 5;
  }

  finish(): LevelMetrics {
    const { macroF1, classes } = macroF1FromCounts(this.tp, this.fp, this.fn);
    const n = this.n;
    const top5 = !this.hasTop5() ? null : n ? this.inTop5 / n : NaN;
    return { macro_f1: macroF1, accuracy: n ? this.correct / n : NaN, top5, count: n, classes };
  }

  /** Per-class precision, recall and F1 (0 where undefined, as sklearn's zero_division=0). */
  perClass(): PerClassMetrics {
    const C = this.numClasses;
    const out: PerClassMetrics = {
      f1: new Float64Array(C),
      precision: new Float64Array(C),
      recall: new Float64Array(C),
      support: new Int32Array(C),
      predicted: new Int32Array(C),
    };
    for (let c = 0; c < C; c++) {
      const tp = this.tp[c];
      const pred = tp + this.fp[c];
      const sup = tp + this.fn[c];
      out.support[c] = sup;
      out.predicted[c] = pred;
      out.precision[c] = pred ? tp / pred : 0;
      out.recall[c] = sup ? tp / sup : 0;
      const d = pred + sup;
      out.f1[c] = d ? (2 * tp) / d : 0;
    }
    return out;
  }
}

/**
 * Share of examples whose top-1 predictions agree with the hierarchy: at every level l, the parent
 * of the predicted class is the class predicted at level l+1 (species in the predicted genus, genus
 * in the predicted family). Levels finest first; parents[l] maps level l classes to level l+1.
 */
export class ConsistencyAccumulator {
  private n = 0;
  private consistent = 0;

  constructor(private readonly parents: Int32Array[]) {}

  /** preds[l]: top-1 class per row at level l (levels.length = parents.length + 1). */
  add(preds: Int32Array[]): void {
    if (preds.length !== this.parents.length + 1) {
      throw new RangeError(`ConsistencyAccumulator: ${preds.length} levels of predictions for ${this.parents.length} parent maps`);
    }
    const rows = preds[0].length;
    for (let r = 0; r < rows; r++) {
      let ok = true;
      for (let l = 0; l < this.parents.length && ok; l++) ok = this.parents[l][preds[l][r]] === preds[l + 1][r];
      if (ok) this.consistent++;
    }
    this.n += rows;
  }

  finish(): number {
    return this.n ? this.consistent / this.n : NaN;
  }
}

/** Top-1 column of each row of a rows*k top-k array. */
export function firstColumn(top: Int32Array, rows: number, k: number): Int32Array {
  const out = new Int32Array(rows);
  for (let r = 0; r < rows; r++) out[r] = top[r * k];
  return out;
}

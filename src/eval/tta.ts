// Test-time augmentation: reduce the scores of several views of the same images to one row each.
// 'logits': the mean of the views' scores; stays logits. 'probs': the mean of the views' softmax
// probabilities, stored as its logarithm (flag 'log_probs'), so every score file reads the same
// way (argmax, log_softmax) whatever the reduction. Log-probabilities as input compose: their
// softmax is the probabilities themselves.

export type ScoreKind = 'logits' | 'log_probs';
export type Reduction = 'logits' | 'probs';

/** Row-wise log-softmax (stable: shifts by the row max). `out` may be `scores`. */
export function logSoftmaxRows(scores: Float32Array, rows: number, cols: number, out: Float32Array = new Float32Array(rows * cols)): Float32Array {
  for (let r = 0; r < rows; r++) {
    const b = r * cols;
    const lse = logSumExp(scores, b, cols);
    for (let j = 0; j < cols; j++) out[b + j] = scores[b + j] - lse;
  }
  return out;
}

/** Row-wise softmax. `out` may be `scores`. */
export function softmaxRows(scores: Float32Array, rows: number, cols: number, out: Float32Array = new Float32Array(rows * cols)): Float32Array {
  for (let r = 0; r < rows; r++) {
    const b = r * cols;
    const lse = logSumExp(scores, b, cols);
    for (let j = 0; j < cols; j++) out[b + j] = Math.exp(scores[b + j] - lse);
  }
  return out;
}

/** log(sum(exp(x[off .. off+n)))) without overflow. -Infinity for an all -Infinity row. */
export function logSumExp(x: ArrayLike<number>, off: number, n: number): number {
  let m = -Infinity;
  for (let j = 0; j < n; j++) if (x[off + j] > m) m = x[off + j];
  if (m === -Infinity || m === Infinity) return m;
  let s = 0;
  for (let j = 0; j < n; j++) s += Math.exp(x[off + j] - m);
  return m + Math.log(s);
}

/**
 * Accumulates the views of one batch (rows x cols each) and reduces them. For 'probs' it keeps a
 * running log-sum-exp per element (max and scaled sum), so probabilities far below float64's range
 * still give a finite log instead of log(0).
 */
export class TtaAccumulator {
  private views = 0;
  private readonly a: Float64Array; // logits: sum; probs: running max of log-probs
  private readonly s?: Float64Array; // probs: sum of exp(logp - max)
  private readonly lsm?: Float32Array;

  constructor(readonly rows: number, readonly cols: number, readonly reduce: Reduction) {
    this.a = new Float64Array(rows * cols);
    if (reduce === 'probs') {
      this.a.fill(-Infinity);
      this.s = new Float64Array(rows * cols);
      this.lsm = new Float32Array(rows * cols);
    }
  }

  /** One view's scores (logits or log-probs; both work for either reduction, see file comment). */
  add(scores: Float32Array): void {
    const n = this.rows * this.cols;
    if (scores.length !== n) throw new RangeError(`TtaAccumulator: view has ${scores.length} values, expected ${this.rows} x ${this.cols}`);
    this.views++;
    const a = this.a;
    if (!this.s) {
      for (let i = 0; i < n; i++) a[i] += scores[i];
      return;
    }
    const s = this.s;
    const lp = logSoftmaxRows(scores, this.rows, this.cols, this.lsm);
    for (let i = 0; i < n; i++) {
      const x = lp[i];
      if (x === -Infinity) continue; // contributes exp(-inf) = 0
      if (x > a[i]) {
        s[i] = s[i] * Math.exp(a[i] - x) + 1; // exp(-inf) = 0 on the first finite view
        a[i] = x;
      } else {
        s[i] += Math.exp(x - a[i]);
      }
    }
  }

  get count(): number {
    return this.views;
  }

  /** Reduced scores, and what they are. */
  finish(out: Float32Array = new Float32Array(this.rows * this.cols)): { scores: Float32Array; kind: ScoreKind } {
    if (this.views === 0) throw new Error('TtaAccumulator: no views added');
    const n = this.rows * this.cols;
    const a = this.a;
    if (!this.s) {
      const inv = 1 / this.views;
      for (let i = 0; i < n; i++) out[i] = a[i] * inv;
      return { scores: out, kind: 'logits' };
    }
    const logV = Math.log(this.views);
    for (let i = 0; i < n; i++) out[i] = a[i] === -Infinity ? -Infinity : a[i] + Math.log(this.s[i]) - logV;
    return { scores: out, kind: 'log_probs' };
  }
}

/** Reduces whole views at once (a convenience over TtaAccumulator). */
export function reduceTta(views: Float32Array[], rows: number, cols: number, reduce: Reduction): { scores: Float32Array; kind: ScoreKind } {
  const acc = new TtaAccumulator(rows, cols, reduce);
  for (const v of views) acc.add(v);
  return acc.finish();
}

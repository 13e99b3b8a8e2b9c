// Decoding options applied to score blocks before taking the top-k, both off by default:
// - logit adjustment: subtract tau * log(training class prior). Herbarium's test set caps each
//   species at 10 images while training has hundreds for some, so the training prior is wrong for
//   test; removing it favours rare classes (Menon et al., "Long-tail learning via logit adjustment").
// - hierarchy-aware decoding: pick the species maximising w_s*logp(species) + w_g*logp(its genus)
//   + w_f*logp(its family), using every level's head instead of the species head alone.
import { UserError } from '../errors.ts';
import { logSoftmaxRows, type ScoreKind } from './tta.ts';

/**
 * log of each class's training frequency. `smoothing` is a pseudo-count added to every class; a
 * class never seen in training has no finite log prior, so it needs smoothing > 0.
 */
export function logPriorFromCounts(counts: ArrayLike<number>, smoothing = 0): Float64Array {
  let total = 0;
  for (let c = 0; c < counts.length; c++) total += counts[c] + smoothing;
  const out = new Float64Array(counts.length);
  for (let c = 0; c < counts.length; c++) {
    const v = counts[c] + smoothing;
    if (!(v > 0)) {
      throw new UserError(`Logit adjustment (decode.logit_adjust.tau) needs the training frequency of every class, but class ${c} has no training images, so its log prior is -infinity. Set decode.logit_adjust.tau to 0, or keep at least one image of every class in the training split.`);
    }
    out[c] = Math.log(v / total);
  }
  return out;
}

/** scores - tau * logPrior, row by row. `out` may be `scores`. */
export function logitAdjust(
  scores: Float32Array, rows: number, cols: number, logPrior: ArrayLike<number>, tau: number,
  out: Float32Array = new Float32Array(rows * cols),
): Float32Array {
  if (logPrior.length !== cols) throw new RangeError(`logitAdjust: prior has ${logPrior.length} classes, scores have ${cols}`);
  for (let r = 0; r < rows; r++) {
    const b = r * cols;
    for (let j = 0; j < cols; j++) out[b + j] = scores[b + j] - tau * logPrior[j];
  }
  return out;
}

/**
 * For each finest-level class, its ancestor at every level: result[l][s] (result[0][s] = s).
 * parents[l] maps classes at level l to level l+1.
 */
export function ancestorMaps(parents: Int32Array[], finestCount: number): Int32Array[] {
  const maps = [Int32Array.from({ length: finestCount }, (_, i) => i)];
  for (let l = 0; l < parents.length; l++) {
    const prev = maps[l];
    const next = new Int32Array(finestCount);
    for (let s = 0; s < finestCount; s++) {
      const p = parents[l][prev[s]];
      if (p === undefined || p < 0) throw new RangeError(`ancestorMaps: class ${prev[s]} at level ${l} has no parent`);
      next[s] = p;
    }
    maps.push(next);
  }
  return maps;
}

export interface LevelBlock {
  /** rows x cols scores of one level. */
  scores: Float32Array;
  cols: number;
  kind: ScoreKind;
}

/**
 * Combined finest-level scores: out[r, s] = sum_l weights[l] * logp_l[r, ancestor_l(s)]. Levels
 * finest first; logits are turned into log-probabilities first (log-probs are used as they are),
 * so the levels are on one scale. Take topK of the result to decode.
 */
export function hierarchicalScores(levels: LevelBlock[], ancestors: Int32Array[], weights: number[], rows: number): Float32Array {
  if (levels.length !== ancestors.length || levels.length !== weights.length) {
    throw new RangeError(`hierarchicalScores: ${levels.length} levels, ${ancestors.length} ancestor maps, ${weights.length} weights`);
  }
  const S = levels[0].cols;
  const logp = levels.map((lv) => (lv.kind === 'logits' ? logSoftmaxRows(lv.scores, rows, lv.cols) : lv.scores));
  const out = new Float32Array(rows * S);
  for (let r = 0; r < rows; r++) {
    const o = r * S;
    for (let l = 0; l < levels.length; l++) {
      const w = weights[l];
      if (w === 0) continue;
      const lp = logp[l];
      const b = r * levels[l].cols;
      const anc = ancestors[l];
      for (let s = 0; s < S; s++) out[o + s] += w * lp[b + anc[s]];
    }
  }
  return out;
}

// The arithmetic of `exp ensemble`, on row blocks so that Herbarium-size members (17.7 GB each)
// blend in bounded memory.
// - 'logits': weighted mean of the members' scores; the result is logits.
// - 'probs': weighted mean of the members' softmax probabilities, stored as its log ('log_probs').
// Members may hold logits or log-probabilities: both methods give the same result either way
// (softmax(log p) = p; log p differs from the logits by a per-row constant, which the softmax of
// a weighted mean ignores), so an ensemble of ensembles works.
import { UserError } from '../errors.ts';
import { NpyReader, NpyWriter, type NpyDtype } from '../eval/npy.ts';
import { logSumExp, type ScoreKind } from '../eval/tta.ts';

export type BlendMethod = 'logits' | 'probs';

/** Weights scaled to sum 1; equal weights when none are given. */
export function normalizeWeights(weights: readonly number[] | undefined, members: number): Float64Array {
  if (members < 1) throw new UserError('An ensemble needs at least one member run.');
  if (!weights) return new Float64Array(members).fill(1 / members);
  if (weights.length !== members) {
    throw new UserError(`--weights has ${weights.length} value(s) for ${members} member run(s); give one weight per run, in the order the runs are listed.`);
  }
  let sum = 0;
  for (const w of weights) {
    if (!(Number.isFinite(w) && w >= 0)) throw new UserError(`--weights: ${w} is not a finite number >= 0; weights are relative, e.g. --weights 2,1.`);
    sum += w;
  }
  if (!(sum > 0)) throw new UserError('--weights are all 0; at least one member needs a positive weight.');
  return Float64Array.from(weights, (w) => w / sum);
}

/** What the output of a method holds. */
export function blendKind(method: BlendMethod): ScoreKind {
  return method === 'logits' ? 'logits' : 'log_probs';
}

/** Blends one block: inputs[m] is rows x cols of member m; weights already normalised. */
export function blendBlock(
  inputs: Float32Array[], weights: ArrayLike<number>, method: BlendMethod, rows: number, cols: number,
  out: Float32Array = new Float32Array(rows * cols),
): Float32Array {
  const M = inputs.length;
  if (weights.length !== M) throw new RangeError(`blendBlock: ${M} inputs, ${weights.length} weights`);
  const n = rows * cols;
  for (const x of inputs) if (x.length < n) throw new RangeError(`blendBlock: input of ${x.length} values for ${rows} x ${cols}`);
  if (method === 'logits') {
    out.fill(0, 0, n);
    for (let m = 0; m < M; m++) {
      const w = weights[m];
      if (w === 0) continue;
      const x = inputs[m];
      for (let i = 0; i < n; i++) out[i] += w * x[i];
    }
    return out;
  }
  // probs: out = log sum_m w_m softmax(x_m), computed as a log-sum-exp over members of
  // (log w_m + x_m - lse_m) so that tiny probabilities keep a finite log.
  const active: number[] = [];
  for (let m = 0; m < M; m++) if (weights[m] > 0) active.push(m);
  const offs = new Float64Array(active.length);
  const v = new Float64Array(active.length);
  for (let r = 0; r < rows; r++) {
    const b = r * cols;
    for (let k = 0; k < active.length; k++) {
      const m = active[k];
      offs[k] = Math.log(weights[m]) - logSumExp(inputs[m], b, cols);
    }
    for (let j = 0; j < cols; j++) {
      // The largest term contributes exp(0) = 1 exactly, so M members cost M - 1 exps and a log1p.
      let mx = -Infinity;
      let arg = 0;
      for (let k = 0; k < active.length; k++) {
        const x = inputs[active[k]][b + j] + offs[k];
        v[k] = x;
        if (x > mx) {
          mx = x;
          arg = k;
        }
      }
      if (mx === -Infinity) {
        out[b + j] = -Infinity;
        continue;
      }
      let rest = 0;
      for (let k = 0; k < active.length; k++) if (k !== arg) rest += Math.exp(v[k] - mx);
      out[b + j] = mx + Math.log1p(rest);
    }
  }
  return out;
}

export interface BlendMember {
  npyPath: string;
  /** Output row i takes this member's row rowOrder[i] (from alignByIds); identity when absent. */
  rowOrder?: Int32Array;
}

export interface BlendFilesOptions {
  members: BlendMember[];
  /** Relative weights, normalised here; equal when absent. */
  weights?: readonly number[];
  method: BlendMethod;
  outPath: string;
  /** Rows per block; by default as many as fit in about 32 MiB per float32 buffer. */
  blockRows?: number;
  /** Output dtype; float32 by default. */
  dtype?: NpyDtype;
  /**
   * Called with each blended block before it is written (e.g. to take top-5 and metrics in the same
   * pass). The array is reused afterwards: copy what you keep.
   */
  onBlock?: (start: number, rows: number, scores: Float32Array) => void;
}

export interface BlendFilesResult {
  rows: number;
  cols: number;
  kind: ScoreKind;
  weights: number[];
}

const BLOCK_BYTES = 32 * 1024 * 1024;

/**
 * Streams the members' score files through blendBlock into outPath. Peak memory is about
 * (members + 2) x blockRows x cols x 4 bytes, whatever the file sizes.
 */
export async function blendFiles(opts: BlendFilesOptions): Promise<BlendFilesResult> {
  const weights = normalizeWeights(opts.weights, opts.members.length);
  const readers: NpyReader[] = [];
  let writer: NpyWriter | undefined;
  let pending: Promise<void> = Promise.resolve();
  try {
    for (const m of opts.members) readers.push(await NpyReader.open(m.npyPath));
    const first = readers[0];
    const cols = first.cols;
    const rows = opts.members[0].rowOrder?.length ?? first.rows;
    for (let k = 0; k < readers.length; k++) {
      const r = readers[k];
      if (r.dtype === 'int32' || r.shape.length !== 2) {
        throw new UserError(`${r.path} holds ${r.dtype} of shape (${r.shape.join(', ')}), not a 2-D score array; ensemble members are predictions/<split>/tta<N>/<level>.npy files.`);
      }
      if (r.cols !== cols) throw new UserError(`${r.path} has ${r.cols} class columns but ${first.path} has ${cols}; ensemble members must predict the same classes.`);
      if (r.rows !== rows) throw new UserError(`${r.path} has ${r.rows} rows but the ensemble has ${rows} examples; members must cover the same examples.`);
      const order = opts.members[k].rowOrder;
      if (order) {
        if (order.length !== rows) throw new RangeError(`blendFiles: member ${k} row order has ${order.length} entries, expected ${rows}`);
        for (let i = 0; i < order.length; i++) {
          if (!(order[i] >= 0 && order[i] < r.rows)) throw new RangeError(`blendFiles: member ${k} row order entry ${i} = ${order[i]} outside 0..${r.rows - 1}`);
        }
      }
    }
    const blockRows = opts.blockRows ?? Math.max(1, Math.floor(BLOCK_BYTES / (cols * 4)));
    const inputs = readers.map(() => new Float32Array(blockRows * cols));
    const outs = [new Float32Array(blockRows * cols), new Float32Array(blockRows * cols)];
    writer = await NpyWriter.open(opts.outPath, { dtype: opts.dtype ?? 'float32', cols });
    for (let start = 0, blk = 0; start < rows; start += blockRows, blk++) {
      const n = Math.min(blockRows, rows - start);
      // Reads of this block overlap the write of the previous one.
      await Promise.all(readers.map((r, k) => {
        const order = opts.members[k].rowOrder;
        return order ? r.gatherRows(order.subarray(start, start + n), inputs[k]) : r.readRowsInto(start, n, inputs[k]);
      }));
      const out = outs[blk % 2].subarray(0, n * cols);
      blendBlock(inputs, weights, opts.method, n, cols, out);
      opts.onBlock?.(start, n, out);
      await pending;
      pending = writer.append(out);
    }
    await pending;
    await writer.close();
    return { rows, cols, kind: blendKind(opts.method), weights: Array.from(weights) };
  } catch (e) {
    await pending.catch(() => undefined);
    await writer?.abort();
    throw e;
  } finally {
    for (const r of readers) await r.close();
  }
}

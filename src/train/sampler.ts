// Class samplers for the long tail: the order of training rows for one epoch, a pure function of
// (seed, epoch), so a resumed run sees the same batches as an uninterrupted one.
//   uniform  - every row once, shuffled (the usual epoch)
//   sqrt     - rows drawn with replacement, P(class c) proportional to sqrt(n_c): each row weighs
//              1/sqrt(n_c), a middle ground between the data's frequencies and balance
//   balanced - rows drawn with replacement, every class equally likely: each row weighs 1/n_c
// The weighted samplers draw as many rows as the epoch has (one pass's worth of steps).
import { Rng } from '../util/rng.ts';
import { Registry } from '../registry.ts';

/** Key that separates the sampler's draws from every other use of the seed. */
export const SAMPLER_PURPOSE = 0x5a3c1e;

export type SamplerFn = (labels: Int32Array, rng: Rng) => Int32Array;

/** Rows weighted by count^-power of their class, drawn with replacement. */
function weighted(power: number): SamplerFn {
  return (labels, rng) => {
    const counts = new Map<number, number>();
    for (const y of labels) counts.set(y, (counts.get(y) ?? 0) + 1);
    // cumulative weights in float64: 1M rows stay exact enough for a binary search
    const cum = new Float64Array(labels.length);
    let total = 0;
    for (let i = 0; i < labels.length; i++) {
      total += Math.pow(counts.get(labels[i])!, -power);
      cum[i] = total;
    }
    const out = new Int32Array(labels.length);
    for (let k = 0; k < out.length; k++) {
      const u = rng.next() * total;
      let lo = 0;
      let hi = cum.length - 1;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (cum[mid] > u) hi = mid;
        else lo = mid + 1;
      }
      out[k] = lo;
    }
    return out;
  };
}

export const samplers = new Registry<SamplerFn>('sampler');
samplers.register('uniform', 'each training row once per epoch, shuffled', (labels, rng) => {
  const order = new Int32Array(labels.length);
  for (let i = 0; i < order.length; i++) order[i] = i;
  rng.shuffle(order);
  return order;
});
samplers.register('sqrt', 'rows drawn with P(class) proportional to sqrt(class frequency)', weighted(0.5));
samplers.register('balanced', 'rows drawn with every class equally likely', weighted(1));

/**
 * Positions into `labels` (the target level's labels of the training rows) for one epoch.
 * Deterministic from (seed, epoch).
 */
export function epochOrder(kind: string, labels: Int32Array, seed: number, epoch: number): Int32Array {
  return samplers.get(kind)(labels, new Rng(seed, SAMPLER_PURPOSE, epoch));
}

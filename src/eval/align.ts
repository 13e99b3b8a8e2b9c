// Aligning two runs' prediction rows by image id, never by row order: two runs may list the same
// examples in different orders (another loader, another shuffle), and comparing row i with row i
// would then compare different images.

/** A dataset's image or category id, as its metadata spells it. */
export type Id = number | string;

export type Alignment =
  | { ok: true; /** order[i] = row in `other` holding base row i's example. */ order: Int32Array }
  | { ok: false; reason: string };

const MAX_LISTED = 3;

function some(xs: Id[]): string {
  const shown = xs.slice(0, MAX_LISTED).map((x) => JSON.stringify(x)).join(', ');
  return xs.length > MAX_LISTED ? `${shown}, ...` : shown;
}

/**
 * The permutation that reorders `other`'s rows into `base`'s order, or why there is none: the
 * two id lists must hold the same ids, each once. Ids compare as strings (1 and "1" are the same
 * image, as they are in a CSV).
 */
export function alignByIds(base: readonly Id[], other: readonly Id[]): Alignment {
  const pos = new Map<string, number>();
  const dupOther: Id[] = [];
  for (let i = 0; i < other.length; i++) {
    const k = String(other[i]);
    if (pos.has(k)) dupOther.push(other[i]);
    else pos.set(k, i);
  }
  if (dupOther.length) return { ok: false, reason: `the second list repeats ${dupOther.length} id(s) (${some(dupOther)})` };
  const order = new Int32Array(base.length);
  const seen = new Set<string>();
  const missing: Id[] = [];
  const dupBase: Id[] = [];
  for (let i = 0; i < base.length; i++) {
    const k = String(base[i]);
    if (seen.has(k)) dupBase.push(base[i]);
    seen.add(k);
    const j = pos.get(k);
    if (j === undefined) missing.push(base[i]);
    else order[i] = j;
  }
  if (dupBase.length) return { ok: false, reason: `the first list repeats ${dupBase.length} id(s) (${some(dupBase)})` };
  const extra = other.filter((id) => !seen.has(String(id)));
  if (missing.length || extra.length) {
    const parts: string[] = [];
    if (missing.length) parts.push(`${missing.length} of ${base.length} ids are missing from the second (${some(missing)})`);
    if (extra.length) parts.push(`${extra.length} of ${other.length} ids are only in the second (${some(extra)})`);
    return { ok: false, reason: `the example sets differ: ${parts.join('; ')}` };
  }
  return { ok: true, order };
}

/** values reordered: out[i] = values[order[i]]. */
export function permute(values: Int32Array, order: Int32Array): Int32Array {
  const out = new Int32Array(order.length);
  for (let i = 0; i < order.length; i++) out[i] = values[order[i]];
  return out;
}

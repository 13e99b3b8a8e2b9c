// Parameters for the exp_native addon's entry points, packed by name from the one table of their
// layouts (native/params.json, generated into params.gen.ts here and params.gen.h for C++). A
// missing or extra name is a type error; arrays (`shape[rank]`) take a list whose length must
// equal their length parameter. `layoutMismatch` compares an addon's exported table with ours.
import { LAYOUTS } from './params.gen.ts';

export { LAYOUTS };
export type Entry = keyof typeof LAYOUTS;
type Spelled<E extends Entry> = (typeof LAYOUTS)[E][number];
type ArrayName<N> = N extends `${infer A}[${string}]` ? A : never;
type ScalarName<N> = N extends `${string}[${string}]` ? never : N;
/** The values of one call of entry point E: a number per scalar, a list per array. */
export type Params<E extends Entry> = { [K in ScalarName<Spelled<E>>]: number } & { [K in ArrayName<Spelled<E>>]: readonly number[] };

interface Parsed { scalars: string[]; arrays: { name: string; length: string }[] }
const parsed = Object.fromEntries(Object.entries(LAYOUTS).map(([entry, names]) => {
  const p: Parsed = { scalars: [], arrays: [] };
  for (const n of names as readonly string[]) {
    const m = n.match(/^(\w+)\[(\w+)\]$/);
    if (m) p.arrays.push({ name: m[1], length: m[2] });
    else p.scalars.push(n);
  }
  return [entry, p];
})) as Record<Entry, Parsed>;

/** The Float64Array entry point `entry` reads, from its values by name. */
export function pack<E extends Entry>(entry: E, values: Params<E>): Float64Array {
  const { scalars, arrays } = parsed[entry];
  const v = values as unknown as Record<string, number | readonly number[] | undefined>;
  let size = scalars.length;
  for (const a of arrays) {
    const list = v[a.name], len = v[a.length];
    if (!Array.isArray(list) || list.length !== len) {
      throw new Error(`native ${entry}: parameter ${a.name} needs ${String(len)} values (${a.length}), got ${Array.isArray(list) ? list.length : typeof list}`);
    }
    size += list.length;
  }
  const out = new Float64Array(size);
  for (let i = 0; i < scalars.length; i++) {
    const x = v[scalars[i]];
    if (typeof x !== 'number') throw new Error(`native ${entry}: parameter ${scalars[i]} is ${typeof x}, not a number`);
    out[i] = x;
  }
  let at = scalars.length;
  for (const a of arrays) {
    const list = v[a.name] as readonly number[];
    out.set(list, at);
    at += list.length;
  }
  return out;
}

/**
 * How an addon's exported `layouts` differs from LAYOUTS (the sources'), in a few words; undefined
 * when they are the same. A build from other sources must not be called: its entry points would
 * read our parameters in another order.
 */
export function layoutMismatch(exported: unknown): string | undefined {
  if (exported === null || typeof exported !== 'object') return 'it exports no parameter layouts (built before they were named)';
  const theirs = exported as Record<string, unknown>;
  const diffs: string[] = [];
  for (const [entry, names] of Object.entries(LAYOUTS) as [string, readonly string[]][]) {
    const t = theirs[entry];
    if (!Array.isArray(t)) diffs.push(`${entry} is missing`);
    else if (t.length !== names.length || t.some((n, i) => n !== names[i])) {
      const i = names.findIndex((n, k) => t[k] !== n);
      diffs.push(`${entry} has [${t.join(', ')}]${i >= 0 ? ` (parameter ${i}: ${String(t[i] ?? 'none')}, expected ${names[i]})` : ` (expected [${names.join(', ')}])`}`);
    }
  }
  for (const entry of Object.keys(theirs)) if (!(entry in LAYOUTS)) diffs.push(`${entry} is unknown here`);
  if (!diffs.length) return undefined;
  return `its parameter layouts differ from src/model/kernels/params.gen.ts: ${diffs.slice(0, 3).join('; ')}${diffs.length > 3 ? `; and ${diffs.length - 3} more` : ''}`;
}

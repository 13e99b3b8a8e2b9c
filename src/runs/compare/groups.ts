// How runs relate: labels from swept values, the like-with-like partner of each run (the baseline
// run of the same seed), the sweep groups, and the studies behind the headline: for each swept key,
// the pairs of runs that differ only in that key (same seed, same split seed, same other values).
import { stableStringify } from '../../util/hash.ts';
import { formatValue, sameValue } from './config-diff.ts';
import type { Relation } from './pairing.ts';
import type { CompareRun } from './types.ts';

/** Keys that repeat a point rather than change it: the training seed and the split seed. */
export const REPLICATE_KEYS = ['seed', 'data.val.seed'];

/** Short names for dotted keys: the last segment ("x.enabled" names x), longer where two would clash. */
export function shortKeys(keys: readonly string[]): Record<string, string> {
  const segs = keys.map((k) => k.split('.').filter((s, i, a) => !(s === 'enabled' && i === a.length - 1 && a.length > 1)));
  const out: Record<string, string> = {};
  keys.forEach((k, i) => {
    let n = 1;
    const name = (m: number, s: string[]) => s.slice(-m).join('.');
    while (n < segs[i].length && segs.some((s, j) => j !== i && name(n, s) === name(n, segs[i]))) n++;
    out[k] = name(n, segs[i]);
  });
  return out;
}

/** A swept value as a label shows it: booleans as on/off, the rest compactly. */
export const valueText = (v: unknown): string => (v === true ? 'on' : v === false ? 'off' : formatValue(v));

/** "color_jitter=on, seed=1" */
export function pointLabel(point: Record<string, unknown>, keys: readonly string[]): string {
  const short = shortKeys(keys);
  return keys.filter((k) => k in point).map((k) => `${short[k]}=${valueText(point[k])}`).join(', ');
}

/**
 * Labels that tell runs apart in narrow columns: a sweep run by its swept values, another run by
 * its name, or name-<id suffix> where names repeat; the id where a label would still repeat.
 */
export function runLabels(runs: { id: string; name: string; sweep?: { point: Record<string, unknown>; keys: string[] } | null }[]): string[] {
  const count = new Map<string, number>();
  for (const r of runs) if (!r.sweep) count.set(r.name, (count.get(r.name) ?? 0) + 1);
  let labels = runs.map((r) => (r.sweep && r.sweep.keys.length ? pointLabel(r.sweep.point, r.sweep.keys) : count.get(r.name)! > 1 ? `${r.name}-${r.id.slice(-6)}` : r.name));
  labels = labels.map((l, i) => (runs[i].sweep && labels.indexOf(l) !== labels.lastIndexOf(l) ? `${l} (${runs[i].id.slice(-6)})` : l));
  return labels.map((l, i) => (labels.indexOf(l) !== i ? runs[i].id : l));
}

const withoutSeed = (c: Record<string, unknown>): string => stableStringify(Object.fromEntries(Object.entries(c).filter(([k]) => k !== 'seed')));

export interface Partner {
  /** Index of the run this one is paired with. */
  vs: number;
  relation: Relation;
  /** Why the partner is not the same-seed baseline, when it is not. */
  note?: string;
}

/**
 * Like with like: each run (but the baseline, index 0) is paired with the run that has the
 * baseline's config and the same seed. A run whose config equals the baseline's (seed aside) is a
 * noise reference against the baseline itself: what seeds (or repeats) alone do.
 */
export function partners(runs: CompareRun[]): (Partner | null)[] {
  const base = runs[0];
  const baseCfg = base?.config ? withoutSeed(base.config) : null;
  // which runs have the baseline's config, computed once (200 runs compare in well under a second)
  const isBase = runs.map((r) => baseCfg !== null && r.kind === base.kind && r.config !== null && withoutSeed(r.config) === baseCfg);
  return runs.map((r, i) => {
    if (i === 0) return null;
    if (isBase[i]) return { vs: 0, relation: r.seed === base.seed ? 'same config' : 'same config, other seed' };
    if (r.seed === null || r.kind !== base.kind) return { vs: 0, relation: 'variant' };
    const j = runs.findIndex((x, k) => k !== i && isBase[k] && x.seed === r.seed);
    if (j >= 0) return { vs: j, relation: 'variant' };
    return { vs: 0, relation: 'variant', note: r.seed !== base.seed ? `no run with the baseline's config and seed ${r.seed}: paired with the baseline (seed ${base.seed}), so the difference mixes the change with seed noise` : undefined };
  });
}

// ---- sweep groups ---------------------------------------------------------------------------

export interface SweepGroup {
  /** The swept values (seed left out) shared by the group's runs. */
  point: Record<string, unknown>;
  runs: string[];
  /** Paired against the baseline's group by seed: per seed, both values and the delta. */
  perSeed: { seed: number | string; baseline: number | null; value: number | null; delta: number | null }[];
  meanDelta: number | null;
}

export interface SweepSummary {
  id: string;
  keys: string[];
  /** The key that repeats a point (seed), or null when the sweep has no repeats. */
  seedKey: string | null;
  metric: string;
  baselineGroup: Record<string, unknown>;
  groups: SweepGroup[];
}

/**
 * The runs of one sweep (`id`, else the sweep of runs[0] when every run is in it) grouped by their
 * swept values other than the seed, each group paired with the baseline's group seed by seed (same
 * seed = same initialisation and shuffling, so the delta isolates the swept change). `value` gives
 * the metric of a run. The baseline group is that of the first run of the sweep.
 */
export function sweepSummary(all: CompareRun[], metric: string, value: (r: CompareRun) => number | null, id?: string): SweepSummary | null {
  const sweepId = id ?? all[0]?.sweep?.id;
  if (!sweepId || (!id && !all.every((r) => r.sweep?.id === sweepId))) return null;
  const runs = all.filter((r) => r.sweep?.id === sweepId);
  if (runs.length < 2) return null;
  const keys = runs[0].sweep!.keys;
  const seedKey = keys.includes('seed') ? 'seed' : null;
  const groupKeys = keys.filter((k) => k !== seedKey);
  const pointOf = (r: CompareRun) => Object.fromEntries(groupKeys.map((k) => [k, r.sweep!.point[k]]));
  const seedOf = (r: CompareRun): number | string => {
    const s = seedKey ? r.sweep!.point[seedKey] : r.seed;
    return typeof s === 'number' || typeof s === 'string' ? s : 'none';
  };
  const groups = new Map<string, CompareRun[]>();
  for (const r of runs) {
    const k = stableStringify(pointOf(r));
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  const baseKey = stableStringify(pointOf(runs[0]));
  const base = groups.get(baseKey)!;
  const baseBySeed = new Map(base.map((r) => [String(seedOf(r)), r]));
  const out: SweepGroup[] = [];
  for (const [k, members] of groups) {
    const perSeed = members.map((r) => {
      const b = baseBySeed.get(String(seedOf(r)));
      const bv = b ? value(b) : null;
      const v = value(r);
      return { seed: seedOf(r), baseline: bv, value: v, delta: bv !== null && v !== null ? v - bv : null };
    });
    const ds = perSeed.map((p) => p.delta).filter((d): d is number => d !== null);
    out.push({ point: pointOf(members[0]), runs: members.map((r) => r.id), perSeed, meanDelta: k === baseKey || !ds.length ? (k === baseKey ? 0 : null) : ds.reduce((s, d) => s + d, 0) / ds.length });
  }
  return { id: sweepId, keys, seedKey, metric, baselineGroup: pointOf(runs[0]), groups: out };
}

// ---- studies: the pairs behind each headline ---------------------------------------------------

export interface StudyPair {
  /** What repeats the pair: "seed=1" (and the other swept values when they vary). */
  seed: string;
  baseline: number;
  variant: number;
}

export interface Study {
  /** The sweep id, or null for runs outside sweeps paired by their config. */
  sweep: string | null;
  key: string;
  short: string;
  baselineValue: unknown;
  value: unknown;
  pairs: StudyPair[];
  /** Runs at this value that could not be paired, and why. */
  unpaired: string[];
  /** Other swept keys whose values vary across the pairs (the effect is averaged over them). */
  others: string[];
}

interface Family {
  sweep: string | null;
  keys: string[];
  members: number[];
  point: (i: number) => Record<string, unknown>;
}

/** The runs of each sweep (and the runs outside sweeps, by config) with repeats of a point reduced to the latest completed run. */
function families(runs: CompareRun[], baseline: number): Family[] {
  const out: Family[] = [];
  const bySweep = new Map<string, number[]>();
  runs.forEach((r, i) => {
    if (r.sweep) bySweep.set(r.sweep.id, [...(bySweep.get(r.sweep.id) ?? []), i]);
  });
  for (const [id, idx] of bySweep) {
    const keys = runs[idx[0]].sweep!.keys;
    out.push({ sweep: id, keys, members: idx, point: (i) => runs[i].sweep!.point });
  }
  // Runs outside sweeps (training runs with a config): their "swept" keys are the config keys that differ.
  const loose = runs.map((r, i) => i).filter((i) => !runs[i].sweep && runs[i].kind === 'train' && runs[i].config);
  if (loose.length >= 2) {
    const cfgs = loose.map((i) => runs[i].config!);
    const keys = [...new Set(cfgs.flatMap((c) => Object.keys(c)))].filter((k) => cfgs.some((c) => !sameValue(c[k], cfgs[0][k])));
    if (keys.length && keys.filter((k) => !REPLICATE_KEYS.includes(k)).length <= 4) {
      out.push({ sweep: null, keys, members: loose, point: (i) => Object.fromEntries(keys.map((k) => [k, runs[i].config![k]])) });
    }
  }
  for (const f of out) {
    // A point run twice (failed, then run again; or repeated): keep the last completed run.
    const byPoint = new Map<string, number>();
    for (const i of f.members) {
      const k = stableStringify(f.point(i));
      const prev = byPoint.get(k);
      if (prev === undefined || runs[i].status === 'completed' || runs[prev].status !== 'completed') byPoint.set(k, i);
    }
    const kept = new Set(byPoint.values());
    f.members = f.members.filter((i) => kept.has(i) || i === baseline);
  }
  return out.sort((a, b) => Number(b.members.includes(baseline)) - Number(a.members.includes(baseline)));
}

/**
 * For every swept key (seeds and split seeds aside) and every value of it other than the
 * baseline's: the pairs of runs at that value and at the baseline value that agree on everything
 * else they sweep, the seed included. Runs outside sweeps give studies only where they pair.
 */
export function studies(runs: CompareRun[], baseline = 0): Study[] {
  const out: Study[] = [];
  for (const f of families(runs, baseline)) {
    const studyKeys = f.keys.filter((k) => !REPLICATE_KEYS.includes(k));
    const short = shortKeys(f.keys);
    const ordered = [...f.members].sort((a, b) => (runs[a].sweep?.point_index ?? a) - (runs[b].sweep?.point_index ?? b));
    const base = f.members.includes(baseline) ? baseline : ordered[0];
    for (const key of studyKeys) {
      const b = f.point(base)[key];
      // each run's value of the key and of everything else it sweeps, as strings, once
      const valOf = new Map(ordered.map((i) => [i, stableStringify(f.point(i)[key] ?? null)]));
      const restOf = new Map(ordered.map((i) => [i, stableStringify(Object.fromEntries(Object.entries(f.point(i)).filter(([k]) => k !== key)))]));
      const bKey = stableStringify(b ?? null);
      const atBase = new Map<string, number>();
      for (const i of ordered) if (valOf.get(i) === bKey && !atBase.has(restOf.get(i)!)) atBase.set(restOf.get(i)!, i);
      const values: { key: string; value: unknown }[] = [];
      for (const i of ordered) if (!values.some((v) => v.key === valOf.get(i))) values.push({ key: valOf.get(i)!, value: f.point(i)[key] });
      for (const { key: vKey, value } of values.filter((v) => v.key !== bKey)) {
        const pairs: StudyPair[] = [];
        const unpaired: string[] = [];
        for (const i of ordered.filter((x) => valOf.get(x) === vKey)) {
          const j = atBase.get(restOf.get(i)!);
          const name = runs[i].label;
          if (j === undefined) unpaired.push(`${name}: no run with ${short[key]}=${valueText(b)} and the same other values`);
          else if (runs[i].status !== 'completed' || runs[j].status !== 'completed') {
            const bad = runs[i].status !== 'completed' ? i : j;
            unpaired.push(`${name}: ${runs[bad].label} is ${runs[bad].status}`);
          } else {
            const p = f.point(i);
            const rep = f.keys.filter((k) => k !== key && (REPLICATE_KEYS.includes(k) || studyKeys.length > 1) && k in p);
            pairs.push({ seed: rep.length ? rep.map((k) => `${short[k]}=${valueText(p[k])}`).join(', ') : `seed=${runs[i].seed ?? '?'}`, baseline: j, variant: i });
          }
        }
        const others = studyKeys.filter((k) => k !== key && new Set(pairs.map((p) => stableStringify(f.point(p.variant)[k]))).size > 1);
        if (f.sweep === null && !pairs.length) continue;
        out.push({ sweep: f.sweep, key, short: short[key], baselineValue: b, value, pairs, unpaired, others });
      }
    }
  }
  return out;
}

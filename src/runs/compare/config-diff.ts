// Which config keys differ between runs: configs flattened to dotted paths, data paths put back as
// the user wrote them, and a diff over runs of one kind (a training run and an ensemble share no
// config keys, so mixing them would mark every key as different).
import { stableStringify } from '../../util/hash.ts';

/** Keys that name or describe a run rather than change what it computes. */
export const IGNORED_KEYS = ['name', 'description'];

export const isMap = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Dotted path -> leaf value; lists are leaves (compared whole), as are empty maps. */
export function flattenConfig(config: unknown, ignore: readonly string[] = IGNORED_KEYS): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const walk = (v: unknown, path: string) => {
    if (isMap(v) && Object.keys(v).length > 0) {
      for (const [k, x] of Object.entries(v)) {
        const p = path ? `${path}.${k}` : k;
        if (!ignore.includes(p)) walk(x, p);
      }
    } else {
      out[path] = v;
    }
  };
  if (isMap(config)) walk(config, '');
  return out;
}

/**
 * Puts data paths back as the user wrote them (config.yaml holds them resolved to absolute paths,
 * which differ between machines and checkouts): the last --set/--sweep override of the key, else
 * the value in experiment.yaml, else the resolved value stays.
 */
export function pathsAsWritten(flat: Record<string, unknown>, pathKeys: readonly string[], experiment: unknown, overrides: readonly { key: string; value: unknown }[]): Record<string, unknown> {
  const out = { ...flat };
  const written = flattenConfig(experiment, []);
  for (const key of pathKeys) {
    if (!(key in out)) continue;
    const o = overrides.filter((x) => x.key === key).at(-1);
    if (o && typeof o.value === 'string') out[key] = o.value;
    else if (typeof written[key] === 'string') out[key] = written[key];
  }
  return out;
}

export interface ConfigDiffRow {
  key: string;
  /** One value per run, baseline first; undefined where the run's config lacks the key (or the run is of another kind). */
  values: unknown[];
}

/** Equal config values: same JSON (map key order aside), and set or unset alike. */
export const sameValue = (a: unknown, b: unknown): boolean => a === b || stableStringify(a ?? null) === stableStringify(b ?? null) && (a === undefined) === (b === undefined);

/**
 * Keys whose value differs between the reference run and any other; runs without a config, and
 * runs outside `include` (other kinds), are left out of the test. The reference is the first
 * included run with a config.
 */
export function configDiff(configs: (Record<string, unknown> | null)[], include: (i: number) => boolean = () => true): ConfigDiffRow[] {
  const inScope = configs.map((c, i) => (include(i) ? c : null));
  const keys: string[] = [];
  const seen = new Set<string>();
  for (const c of inScope) for (const k of Object.keys(c ?? {})) if (!seen.has(k)) {
    seen.add(k);
    keys.push(k);
  }
  const ref = inScope.findIndex((c) => c !== null);
  const rows: ConfigDiffRow[] = [];
  if (ref < 0) return rows;
  for (const key of keys) {
    const values = inScope.map((c) => c?.[key]);
    const differs = inScope.some((c, i) => i !== ref && c !== null && !sameValue(values[ref], values[i]));
    if (differs) rows.push({ key, values: configs.map((c, i) => (include(i) ? c?.[key] : undefined)) });
  }
  return rows;
}

/** Compact one-line rendering of a config value: lists and maps as flow YAML-ish text. */
export function formatValue(v: unknown): string {
  if (v === undefined) return '—';
  if (v === null) return 'null';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `[${v.map(formatValue).join(', ')}]`;
  if (isMap(v)) return `{${Object.entries(v).map(([k, x]) => `${k}: ${formatValue(x)}`).join(', ')}}`;
  return String(v);
}

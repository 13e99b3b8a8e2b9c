// Sweep ids as users type them: the full id (sw-2290b1970a04), a unique prefix of it (sw-2290,
// or 2290 without the "sw-"), as run ids are. Known sweeps are those defined in <runs>/.sweeps/
// and those the run records name.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../errors.ts';
import type { RunListing } from './read.ts';

/** Every sweep id in the runs directory, sorted: definitions in .sweeps/ and ids in run records. */
export function sweepIds(runsDir: string, listing: readonly RunListing[]): string[] {
  const ids = new Set<string>();
  const defs = join(runsDir, '.sweeps');
  if (existsSync(defs)) for (const f of readdirSync(defs)) if (f.endsWith('.json')) ids.add(f.slice(0, -5));
  for (const r of listing) if (r.run?.sweep?.id) ids.add(r.run.sweep.id);
  return [...ids].sort();
}

/** The one sweep id that `arg` names (exactly, or as a unique prefix with or without "sw-"); `label` is how the user gave it. */
export function resolveSweepId(arg: string, ids: readonly string[], runsDir: string, label = `--sweep ${arg}`): string {
  if (ids.includes(arg)) return arg;
  let hits = ids.filter((id) => id.startsWith(arg));
  if (!hits.length) hits = ids.filter((id) => id.startsWith(`sw-${arg}`));
  if (hits.length === 1) return hits[0];
  if (hits.length > 1) {
    throw new UserError(`${label} matches ${hits.length} sweeps in ${runsDir}: ${hits.slice(0, 10).join(', ')}${hits.length > 10 ? ', ...' : ''}. Give more of the sweep id.`);
  }
  const known = ids.length ? `sweeps there: ${ids.slice(-10).join(', ')}${ids.length > 10 ? ` (the last 10 of ${ids.length})` : ''}` : 'it holds no sweeps';
  throw new UserError(`${label}: no sweep id in ${runsDir} is or starts with "${arg}" (${known}). \`exp ls --runs-dir ${runsDir}\` shows each run's sweep.`);
}

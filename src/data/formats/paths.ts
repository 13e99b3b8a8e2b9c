// Image paths in an index are relative to the dataset root and must stay inside it: a metadata
// entry with '../' or an absolute path would make training read (or a cache overwrite) files
// outside the dataset, so it is refused when the index is built.
import { UserError } from '../../errors.ts';

/** Why `name` escapes a root, or null when it is a plain relative path inside it. */
export function escapeReason(name: string): string | null {
  if (name.length === 0) return 'is empty';
  if (name.includes('\0')) return 'contains a NUL byte';
  if (name.startsWith('/') || name.startsWith('\\')) return 'is an absolute path';
  if (/^[A-Za-z]:/.test(name)) return 'is an absolute (drive-letter) path';
  // Backslashes count as separators too: the same metadata may be read on Windows.
  if (name.includes('..') && name.split(/[\\/]/).some((seg) => seg === '..')) return "climbs out of the root with '..'";
  return null;
}

/** Throws a UserError naming the entry when `name` escapes the dataset root. */
export function checkInsideRoot(name: string, entry: string, source: string, root: string): void {
  const why = escapeReason(name);
  if (why) {
    throw new UserError(
      `${source}: ${entry} has file_name '${name}', which ${why}. Image paths must be relative ` +
        `to the dataset root (${root}) and stay inside it; fix the entry or remove it from the metadata.`,
    );
  }
}

/** Code-point order: the same on every machine and locale (localeCompare is not). */
export function compareIds(a: number | string, b: number | string): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'number') return -1; // numbers before strings when a level mixes both
  if (typeof b === 'number') return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

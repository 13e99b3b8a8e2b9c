// Tool and dependency versions recorded in run.json. tfjs's version is read from its package.json
// rather than by importing tfjs (only src/model imports it, and loading it costs seconds); the
// lockfile hash pins the whole dependency tree.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Versions } from './schemas.ts';
import { sha256 } from '../util/hash.ts';

const PACKAGE_ROOT = new URL('../../', import.meta.url);

function readOrNull(url: URL | string): Buffer | null {
  try {
    return readFileSync(url);
  } catch {
    return null;
  }
}

/** The installed @tensorflow/tfjs-core version, or null when it cannot be found. */
export function tfjsVersion(): string | null {
  try {
    const require = createRequire(new URL('package.json', PACKAGE_ROOT));
    const json = readFileSync(require.resolve('@tensorflow/tfjs-core/package.json'), 'utf8');
    return (JSON.parse(json) as { version?: string }).version ?? null;
  } catch {
    return null;
  }
}

export function expVersion(): string {
  const pkg = readOrNull(new URL('package.json', PACKAGE_ROOT));
  return pkg ? ((JSON.parse(pkg.toString('utf8')) as { version?: string }).version ?? 'unknown') : 'unknown';
}

let cached: Versions | undefined;

/** Versions of node, exp, tfjs and the sha256 of exp's package-lock.json (null when absent). */
export function versions(): Versions {
  if (!cached) {
    const lock = readOrNull(new URL('package-lock.json', PACKAGE_ROOT));
    cached = { node: process.version, exp: expVersion(), tfjs: tfjsVersion(), lockfile_sha256: lock ? sha256(lock) : null };
  }
  return { ...cached };
}

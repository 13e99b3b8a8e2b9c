// Data paths in an experiment are relative to the file that sets them (a parent's path to the
// parent's folder), or to the working directory when set by --set/--sweep. This resolves them to
// absolute paths in the config and reports paths that do not exist: a warning when validating
// (shipped experiments point at data users download), an error when running.
import { dirname, isAbsolute, resolve } from 'node:path';
import type { Problem } from '../errors.ts';
import type { Seg } from './schema.ts';
import { locate, formatPath, type SourceNode } from './source.ts';
import { getAtPath, setAtPath } from './overrides.ts';
import { isMap } from './source.ts';

export const PATH_KEYS: readonly Seg[][] = [
  ['data', 'train'],
  ['data', 'test'],
  ['data', 'val', 'path'],
  ['model', 'backbone', 'weights'],
];

export interface PathOptions {
  mode: 'validate' | 'run';
  cwd: string;
  exists: (absPath: string) => boolean;
}

const KAGGLE: Record<string, string> = {
  '2020': 'https://www.kaggle.com/c/herbarium-2020-fgvc7',
  '2021': 'https://www.kaggle.com/c/herbarium-2021-fgvc8',
  '2022': 'https://www.kaggle.com/c/herbarium-2022-fgvc9',
};

function hint(written: string, abs: string, format: unknown, key: string): string {
  const year = /nybg(20\d\d)/i.exec(written)?.[1] ?? /herbarium[-_]?(20\d\d)/i.exec(written)?.[1];
  if (year && KAGGLE[year]) {
    return `The Herbarium ${year} data is not part of exp: download it from ${KAGGLE[year]} (accept the competition rules first) and unpack it so that ${abs}/metadata.json exists, or point ${key} at another copy.`;
  }
  if (key === 'model.backbone.weights') return 'Import a checkpoint with `exp weights import` or set weights: null.';
  if (format === 'herbarium') return `Put a Herbarium FGVC directory (with metadata.json) there, or fix ${key}.`;
  return `Create it (exp data synth DIR makes a small synthetic dataset) or fix ${key}.`;
}

/** Resolves the path keys in `config` in place; returns what was written and the problems. */
export function resolveConfigPaths(config: unknown, source: SourceNode, opts: PathOptions): { asWritten: Record<string, string>; problems: Problem[] } {
  const asWritten: Record<string, string> = {};
  const problems: Problem[] = [];
  if (!isMap(config)) return { asWritten, problems };
  const format = getAtPath(config, ['data', 'format']);
  for (const path of PATH_KEYS) {
    const written = getAtPath(config, path);
    if (typeof written !== 'string' || written === '') continue;
    const origin = locate(source, path, 'value');
    // A file origin has an absolute path; --set/--sweep origins resolve against the working directory.
    const base = origin?.abs ? dirname(origin.abs) : opts.cwd;
    const abs = isAbsolute(written) ? written : resolve(base, written);
    const key = formatPath(path);
    asWritten[key] = written;
    setAtPath(config, path, abs);
    if (!opts.exists(abs)) {
      const relTo = isAbsolute(written) ? '' : ` (written '${written}', relative to ${origin?.abs ? 'the folder of ' + origin.file : 'the working directory'})`;
      problems.push({
        file: origin?.file, line: origin?.line, col: origin?.col, path: key,
        severity: opts.mode === 'run' ? 'error' : 'warning',
        message: `path does not exist: ${abs}${relTo}. ${hint(written, abs, format, key)}`,
      });
    }
  }
  return { asWritten, problems };
}

// The I/O edge of config loading: read the experiment file and its `extends` chain, apply
// overrides in order (chain root first, the file, a sweep point, --sweep, --set; last wins),
// validate with the pure core, resolve data paths. Returns every problem at once; throws nothing
// for user mistakes (assertValid turns problems into a UserError where a command needs a config).
import { readFileSync, existsSync } from 'node:fs';
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import { UserError, formatProblem, type Problem } from '../errors.ts';
import type { ExperimentConfig } from './types.gen.ts';
import { parseYamlText } from './yaml.ts';
import { isMap, locate, mergeLayers, type Layer, type Origin, type SourceNode } from './source.ts';
import { expandShorthands } from './normalize.ts';
import { applyOverrides, parseSetArg, type AppliedOverride, type Override } from './overrides.ts';
import { validateConfig } from './validate.ts';
import { resolveConfigPaths } from './paths.ts';

export interface LoadOptions {
  /** `--set key=value` arguments as typed (without the flag). */
  sets?: readonly string[];
  /** The point of the file's `sweep:` block being run (applied before --sweep and --set). */
  sweepPoint?: readonly Override[];
  /** The point of the command line's --sweep grid being run. */
  sweeps?: readonly Override[];
  /** 'validate' (missing data paths are warnings) or 'run' (errors). Default 'validate'. */
  mode?: 'validate' | 'run';
  /** Directory that file names in problems are relative to, and --set paths resolve against. */
  cwd?: string;
  exists?: (absPath: string) => boolean;
}

export interface LoadResult {
  /** Fully defaulted config with absolute data paths; null when there is any error. */
  config: ExperimentConfig | null;
  /** Errors and warnings (see `severity`), in file and line order. */
  problems: Problem[];
  /** The experiment file as displayed in problems. */
  file: string;
  /** Absolute paths of the files read: the root of the `extends` chain first, the file itself last. */
  files: string[];
  /** Overrides applied, in order (what run.json records). */
  overrides: AppliedOverride[];
  /** The experiment file's text as written (experiment.yaml of a run). */
  rawText: string;
  /** Data path keys ("data.train") -> the path as written, before resolution. */
  asWritten: Record<string, string>;
  /** Where every value came from. */
  source: SourceNode;
}

export function loadExperiment(path: string, opts: LoadOptions = {}): LoadResult {
  const cwd = opts.cwd ?? process.cwd();
  const display = (abs: string): string => {
    const rel = relative(cwd, abs);
    return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : abs;
  };
  const abs = resolve(cwd, path);
  const problems: Problem[] = [];
  const files: string[] = [];
  let rawText = '';

  const loadFile = (file: string, stack: string[], extendsAt?: Origin): Layer | undefined => {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      const why = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (e as Error).message;
      problems.push(extendsAt
        ? { file: extendsAt.file, line: extendsAt.line, col: extendsAt.col, path: 'extends', message: `extends: ${why}: ${display(file)}`, severity: 'error' }
        : { file: display(file), message: `cannot read the experiment file: ${why}`, severity: 'error' });
      return undefined;
    }
    if (stack.length === 0) rawText = text;
    const parsed = parseYamlText(text, { file: display(file), abs: file });
    problems.push(...parsed.problems);
    let layer = parsed.layer;
    expandShorthands(layer.value);
    if (isMap(layer.value) && 'extends' in layer.value) {
      const parentRef = layer.value.extends;
      const at = locate(layer.source, ['extends'], 'value') ?? { file: display(file) };
      // `extends` is consumed here: the resolved config has no parent.
      delete layer.value.extends;
      layer.source.children?.delete('extends');
      const problemAt = (message: string): number => problems.push({ file: at.file, line: at.line, col: at.col, path: 'extends', message, severity: 'error' });
      if (typeof parentRef !== 'string' || parentRef === '') {
        problemAt('extends must be the path of a parent experiment file, relative to this file');
      } else {
        const parent = resolve(dirname(file), parentRef);
        const chain = [...stack, file];
        if (chain.includes(parent)) {
          const cycle = [...chain.slice(chain.indexOf(parent)), parent].map(display).join(' -> ');
          problemAt(`extends cycle: ${cycle}; remove one of these extends`);
        } else if (!existsSync(parent)) {
          problemAt(`extends: file not found: ${display(parent)} (the path is relative to ${display(dirname(file)) || '.'}/)`);
        } else {
          const base = loadFile(parent, chain, at);
          if (base) layer = mergeLayers(base, layer);
        }
      }
    }
    files.push(file);
    return layer;
  };

  const empty = (extra: Partial<LoadResult> = {}): LoadResult => ({
    config: null, problems: sortProblems(problems), file: display(abs), files, overrides: [], rawText, asWritten: {}, source: {}, ...extra,
  });
  const merged = loadFile(abs, []);
  // With a YAML syntax error the document is a guess; schema messages about it would mislead.
  if (!merged || problems.some((p) => p.severity !== 'warning')) return empty();

  if (!isMap(merged.value)) {
    // Empty file or not a map: the pure core says so; overrides have nothing to apply to.
    problems.push(...validateConfig(merged.value, merged.source).errors);
    return empty();
  }
  const overrides: Override[] = [...(opts.sweepPoint ?? []), ...(opts.sweeps ?? [])];
  for (const arg of opts.sets ?? []) {
    const parsed = parseSetArg(arg);
    problems.push(...parsed.problems);
    if (parsed.override) overrides.push(parsed.override);
  }
  const { applied, problems: overrideProblems } = applyOverrides(merged, overrides);
  problems.push(...overrideProblems);
  expandShorthands(merged.value);

  const result = validateConfig(merged.value, merged.source);
  problems.push(...result.errors, ...result.warnings);
  const target = result.config ?? structuredClone(merged.value);
  const paths = resolveConfigPaths(target, merged.source, { mode: opts.mode ?? 'validate', cwd, exists: opts.exists ?? existsSync });
  problems.push(...paths.problems);
  const ok = !problems.some((p) => p.severity !== 'warning');
  return empty({ config: ok ? result.config : null, overrides: applied, asWritten: paths.asWritten, source: merged.source });
}

/** File order, then line and column; problems without a position (e.g. --set) keep their order, last. */
function sortProblems(problems: Problem[]): Problem[] {
  return problems
    .map((p, i) => ({ p, i }))
    .sort((a, b) => {
      const la = a.p.line !== undefined, lb = b.p.line !== undefined;
      if (la !== lb) return la ? -1 : 1;
      if (!la) return a.i - b.i;
      return (a.p.file ?? '').localeCompare(b.p.file ?? '') || a.p.line! - b.p.line! || (a.p.col ?? 0) - (b.p.col ?? 0) || a.i - b.i;
    })
    .map(({ p }) => p);
}

/** The config, or a UserError listing every problem (warnings included) when there is an error. */
export function assertValid(result: LoadResult): ExperimentConfig {
  const errors = result.problems.filter((p) => p.severity !== 'warning');
  if (errors.length === 0 && result.config) return result.config;
  const n = errors.length || 1;
  const lines = result.problems.map((p) => `  ${formatProblem(p)}`).join('\n');
  throw new UserError(
    `${result.file}: ${n} problem${n === 1 ? '' : 's'} in the experiment:\n${lines}\nFix ${n === 1 ? 'it' : 'them'} and check again with: exp validate ${result.file}`,
    result.problems,
  );
}

// config.yaml of a run: the fully resolved config the run used (every default filled in, data
// paths absolute), written when it started. The one place that reads it, two ways:
// - readConfigYaml: the YAML as a map, for what looks at values without acting on them (compare's
//   config diff, reproduce's data paths); it must parse, but need not match today's schema (a run
//   made by an older exp is reproduced by that exp), and ensemble runs have their own shape.
// - loadRunConfig: validated and typed like an experiment file, for the commands that train or
//   predict with it (predict, run --resume); today's code must understand every key.
import { join } from 'node:path';
import { UserError } from '../errors.ts';
import type { LoadResult } from '../config/load.ts';
import type { ExperimentConfig } from '../config/types.gen.ts';
import { parseYamlText } from '../config/yaml.ts';
import { readRecordText, RecordFileError } from './read-file.ts';

export const configFix = (dir: string): string =>
  `config.yaml is the resolved config written when the run started: restore it from a copy of the run (${join(dir, 'experiment.yaml')} holds the experiment file as written)`;

/** config.yaml as a map; undefined when the run has none. Bad YAML or not a map: a RecordFileError at file:line:col. */
export function readConfigYaml(dir: string): Record<string, unknown> | undefined {
  const file = join(dir, 'config.yaml');
  const fix = configFix(dir);
  const text = readRecordText(file, fix);
  if (text === undefined) return undefined;
  const { layer, problems } = parseYamlText(text, { file, abs: file });
  const bad = problems.find((p) => p.severity !== 'warning');
  if (bad) throw new RecordFileError(bad.line ? `${file}:${bad.line}:${bad.col ?? 1}` : file, bad.message, fix);
  const v = layer.value;
  if (!v || typeof v !== 'object' || Array.isArray(v)) {
    throw new RecordFileError(file, `holds ${Array.isArray(v) ? 'a list' : JSON.stringify(v)} instead of a map of settings`, fix);
  }
  return v as Record<string, unknown>;
}

/**
 * config.yaml of a training run, loaded and validated as an experiment file (`mode` as in
 * loadExperiment: 'run' requires the data paths to exist). The config module (and its schema
 * compiler) is imported only here, so the commands that merely read records never load it.
 */
export async function loadRunConfig(dir: string, mode: 'run' | 'validate' = 'run'): Promise<{ loaded: LoadResult; config: ExperimentConfig }> {
  const file = join(dir, 'config.yaml');
  const fix = configFix(dir);
  if (readRecordText(file, fix) === undefined) throw new RecordFileError(file, 'missing: the run records no resolved config', fix);
  const { loadExperiment } = await import('../config/load.ts');
  const loaded = loadExperiment(file, { mode });
  const errors = loaded.problems.filter((p) => p.severity !== 'warning');
  if (!errors.length && loaded.config) return { loaded, config: loaded.config };
  const n = errors.length || 1;
  throw new UserError(
    `${file}: the run's resolved config has ${n} problem${n === 1 ? '' : 's'} (above); a data path that no longer exists must be put back where the run read it, ` +
      `anything else means the file was damaged or written by another version of exp: ${fix}.`,
    loaded.problems,
  );
}

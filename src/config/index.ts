// The public API of src/config: experiment file -> validated, fully defaulted config.
export { loadExperiment, assertValid, type LoadOptions, type LoadResult } from './load.ts';
export { validateConfig, type ValidationResult } from './validate.ts';
export { applyOverrides, parseSetArg, getAtPath, setAtPath, splitKey, type Override, type AppliedOverride } from './overrides.ts';
export { configKeys, checkKeyPath, experimentSchema, SCHEMA_PATH } from './schema.ts';
export { locate, formatPath, mergeLayers, type Origin, type SourceNode, type Layer } from './source.ts';
export { suggest, unknownKeyMessage } from '../util/didyoumean.ts';
export { PATH_KEYS } from './paths.ts';
export type { ExperimentConfig, OptimizerSettings } from './types.gen.ts';

// Validators for the run-record schemas (schemas/run/*.schema.json) and the TypeScript shapes of
// what they describe. The schemas are the truth: the reader (read*.ts) validates every record file
// it opens, test/runs checks that every record the code writes validates, and record.ts validates
// each write when EXP_TEST=1 so that every stage's tests catch a record that drifts from its schema.
// The validators are compiled ahead of time (validators.gen.ts, `npm run gen`), so reading a record
// costs no schema compilation at start-up.
import { readFileSync } from 'node:fs';
import type { ErrorObject } from 'ajv';
import * as generated from './validators.gen.ts';

export type RunStatus = 'running' | 'completed' | 'failed' | 'interrupted';
export type StageStatus = RunStatus | 'skipped';

export type GitInfo =
  | { available: true; sha: string; branch: string | null; dirty: boolean; patch_sha256: string; root: string; untracked_omitted: { count: number; paths: string[] } }
  | { available: false; reason: string; sha: null; branch: null; dirty: null; patch_sha256: null; root: null };

/** source: `--set <key>`, `--sweep <key>`, or file:line:col of the sweep: block entry. */
export interface OverrideRecord { key: string; value: unknown; source: string }
export interface SweepInfo { id: string; point: Record<string, unknown>; keys: string[]; point_index?: number }
export interface StageRecord { name: string; status: StageStatus; seconds: number | null; cached: boolean }
export interface PredictionRecord { split: string; tta: number; reduce: 'logits' | 'probs'; default: boolean; path: string }
export interface EnsembleMember { id: string; identity: string; weight: number; path?: string; git_sha?: string | null; config_hash?: string }
export interface AdapterRecord { vendor: string; architecture: string; device: string; description: string; software: boolean }
export interface BackendRecord { name: string; version: string | null; deterministic: boolean; replicas?: number; adapter?: AdapterRecord }
/** data.bad_images: split -> the images left out under data.on_bad_image: skip (the first 1000 listed). */
export type BadImagesInfo = Record<string, { count: number; files: { file: string; reason: string; detail?: string }[] }>;
export interface DataInfo { fingerprint: string; counts: { train: number; [split: string]: number }; classes?: Record<string, number>; decoder?: string; bad_images?: BadImagesInfo }
export interface NormalizeInfo { mean: number[]; std: number[]; images?: number; cached?: boolean }
export interface CpuInfo { model: string | null; isa: string | null; simd: string[]; cores: number }
export interface Versions { node: string; exp: string; tfjs: string | null; lockfile_sha256: string | null; cpu?: CpuInfo }
export interface ErrorRecord { message: string; stage?: string; type?: string; /** the signal that interrupted the run */ signal?: string }

/** model/last/state.json as written (typed arrays as references into state.bin): checkpoint-state.schema.json. */
export interface CheckpointState {
  version: 1;
  epoch: number;
  in_epoch?: { step: number; loss_sums: number[]; images: number; seconds: number };
  seed: number | null;
  optimizers: { name: string; step: number; slots: Record<string, { $array: 'float32' | 'int32' | 'uint32'; offset: number; length: number }> }[];
  schedule: { type: string; epoch: number; lr: number };
  best: { metric: number; epoch: number } | null;
  ema: { decay: number } | null;
}

/** run.json */
export interface RunJson {
  schema_version: 1;
  id: string;
  name: string;
  kind: 'train' | 'ensemble';
  status: RunStatus;
  started: string;
  finished: string | null;
  error: ErrorRecord | null;
  identity: string;
  config_hash: string;
  git: GitInfo;
  seed: number | null;
  backend: BackendRecord | null;
  versions: Versions;
  data: DataInfo | null;
  normalize: NormalizeInfo | null;
  overrides: OverrideRecord[];
  sweep: SweepInfo | null;
  stages: StageRecord[];
  predictions: PredictionRecord[];
  members: EnsembleMember[] | null;
  ensemble: { method: 'logits' | 'probs'; weights: number[]; optimized: Record<string, unknown> | null } | null;
  experiment_path: string | null;
  exp_command: string[];
}

export interface LevelMetricsRecord { macro_f1: number; accuracy: number; top5: number | null; loss?: number; count?: number; [extra: string]: number | null | undefined }
/** metrics.json: split -> "tta<N>" -> level -> metrics (or a cross-level number). */
export type MetricsJson = Record<string, Record<string, Record<string, LevelMetricsRecord | number>>>;

export interface ValLevel { loss: number | null; macro_f1: number; accuracy: number; top5: number | null; [extra: string]: number | null }

/** One line of history.jsonl. */
export interface HistoryRecord {
  epoch: number;
  lr: number;
  optimizer?: string;
  train: Record<string, number>;
  train_loss: number;
  val: Record<string, ValLevel> | null;
  val_ema?: Record<string, ValLevel>;
  val_loss?: number;
  images_per_s: number;
  seconds: number;
}

/** predictions/<split>/tta<N>/index.json */
export interface PredictionIndex {
  split: string;
  ids: (string | number)[];
  labels: Record<string, number[] | null>;
  classes: Record<string, (string | number)[]>;
  tta: number;
  reduce: 'logits' | 'probs';
  dtype: 'float32' | 'float16';
  scores: 'logits' | 'log_probs';
  rows: number;
  levels: string[];
  decode?: { logit_adjust_tau: number; hierarchical_weights: number[] | null } | null;
}

export type RunSchemaName = 'run' | 'metrics' | 'history-row' | 'index' | 'per-class' | 'sweep' | 'checkpoint-state';

const SCHEMA_DIR = new URL('../../schemas/run/', import.meta.url);

/** The parsed schema file, e.g. for tests that compare its required keys with what the code writes. */
export function runSchema(name: RunSchemaName): Record<string, unknown> {
  return JSON.parse(readFileSync(new URL(`${name}.schema.json`, SCHEMA_DIR), 'utf8'));
}

/** A generated validator: true when the value matches; the reasons in `errors` when it does not. */
export type RecordValidator = ((value: unknown) => boolean) & { errors?: ErrorObject[] | null };

const VALIDATORS: Record<RunSchemaName, RecordValidator> = {
  run: generated.run,
  metrics: generated.metrics,
  'history-row': generated.history_row,
  index: generated.index,
  'per-class': generated.per_class,
  sweep: generated.sweep,
  'checkpoint-state': generated.checkpoint_state,
};

/** The validator for one run-record schema (compiled ahead of time into validators.gen.ts). */
export function validator(name: RunSchemaName): RecordValidator {
  return VALIDATORS[name];
}

export const validateRun = (x: unknown): x is RunJson => validator('run')(x);
export const validateMetrics = (x: unknown): x is MetricsJson => validator('metrics')(x);
export const validateHistoryRow = (x: unknown): x is HistoryRecord => validator('history-row')(x);
export const validateIndex = (x: unknown): x is PredictionIndex => validator('index')(x);

/** The errors of the last validation by `validator(name)`, one per line, or '' when it passed. */
export function schemaErrors(name: RunSchemaName): string {
  const errors: ErrorObject[] = validator(name).errors ?? [];
  return errors.map((e) => `${e.instancePath || '/'} ${e.message ?? ''}${e.params && 'additionalProperty' in e.params ? ` (${String(e.params.additionalProperty)})` : ''}`).join('\n');
}

/** Throws (naming the schema and every error) when `value` does not match; returns it typed. */
export function assertValid<T>(name: RunSchemaName, value: T): T {
  if (!validator(name)(value)) {
    throw new Error(`${name}.schema.json rejects the record written:\n${schemaErrors(name)}`);
  }
  return value;
}

// The run record: the one module every stage writes a run through. run.json exists from the
// first moment (status running) and is rewritten atomically at every change, so a crash, a failure
// or Ctrl-C always leaves a readable record that says what happened. Shapes (and what each field
// means): schemas/run/*.schema.json. With EXP_TEST=1 (the test runner sets it) every
// write is validated against its schema, so a stage whose records drift fails its own tests.
import { existsSync, mkdirSync, realpathSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { CHECKPOINT_SIGNALS, SIGNAL_EXIT_CODES, StorageError, UserError } from '../errors.ts';
import { appendDurable, SpaceReserve, writeAtomic, writeJsonAtomic } from '../util/fs.ts';
import { readMetricsFile, readRunJson } from './read.ts';
import { sha256 } from '../util/hash.ts';
import { gitProvenance } from './git.ts';
import { runIdentity } from './identity.ts';
import { versions } from './versions.ts';
import {
  assertValid, type BackendRecord, type DataInfo, type EnsembleMember, type GitInfo, type HistoryRecord, type MetricsJson,
  type OverrideRecord, type PredictionIndex, type PredictionRecord, type RunJson, type RunSchemaName, type SweepInfo,
} from './schemas.ts';

export interface CreateRunOptions {
  runsDir: string;
  name: string;
  kind?: 'train' | 'ensemble';
  /** The experiment file as written (null for ensembles, which have none). */
  experimentText: string | null;
  /** Path of the experiment file; recorded relative to the git root when inside the repository. */
  experimentPath?: string | null;
  resolvedConfigYaml: string;
  configHash: string;
  seed: number | null;
  overrides?: OverrideRecord[];
  sweep?: SweepInfo | null;
  members?: EnsembleMember[] | null;
  /** The exp command line, argv after `exp`. */
  argv: string[];
  /** Directory whose git repository is recorded: the experiment file's folder. */
  cwdForGit: string;
  /** Start time; tests pin it. */
  now?: Date;
}

const checking = (): boolean => process.env.EXP_TEST === '1';
function checked<T>(schema: RunSchemaName, value: T): T {
  return checking() ? assertValid(schema, value) : value;
}

const utc = (d: Date = new Date()): string => d.toISOString();

/** `YYYYMMDD-HHMMSS-<name>-<hex>`; the name is reduced to characters safe in every file system. */
export function runId(now: Date, name: string, hex: string): string {
  const t = now.toISOString(); // 2024-05-01T12:34:56.789Z
  const stamp = `${t.slice(0, 4)}${t.slice(5, 7)}${t.slice(8, 10)}-${t.slice(11, 13)}${t.slice(14, 16)}${t.slice(17, 19)}`;
  const safe = name.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[-.]+|-+$/g, '').slice(0, 64) || 'run';
  return `${stamp}-${safe}-${hex}`;
}

/**
 * Creates a fresh run directory. mkdir without `recursive` fails when the directory exists, so two
 * processes starting in the same second with the same random suffix cannot share a directory:
 * the loser draws again.
 */
export function allocateRunDir(runsDir: string, name: string, now: Date, hex: () => string = () => randomBytes(3).toString('hex')): { id: string; dir: string } {
  try {
    mkdirSync(runsDir, { recursive: true });
  } catch (err) {
    throw new UserError(`Cannot create the runs directory ${runsDir}: ${(err as Error).message}. Choose another with --runs-dir.`);
  }
  for (let attempt = 0; attempt < 1000; attempt++) {
    const id = runId(now, name, hex());
    const dir = join(runsDir, id);
    try {
      mkdirSync(dir);
      return { id, dir };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') continue;
      throw new UserError(`Cannot create a run directory in ${runsDir}: ${(err as Error).message}. Check its permissions or choose another with --runs-dir.`);
    }
  }
  throw new Error(`no free run directory name in ${runsDir} after 1000 attempts`);
}

function gitInfo(g: Awaited<ReturnType<typeof gitProvenance>>): GitInfo {
  if (!g.available) return { available: false, reason: g.reason, sha: null, branch: null, dirty: null, patch_sha256: null, root: null };
  return { available: true, sha: g.sha, branch: g.branch, dirty: g.dirty, patch_sha256: sha256(g.patch), root: g.root, untracked_omitted: g.untrackedOmitted };
}

export async function createRun(opts: CreateRunOptions): Promise<RunRecord> {
  const now = opts.now ?? new Date();
  const kind = opts.kind ?? 'train';
  // Provenance is gathered before the directory exists, so run.json's first version is complete.
  const git = await gitProvenance(opts.cwdForGit);
  const info = gitInfo(git);
  let experimentPath = opts.experimentPath ?? null;
  if (experimentPath !== null && git.available) {
    const abs = resolve(experimentPath);
    // git reports the root with symlinks resolved (/tmp -> /private/tmp on macOS)
    const rel = relative(git.root, existsSync(abs) ? realpathSync(abs) : abs);
    if (!rel.startsWith('..') && !isAbsolute(rel)) experimentPath = rel;
  }
  const { id, dir } = allocateRunDir(opts.runsDir, opts.name, now);
  const json: RunJson = {
    schema_version: 1,
    id,
    name: opts.name,
    kind,
    status: 'running',
    started: utc(now),
    finished: null,
    error: null,
    identity: runIdentity({ configHash: opts.configHash, gitSha: info.sha, patchSha256: info.patch_sha256, dataFingerprint: null }),
    config_hash: opts.configHash,
    git: info,
    seed: opts.seed,
    backend: null,
    versions: versions(),
    data: null,
    normalize: null,
    overrides: opts.overrides ?? [],
    sweep: opts.sweep ?? null,
    stages: [],
    predictions: [],
    members: kind === 'ensemble' ? (opts.members ?? []) : null,
    ensemble: null,
    experiment_path: experimentPath,
    exp_command: opts.argv,
  };
  const record = new RunRecord(resolve(dir), json);
  record.update({}); // run.json first, before any other file
  if (opts.experimentText !== null) writeAtomic(join(record.dir, 'experiment.yaml'), opts.experimentText);
  writeAtomic(join(record.dir, 'config.yaml'), opts.resolvedConfigYaml);
  writeAtomic(join(record.dir, 'git.patch'), git.available ? git.patch : '');
  return record;
}

/** Reopens an existing run for writing (resume). */
export function openRun(dir: string): RunRecord {
  return new RunRecord(resolve(dir), readRunJson(join(dir, 'run.json')));
}

type Mergeable = Record<string, unknown>;
function deepMerge(into: Mergeable, from: Mergeable): Mergeable {
  const out: Mergeable = { ...into };
  for (const [k, v] of Object.entries(from)) {
    const cur = out[k];
    out[k] = v && cur && typeof v === 'object' && typeof cur === 'object' && !Array.isArray(v) && !Array.isArray(cur) ? deepMerge(cur as Mergeable, v as Mergeable) : v;
  }
  return out;
}

export class RunRecord {
  readonly id: string;
  private state: RunJson;
  private readonly stageStart = new Map<string, number>();
  /** Space for the final run.json should the disk fill up mid-run (see finish). */
  private readonly reserve: SpaceReserve;

  constructor(readonly dir: string, json: RunJson) {
    this.id = json.id;
    this.state = json;
    this.reserve = SpaceReserve.hold(dir);
  }

  /** A copy of run.json as last written. */
  get json(): RunJson {
    return structuredClone(this.state);
  }

  get status(): RunJson['status'] {
    return this.state.status;
  }

  /** Path inside the run directory. */
  path(...parts: string[]): string {
    return join(this.dir, ...parts);
  }

  modelDir(which: 'best' | 'last'): string {
    return this.path('model', which);
  }

  predictionsDir(split: string, tta: number): string {
    return this.path('predictions', split, `tta${tta}`);
  }

  /** Shallow-merges `partial` into run.json and rewrites it atomically. */
  update(partial: Partial<Omit<RunJson, 'id' | 'schema_version'>>): void {
    const next = { ...this.state, ...partial } as RunJson;
    writeJsonAtomic(this.path('run.json'), checked('run', next));
    this.state = next;
  }

  /** Records the dataset; the identity now covers the data fingerprint too. */
  setData(data: DataInfo): void {
    const g = this.state.git;
    const identity = runIdentity({ configHash: this.state.config_hash, gitSha: g.sha, patchSha256: g.patch_sha256, dataFingerprint: data.fingerprint });
    this.update({ data, identity });
  }

  setBackend(backend: BackendRecord): void {
    this.update({ backend });
  }

  stageStarted(name: string): void {
    this.stageStart.set(name, performance.now());
    const stages = this.state.stages.filter((s) => s.name !== name);
    stages.push({ name, status: 'running', seconds: null, cached: false });
    this.update({ stages });
  }

  /** Marks a stage completed; `seconds` defaults to the time since stageStarted. */
  stageFinished(name: string, opts: { seconds?: number; cached?: boolean } = {}): void {
    this.setStage(name, 'completed', opts.seconds, opts.cached ?? false);
  }

  stageSkipped(name: string): void {
    this.setStage(name, 'skipped', 0, false);
  }

  private elapsed(name: string): number | null {
    const t = this.stageStart.get(name);
    return t === undefined ? null : (performance.now() - t) / 1000;
  }

  private setStage(name: string, status: RunJson['stages'][number]['status'], seconds: number | undefined, cached: boolean): void {
    const stages = this.state.stages.filter((s) => s.name !== name);
    const at = this.state.stages.findIndex((s) => s.name === name);
    const entry = { name, status, seconds: seconds ?? this.elapsed(name) ?? 0, cached };
    stages.splice(at < 0 ? stages.length : at, 0, entry);
    this.update({ stages });
  }

  /** Adds (or replaces) a predictions entry; a new default for a split clears the old one. */
  addPredictions(p: Omit<PredictionRecord, 'path'> & { path?: string }): void {
    const entry: PredictionRecord = { ...p, path: p.path ?? relative(this.dir, this.predictionsDir(p.split, p.tta)) };
    const rest = this.state.predictions
      .filter((x) => !(x.split === p.split && x.tta === p.tta))
      .map((x) => (p.default && x.split === p.split ? { ...x, default: false } : x));
    this.update({ predictions: [...rest, entry] });
  }

  /** Writes predictions/<split>/tta<N>/index.json (compact: it holds one id per row). */
  writePredictionIndex(index: PredictionIndex): string {
    const file = join(this.predictionsDir(index.split, index.tta), 'index.json');
    writeAtomic(file, JSON.stringify(checked('index', index)) + '\n');
    return file;
  }

  /** Appends one epoch to history.jsonl and fsyncs it: a crash keeps every finished epoch. */
  appendHistory(row: HistoryRecord): void {
    appendDurable(this.path('history.jsonl'), JSON.stringify(checked('history-row', row)) + '\n', { sync: true });
  }

  readMetrics(): MetricsJson {
    return readMetricsFile(this.dir, this.state.kind);
  }

  /** Deep-merges into metrics.json (stages add their split / TTA / level) and writes it atomically. */
  writeMetrics(metrics: MetricsJson): void {
    const merged = deepMerge(this.readMetrics(), metrics) as MetricsJson;
    writeJsonAtomic(this.path('metrics.json'), checked('metrics', merged));
  }

  /** Appends to log.txt (what the pipeline printed). */
  log(line: string): void {
    appendDurable(this.path('log.txt'), line.replace(/\n+$/, '') + '\n');
  }

  /**
   * Terminal transitions apply to a running run; they return whether they wrote anything. A run
   * that already ended and is being added to (`exp predict` on a completed run) keeps its
   * status: its training result stands, so a Ctrl-C during extra predictions must not make a
   * sweep train the point again. There only the stage that was running records the outcome.
   */
  complete(): boolean {
    if (this.state.status !== 'running') {
      this.reserve.release(); // nothing more to write: the run had ended before
      return false;
    }
    this.finish({ status: 'completed', finished: utc(), error: null });
    return true;
  }

  /**
   * The last write of a run. When the disk is full (a StorageError), the reserved space is
   * released and the write tried once more, so the record still says how the run ended.
   */
  private finish(partial: Partial<RunJson>): void {
    try {
      this.update(partial);
    } catch (e) {
      if (!(e instanceof StorageError) || !this.reserve.release()) throw e;
      this.update(partial);
    }
    this.reserve.release();
  }

  fail(error: unknown, stage?: string): boolean {
    if (this.state.status !== 'running') return this.endRunningStages('failed');
    const err = error instanceof Error ? error : new Error(String(error));
    const where = stage ?? this.runningStage();
    if (err instanceof StorageError) {
      err.noteRun(this.state.kind === 'train'
        ? `The run ${this.dir} is marked failed and keeps its last checkpoint (model/last); \`exp run --resume ${this.dir}\` continues from it once there is room.`
        : `The ensemble run ${this.dir} is marked failed; delete it and run the ensemble again once there is room.`);
    }
    this.finish({
      status: 'failed',
      finished: utc(),
      error: { message: err.message, ...(where ? { stage: where } : {}), type: err.name },
      stages: this.endStages('failed'),
    });
    return true;
  }

  interrupt(signal: string): boolean {
    if (this.state.status !== 'running') return this.endRunningStages('interrupted');
    const where = this.runningStage();
    this.finish({
      status: 'interrupted',
      finished: utc(),
      error: { message: `interrupted by ${signal}`, ...(where ? { stage: where } : {}), type: 'InterruptedError', signal },
      stages: this.endStages('interrupted'),
    });
    return true;
  }

  private runningStage(): string | undefined {
    const running = this.state.stages.filter((s) => s.status === 'running');
    return running[running.length - 1]?.name;
  }

  private endRunningStages(status: 'failed' | 'interrupted'): boolean {
    if (!this.runningStage()) {
      this.reserve.release();
      return false;
    }
    this.finish({ stages: this.endStages(status) });
    return true;
  }

  private endStages(status: 'failed' | 'interrupted'): RunJson['stages'] {
    return this.state.stages.map((s) => (s.status === 'running' ? { ...s, status, seconds: this.elapsed(s.name) ?? 0 } : s));
  }
}

// Signals. One process-wide listener per signal. The first SIGINT, SIGTERM, SIGHUP or SIGUSR2 marks every
// active record interrupted, synchronously (so the record says so whatever happens next), and
// tells each run (its AbortController), which then unwinds: the running stage stops at its next
// step, InterruptedError reaches src/cli/main.ts, and exp exits 130/143/129/140 (after SIGUSR2 or
// SIGTERM the training loop first saves model/last at that step: errors.ts CHECKPOINT_SIGNALS). Nothing here calls
// process.exit. Two ways still end the process at once, because a user who presses Ctrl-C twice,
// or waits, expects it to stop: a second signal, or a stage that has not stopped within the
// grace period (a blocking read, a stuck worker). Both re-raise the signal with its default
// action, so the shell sees the process killed by it (exit status 128 + signal number). One
// exception: a SIGUSR2 or SIGTERM after a SIGUSR2 or SIGTERM is ignored (logged), since a cluster
// may deliver both to the process (the batch script forwards its signal, the scheduler signals
// every process of the job), and dying then would lose the checkpoint being written; the grace
// period still bounds it, and SIGINT still stops it at once.
const SIGNALS = Object.keys(SIGNAL_EXIT_CODES) as NodeJS.Signals[];
/** How long an interrupted run may take to stop before the process is ended by force. */
export const DEFAULT_GRACE_MS = 30_000;
const active = new Set<RunRecord>();
const hooks = new Set<(signal: NodeJS.Signals) => void>();
let graceMs = DEFAULT_GRACE_MS;
let received: NodeJS.Signals | null = null;

function onSignal(signal: NodeJS.Signals): void {
  if (received && CHECKPOINT_SIGNALS.includes(received) && CHECKPOINT_SIGNALS.includes(signal)) {
    for (const r of active) {
      try {
        r.log(`${signal} after ${received}: already saving model/last and stopping`);
      } catch {
        // the log line is only a note
      }
    }
    return;
  }
  if (received) return killNow(signal, `second ${signal}`);
  received = signal;
  for (const r of active) {
    try {
      r.interrupt(signal); // synchronous atomic write
    } catch {
      // a full disk must not keep the process alive; the exit code still says interrupted
    }
  }
  for (const hook of hooks) {
    try {
      hook(signal);
    } catch {
      // same: unwind regardless
    }
  }
  // unref'd: it fires only if something still holds the process open after the grace period
  setTimeout(() => killNow(signal, `still running ${graceMs / 1000} s after ${signal}`), graceMs).unref();
}

function killNow(signal: NodeJS.Signals, why: string): void {
  for (const r of active) {
    try {
      r.log(`stopped at once: ${why}`);
    } catch {
      // ending regardless
    }
  }
  // Our listeners (and any other, e.g. a library's) would swallow the re-raised signal.
  for (const s of SIGNALS) process.removeAllListeners(s);
  process.kill(process.pid, signal);
}

/**
 * Until the returned function is called (when the run ends): on SIGINT, SIGTERM, SIGHUP or SIGUSR2 mark
 * `record` interrupted and call `onSignal` (e.g. abort the run's AbortController). `graceMs`
 * bounds how long the process may take to stop afterwards (default DEFAULT_GRACE_MS).
 */
export function installSignalHandlers(record: RunRecord, opts: { onSignal?: (signal: NodeJS.Signals) => void; graceMs?: number } = {}): () => void {
  if (active.size === 0) {
    received = null;
    for (const s of SIGNALS) process.on(s, onSignal);
  }
  if (opts.graceMs !== undefined) graceMs = opts.graceMs;
  active.add(record);
  if (opts.onSignal) hooks.add(opts.onSignal);
  let removed = false;
  return () => {
    if (removed) return;
    removed = true;
    active.delete(record);
    if (opts.onSignal) hooks.delete(opts.onSignal);
    // With no listener left, a signal that arrives while the process winds down has its default
    // action (the process ends), which is what a second Ctrl-C should do.
    if (active.size === 0) for (const s of SIGNALS) process.off(s, onSignal);
  };
}

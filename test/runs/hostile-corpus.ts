// A corpus of hostile run directories, made by code: one small real run (exp run on data/sample),
// then copies of it, each damaged in one way that users, crashes and full disks damage run
// directories: files empty, truncated, not JSON, of the wrong types, directories where files
// belong, .npy files with wrong headers, dtypes or lengths, ids that do not match between members,
// members from different datasets, sweep records gone bad. Each case lists the commands that read
// what it damages and what their error must name.
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readNpy, writeNpy } from '../../src/eval/npy.ts';
import { exp, SMOKE } from '../cli/helpers.ts';

export type Command = 'show' | 'ls' | 'compare' | 'ensemble' | 'predict' | 'reproduce' | 'resume' | 'point';

export interface Case {
  name: string;
  commands: Command[];
  /** Damages the copy in `dir`; returns what the error must name (the damaged file). */
  damage(dir: string): string | Promise<string>;
}

/** The damaged run's paths for one invocation: `damaged` (and `good`, a clean copy, for two-run commands). */
export interface Invocation {
  name: string;
  command: Command;
  argv: string[];
  /** stderr must contain one of these (an absolute path or the same path relative to the cwd). */
  names: string[];
}

const json = (f: string): any => JSON.parse(readFileSync(f, 'utf8'));
const writeJson = (f: string, v: unknown): void => writeFileSync(f, JSON.stringify(v, null, 2));
const edit = (f: string, fn: (v: any) => void): string => {
  const v = json(f);
  fn(v);
  writeJson(f, v);
  return f;
};
const asDir = (f: string): string => {
  rmSync(f, { recursive: true, force: true });
  mkdirSync(f);
  return f;
};
const truncate = (f: string): string => {
  const b = readFileSync(f);
  writeFileSync(f, b.subarray(0, Math.floor(b.length / 2)));
  return f;
};
const empty = (f: string): string => {
  writeFileSync(f, '');
  return f;
};

/** The default val set of the real run (tta2: SMOKE sets tta.count=2), and every set. */
const VAL = join('predictions', 'val', 'tta2');
const sets = (dir: string): string[] => ['val', 'test'].flatMap((s) => readdirSync(join(dir, 'predictions', s)).map((t) => join(dir, 'predictions', s, t)));

async function fewerRows(f: string): Promise<string> {
  const a = await readNpy(f);
  const cols = a.shape[1];
  await writeNpy(f, a.data.subarray(0, (a.shape[0] - 1) * cols), { dtype: a.dtype, cols });
  return f;
}

const ALL: Command[] = ['show', 'ls', 'compare', 'ensemble', 'predict', 'reproduce', 'resume'];
const METRICS: Command[] = ['show', 'ls', 'compare', 'reproduce', 'predict'];
const HISTORY: Command[] = ['show', 'compare', 'resume'];
const CONFIG: Command[] = ['compare', 'reproduce', 'predict', 'resume'];
const INDEX: Command[] = ['compare', 'ensemble'];

export const CASES: Case[] = [
  // run.json: every command starts here
  { name: 'run.json empty', commands: ALL, damage: (d) => empty(join(d, 'run.json')) },
  { name: 'run.json truncated', commands: ALL, damage: (d) => truncate(join(d, 'run.json')) },
  { name: 'run.json not JSON', commands: ALL, damage: (d) => (writeFileSync(join(d, 'run.json'), readFileSync(join(d, 'run.json'), 'utf8').replace('"status"', "'status'")), join(d, 'run.json')) },
  { name: 'run.json a directory', commands: ALL, damage: (d) => asDir(join(d, 'run.json')) },
  { name: 'run.json predictions of the wrong type', commands: ALL, damage: (d) => edit(join(d, 'run.json'), (r) => (r.predictions = 'all')) },
  { name: 'run.json data counts of the wrong type', commands: ALL, damage: (d) => edit(join(d, 'run.json'), (r) => (r.data.counts.train = 'many')) },
  { name: 'run.json status unknown', commands: ALL, damage: (d) => edit(join(d, 'run.json'), (r) => (r.status = 'done')) },
  { name: 'run.json of a newer layout', commands: ALL, damage: (d) => edit(join(d, 'run.json'), (r) => (r.schema_version = 2)) },
  { name: 'run.json missing', commands: ['show', 'ls', 'compare', 'ensemble', 'predict', 'reproduce', 'resume'], damage: (d) => (rmSync(join(d, 'run.json')), d) },
  // metrics.json
  { name: 'metrics.json empty', commands: METRICS, damage: (d) => empty(join(d, 'metrics.json')) },
  { name: 'metrics.json truncated', commands: METRICS, damage: (d) => truncate(join(d, 'metrics.json')) },
  { name: 'metrics.json macro_f1 a string', commands: METRICS, damage: (d) => edit(join(d, 'metrics.json'), (m) => (m.val.tta2.species.macro_f1 = '0.5')) },
  { name: 'metrics.json a list', commands: METRICS, damage: (d) => (writeJson(join(d, 'metrics.json'), []), join(d, 'metrics.json')) },
  { name: 'metrics.json a directory', commands: METRICS, damage: (d) => asDir(join(d, 'metrics.json')) },
  // history.jsonl: a torn LAST line is not an error (test/runs/read-file.test.ts), a bad middle one is
  {
    name: 'history.jsonl damaged in the middle', commands: HISTORY, damage: (d) => {
      const f = join(d, 'history.jsonl');
      const lines = readFileSync(f, 'utf8').split('\n');
      lines[0] = lines[0].slice(0, 20);
      writeFileSync(f, lines.join('\n'));
      return `${f}:1`;
    },
  },
  {
    name: 'history.jsonl row of the wrong type', commands: HISTORY, damage: (d) => {
      const f = join(d, 'history.jsonl');
      const rows = readFileSync(f, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      rows[1].train_loss = 'low';
      writeFileSync(f, rows.map((r) => JSON.stringify(r) + '\n').join(''));
      return `${f}:2`;
    },
  },
  { name: 'history.jsonl a directory', commands: HISTORY, damage: (d) => asDir(join(d, 'history.jsonl')) },
  // config.yaml
  { name: 'config.yaml not YAML', commands: CONFIG, damage: (d) => (writeFileSync(join(d, 'config.yaml'), readFileSync(join(d, 'config.yaml'), 'utf8').replace(/\n {2}/, '\n\t ')), join(d, 'config.yaml')) },
  { name: 'config.yaml a list', commands: CONFIG, damage: (d) => (writeFileSync(join(d, 'config.yaml'), '- a\n- b\n'), join(d, 'config.yaml')) },
  { name: 'config.yaml empty', commands: CONFIG, damage: (d) => empty(join(d, 'config.yaml')) },
  { name: 'config.yaml a directory', commands: CONFIG, damage: (d) => asDir(join(d, 'config.yaml')) },
  // compare and reproduce read config.yaml without today's schema (see src/runs/read-config.ts)
  // checkpoints: model/last is what a resume continues from, model/best what exp predict reads
  { name: 'model/last/state.json truncated', commands: ['resume'], damage: (d) => truncate(join(d, 'model', 'last', 'state.json')) },
  { name: 'model/last/state.json of the wrong types', commands: ['resume'], damage: (d) => edit(join(d, 'model', 'last', 'state.json'), (st) => (st.epoch = 'two')) },
  { name: 'model/last/state.bin shorter than state.json says', commands: ['resume'], damage: (d) => truncate(join(d, 'model', 'last', 'state.bin')) },
  { name: 'model/last/model.json truncated', commands: ['resume'], damage: (d) => (truncate(join(d, 'model', 'last', 'model.json')), join(d, 'model', 'last')) },
  { name: 'model/best/model.json not a model', commands: ['predict'], damage: (d) => (writeJson(join(d, 'model', 'best', 'model.json'), { weightsManifest: 'none' }), join(d, 'model', 'best')) },
  { name: 'model/best/weights.bin truncated', commands: ['predict'], damage: (d) => (truncate(join(d, 'model', 'best', 'weights.bin')), join(d, 'model', 'best')) },
  { name: 'config.yaml values of the wrong type', commands: ['predict', 'resume'], damage: (d) => (writeFileSync(join(d, 'config.yaml'), readFileSync(join(d, 'config.yaml'), 'utf8').replace(/epochs: \d+/, 'epochs: many')), join(d, 'config.yaml')) },
  // index.json of the default val predictions
  { name: 'index.json empty', commands: INDEX, damage: (d) => empty(join(d, VAL, 'index.json')) },
  { name: 'index.json truncated', commands: INDEX, damage: (d) => truncate(join(d, VAL, 'index.json')) },
  { name: 'index.json levels a string', commands: INDEX, damage: (d) => edit(join(d, VAL, 'index.json'), (i) => (i.levels = 'species')) },
  { name: 'index.json fewer ids than rows', commands: INDEX, damage: (d) => edit(join(d, VAL, 'index.json'), (i) => i.ids.pop()) },
  { name: 'index.json a label outside the classes', commands: INDEX, damage: (d) => edit(join(d, VAL, 'index.json'), (i) => (i.labels.species[3] = 99)) },
  { name: 'index.json of another split', commands: INDEX, damage: (d) => (cpSync(join(d, 'predictions', 'test', 'tta2', 'index.json'), join(d, VAL, 'index.json')), join(d, VAL, 'index.json')) },
  { name: 'index.json a directory', commands: INDEX, damage: (d) => asDir(join(d, VAL, 'index.json')) },
  { name: 'index.json missing', commands: INDEX, damage: (d) => (rmSync(join(d, VAL, 'index.json')), join(d, VAL, 'index.json')) },
  // .npy arrays beside it
  { name: 'top5.npy truncated', commands: INDEX, damage: (d) => truncate(join(d, VAL, 'species.top5.npy')) },
  { name: 'top5.npy not a .npy file', commands: INDEX, damage: (d) => (writeFileSync(join(d, VAL, 'species.top5.npy'), 'PK\x03\x04 not numpy at all'), join(d, VAL, 'species.top5.npy')) },
  { name: 'top5.npy one row short', commands: INDEX, damage: (d) => fewerRows(join(d, VAL, 'species.top5.npy')) },
  {
    name: 'top5.npy naming a class that does not exist', commands: INDEX, damage: (d) => {
      const f = join(d, VAL, 'species.top5.npy');
      const b = readFileSync(f);
      b.writeInt32LE(999, b.length - 4); // the last row's last column
      writeFileSync(f, b);
      return f;
    },
  },
  { name: 'scores .npy one row short', commands: ['ensemble'], damage: (d) => fewerRows(join(d, VAL, 'species.npy')) },
  {
    name: 'scores .npy float16 where index.json says float32', commands: ['ensemble'], damage: (d) => {
      const f = join(d, VAL, 'species.npy');
      return readNpy(f).then(async (a) => {
        await writeNpy(f, a.data as Float32Array, { dtype: 'float16', cols: a.shape[1] });
        return f;
      });
    },
  },
  { name: 'scores .npy a directory', commands: ['ensemble'], damage: (d) => asDir(join(d, VAL, 'genus.npy')) },
  { name: 'scores .npy missing', commands: ['ensemble'], damage: (d) => (rmSync(join(d, VAL, 'family.npy')), join(d, VAL, 'family.npy')) },
  // members that do not belong together
  {
    name: 'ids that do not match the other member', commands: ['ensemble'], damage: (d) => {
      for (const s of sets(d).filter((x) => x.includes(`${join('predictions', 'val')}`))) edit(join(s, 'index.json'), (i) => (i.ids[0] = 'not-in-the-other-run'));
      return join(d, VAL, 'index.json');
    },
  },
  {
    name: 'labels that disagree with the other member', commands: ['ensemble'], damage: (d) => {
      for (const s of sets(d).filter((x) => x.includes(`${join('predictions', 'val')}`))) edit(join(s, 'index.json'), (i) => (i.labels.species[0] = (i.labels.species[0] + 1) % i.classes.species.length));
      return join(d, VAL, 'index.json');
    },
  },
  {
    // another dataset: other class ids (and data fingerprint) in the same shapes
    name: 'a member from another dataset', commands: ['ensemble', 'compare'], damage: (d) => {
      for (const s of sets(d)) edit(join(s, 'index.json'), (i) => (i.classes.species = i.classes.species.map((c: number) => c + 1000)));
      edit(join(d, 'run.json'), (r) => (r.data.fingerprint = 'another-dataset'));
      return join(d, VAL, 'index.json');
    },
  },
];

/** Sweep records (runs/.sweeps/<id>.json), read by `exp run --point`. */
export const SWEEP_ID = 'sw-0123456789ab';
export const SWEEP_CASES: { name: string; text: string }[] = [
  { name: 'sweep record empty', text: '' },
  { name: 'sweep record truncated', text: '{"schema_version": 1, "id": "sw-0123456789ab", "poi' },
  { name: 'sweep record of the wrong types', text: JSON.stringify({ schema_version: 1, id: SWEEP_ID, created: 'yesterday', experiment: 'x.yaml', cwd: '/', sets: [], base_config_hash: 'a'.repeat(64), keys: ['seed'], points: 'all' }) },
];

export interface Corpus {
  /** The real run every case copies. */
  base: string;
  root: string;
}

/** Makes the real run (a few seconds of training on data/sample, val and test predictions). */
export async function makeCorpus(): Promise<Corpus> {
  const root = mkdtempSync(join(tmpdir(), 'exp-hostile-'));
  const runs = join(root, 'base');
  const r = await exp(['run', 'experiments/quickstart.yaml', ...SMOKE, '--set', 'train.epochs=2', '--runs-dir', runs, '--name', 'corpus', '--backend', 'wasm', '--quiet']);
  if (r.code !== 0) throw new Error(`the corpus run failed:\n${r.stderr}`);
  const [id] = readdirSync(runs);
  return { base: join(runs, id), root };
}

let copies = 0;

/** A copy of the base run in `runsDir` under a fresh id; `status` rewrites how it ended. */
export function copyRun(c: Corpus, runsDir: string, label: string, status: 'completed' | 'interrupted' = 'completed'): string {
  const base = json(join(c.base, 'run.json'));
  const id = `${base.id.slice(0, 15)}-${label}-${(++copies).toString(16).padStart(6, '0')}`;
  const dir = join(runsDir, id);
  cpSync(c.base, dir, { recursive: true });
  edit(join(dir, 'run.json'), (r) => {
    r.id = id;
    if (status === 'interrupted') {
      r.status = 'interrupted';
      r.error = { message: 'interrupted by SIGINT', stage: 'train', type: 'InterruptedError' };
    }
  });
  return dir;
}

/**
 * Every (case, command) pair of the corpus as command lines: each case gets its own runs
 * directory holding a clean copy (the first member / baseline) and the damaged copy.
 */
export async function invocations(c: Corpus): Promise<Invocation[]> {
  const out: Invocation[] = [];
  for (const [n, k] of CASES.entries()) {
    const runs = join(c.root, `case-${n}`);
    const good = copyRun(c, runs, 'good');
    const bad = copyRun(c, runs, 'damaged');
    const names = [await k.damage(bad)];
    const resumable = k.commands.includes('resume') ? copyRun(c, runs, 'stopped', 'interrupted') : null;
    const resumeNames = resumable ? [await k.damage(resumable)] : [];
    const ens = join(c.root, `ensembles-${n}`);
    const argv: Record<Command, string[]> = {
      show: ['show', bad, '--runs-dir', runs],
      ls: ['ls', '--runs-dir', runs],
      compare: ['compare', good, bad, '--runs-dir', runs],
      ensemble: ['ensemble', good, bad, '--logits', '--out', ens, '--runs-dir', runs],
      predict: ['predict', bad, '--backend', 'wasm'],
      reproduce: ['reproduce', bad, '--runs-dir', runs],
      resume: ['run', '--resume', resumable ?? bad, '--runs-dir', runs, '--quiet', '--backend', 'wasm'],
      point: [],
    };
    for (const command of k.commands) {
      // a cross-run mismatch may be told by run id (compare pairs runs, not files)
      const extra = k.name.startsWith('a member from another dataset') ? [JSON.parse(readFileSync(join(bad, 'run.json'), 'utf8')).id] : [];
      out.push({ name: k.name, command, argv: argv[command], names: [...(command === 'resume' ? resumeNames : names), ...extra] });
    }
  }
  for (const [n, s] of SWEEP_CASES.entries()) {
    const runs = join(c.root, `sweep-${n}`);
    mkdirSync(join(runs, '.sweeps'), { recursive: true });
    const file = join(runs, '.sweeps', `${SWEEP_ID}.json`);
    writeFileSync(file, s.text);
    out.push({ name: s.name, command: 'point', argv: ['run', '--point', `${SWEEP_ID}/0`, '--runs-dir', runs, '--quiet'], names: [file] });
  }
  return out;
}

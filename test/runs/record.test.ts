import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { allocateRunDir, createRun, openRun } from '../../src/runs/record.ts';
import { runIdentity } from '../../src/runs/identity.ts';
import { type PredictionIndex, type RunJson, runSchema, schemaErrors, validateHistoryRow, validateIndex, validateMetrics, validateRun } from '../../src/runs/schemas.ts';
import { sha256 } from '../../src/util/hash.ts';
import { CONFIG_HASH, makeRepo, newRun, runOptions, tempDir, writeFiles } from './helpers.ts';

function readRunJson(dir: string): RunJson {
  const json: unknown = JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8'));
  assert.ok(validateRun(json), `run.json does not match run.schema.json:\n${schemaErrors('run')}`);
  return json;
}

/** Every file under dir, recursively, relative names. */
function allFiles(dir: string, prefix = ''): string[] {
  return readdirSync(dir).flatMap((n) => (statSync(join(dir, n)).isDirectory() ? allFiles(join(dir, n), `${prefix}${n}/`) : [`${prefix}${n}`]));
}

const ROW = {
  epoch: 1, lr: 3e-4, train: { species: 2.5, genus: 1.5 }, train_loss: 5.25,
  val: { species: { loss: 2.4, macro_f1: 0.1, accuracy: 0.2, top5: 0.4 }, genus: { loss: 1.4, macro_f1: 0.3, accuracy: 0.4, top5: null } },
  images_per_s: 120.5, seconds: 33.1,
};

test('a new run records every field, schema-valid, with the files of a run record', async (t) => {
  const root = tempDir(t);
  const sha = makeRepo(join(root, 'repo'), { 'experiments/focal-hier.yaml': 'name: focal-hier\n' });
  const runsDir = join(root, 'runs');
  const record = await newRun(runsDir, join(root, 'repo', 'experiments'), {
    experimentPath: join(root, 'repo', 'experiments', 'focal-hier.yaml'),
    now: new Date('2024-05-01T12:34:56.789Z'),
  });
  assert.match(record.id, /^20240501-123456-focal-hier-[0-9a-f]{6}$/);
  const json = readRunJson(record.dir);
  // the code writes exactly the fields the schema declares, all of them
  const schema = runSchema('run') as { required: string[]; properties: Record<string, unknown> };
  assert.deepEqual(Object.keys(json).sort(), [...schema.required].sort());
  assert.deepEqual(Object.keys(schema.properties).sort(), [...schema.required].sort());
  assert.equal(json.status, 'running');
  assert.equal(json.started, '2024-05-01T12:34:56.789Z');
  assert.equal(json.finished, null);
  assert.equal(json.error, null);
  assert.equal(json.kind, 'train');
  assert.equal(json.seed, 139);
  assert.equal(json.config_hash, CONFIG_HASH);
  assert.deepEqual(json.git, {
    available: true, sha, branch: 'main', dirty: false, patch_sha256: sha256(''),
    root: join(root, 'repo'), untracked_omitted: { count: 0, paths: [] },
  });
  assert.equal(json.identity, runIdentity({ configHash: CONFIG_HASH, gitSha: sha, patchSha256: sha256(''), dataFingerprint: null }));
  assert.equal(json.experiment_path, 'experiments/focal-hier.yaml');
  assert.deepEqual(json.overrides, [{ key: 'train.epochs', value: 3, source: '--set train.epochs' }]);
  assert.deepEqual(json.exp_command, ['run', 'focal-hier.yaml', '--set', 'train.epochs=3']);
  assert.equal(json.versions.node, process.version);
  assert.match(json.versions.exp, /^\d+\.\d+\.\d+/);
  assert.deepEqual([json.backend, json.data, json.normalize, json.sweep, json.members, json.ensemble], [null, null, null, null, null, null]);
  assert.deepEqual(readdirSync(record.dir).sort(), ['config.yaml', 'experiment.yaml', 'git.patch', 'run.json']);
  assert.equal(readFileSync(record.path('experiment.yaml'), 'utf8'), '# as written\nname: focal-hier\nseed: 139\n');
  assert.equal(readFileSync(record.path('config.yaml'), 'utf8'), 'name: focal-hier\nseed: 139\ntrain:\n  epochs: 3\n');
  assert.equal(readFileSync(record.path('git.patch'), 'utf8'), '');
});

test('running -> completed: stages, data, backend, predictions, history and metrics all validate', async (t) => {
  const root = tempDir(t);
  const record = await newRun(join(root, 'runs'), root);
  const before = record.json.identity;

  record.stageStarted('index');
  record.setData({ fingerprint: 'f'.repeat(64), counts: { train: 80, val: 20, test: 10 }, classes: { species: 5 } });
  record.stageFinished('index', { seconds: 1.5, cached: true });
  let json = readRunJson(record.dir);
  assert.deepEqual(json.stages, [{ name: 'index', status: 'completed', seconds: 1.5, cached: true }]);
  assert.deepEqual(json.data, { fingerprint: 'f'.repeat(64), counts: { train: 80, val: 20, test: 10 }, classes: { species: 5 } });
  assert.notEqual(json.identity, before, 'the identity covers the data fingerprint once known');
  assert.equal(json.identity, runIdentity({ configHash: CONFIG_HASH, gitSha: null, patchSha256: null, dataFingerprint: 'f'.repeat(64) }));

  record.stageStarted('train');
  record.setBackend({ name: 'wasm', version: '4.22.0', deterministic: true });
  record.update({ normalize: { mean: [0.7, 0.68, 0.6], std: [0.2, 0.21, 0.22], images: 80, cached: false } });
  assert.equal(readRunJson(record.dir).stages[1].status, 'running');
  record.appendHistory(ROW);
  record.appendHistory({ ...ROW, epoch: 2, optimizer: 'sgd', val: null, val_ema: { species: { loss: null, macro_f1: 0.2, accuracy: 0.3, top5: 0.5 } } });
  record.stageFinished('train');
  record.writeMetrics({ val: { tta1: { species: { macro_f1: 0.1, accuracy: 0.2, top5: 0.4 } } } });
  record.writeMetrics({ val: { tta4: { species: { macro_f1: 0.15, accuracy: 0.25, top5: 0.5 }, hierarchy_consistency: 0.9 } } });
  record.addPredictions({ split: 'val', tta: 1, reduce: 'logits', default: true });
  record.addPredictions({ split: 'val', tta: 4, reduce: 'logits', default: true });
  record.log('epoch 1: loss 5.25\n');
  assert.equal(record.complete(), true);

  json = readRunJson(record.dir);
  assert.equal(json.status, 'completed');
  assert.ok(json.finished !== null && json.finished >= json.started);
  assert.equal(json.error, null);
  assert.deepEqual(json.backend, { name: 'wasm', version: '4.22.0', deterministic: true });
  const stages = json.stages;
  assert.deepEqual(stages.map((s) => [s.name, s.status, s.cached]), [['index', 'completed', true], ['train', 'completed', false]]);
  assert.ok(stages[1].seconds !== null && stages[1].seconds >= 0);
  assert.deepEqual(json.predictions, [
    { split: 'val', tta: 1, reduce: 'logits', default: false, path: join('predictions', 'val', 'tta1') },
    { split: 'val', tta: 4, reduce: 'logits', default: true, path: join('predictions', 'val', 'tta4') },
  ]);
  const rows = readFileSync(record.path('history.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(rows.length, 2);
  for (const row of rows) assert.ok(validateHistoryRow(row), schemaErrors('history-row'));
  const metrics = JSON.parse(readFileSync(record.path('metrics.json'), 'utf8'));
  assert.ok(validateMetrics(metrics), schemaErrors('metrics'));
  assert.deepEqual(Object.keys(metrics.val), ['tta1', 'tta4'], 'metrics merge, not replace');
  assert.equal(readFileSync(record.path('log.txt'), 'utf8'), 'epoch 1: loss 5.25\n');
  assert.equal(record.modelDir('best'), join(record.dir, 'model', 'best'));
  assert.equal(record.predictionsDir('test', 4), join(record.dir, 'predictions', 'test', 'tta4'));
  assert.equal(record.fail(new Error('late')), false, 'a finished run keeps its status');
  assert.equal(readRunJson(record.dir).status, 'completed');
});

test('running -> failed records the error, its stage and the stage status', async (t) => {
  const root = tempDir(t);
  const record = await newRun(join(root, 'runs'), root);
  record.stageStarted('index');
  record.stageFinished('index', { seconds: 0.2 });
  record.stageStarted('train');
  record.fail(new RangeError('loss is NaN at epoch 3'));
  const json = readRunJson(record.dir);
  assert.equal(json.status, 'failed');
  assert.deepEqual(json.error, { message: 'loss is NaN at epoch 3', stage: 'train', type: 'RangeError' });
  assert.ok(typeof json.finished === 'string');
  assert.deepEqual(json.stages.map((s) => s.status), ['completed', 'failed']);

  const other = await newRun(join(root, 'runs'), root);
  other.fail('disk full', 'predict:val');
  assert.deepEqual(readRunJson(other.dir).error, { message: 'disk full', stage: 'predict:val', type: 'Error' });
});

function holdRun(runsDir: string, cwd: string, signal: NodeJS.Signals, mode = 'unwind', signals = 1): Promise<{ code: number | null; signal: NodeJS.Signals | null; dir: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'fixtures', 'hold-run.ts'), runsDir, cwd, mode], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let dir = '';
    child.stderr.on('data', (d) => (err += d));
    child.stdout.on('data', (d) => {
      out += d;
      if (!dir && out.includes('\n')) {
        dir = out.split('\n')[0];
        child.kill(signal);
        // the second one once the first has been handled (the record says interrupted)
        if (signals > 1) {
          const again = setInterval(() => {
            if (readRunJson(dir).status !== 'interrupted') return;
            clearInterval(again);
            child.kill(signal);
          }, 20);
        }
      }
    });
    child.on('error', reject);
    child.on('exit', (code, sig) => (dir ? resolve({ code, signal: sig, dir }) : reject(new Error(`child exited ${code} before creating a run:\n${err}`))));
  });
}

function assertInterrupted(dir: string, sig: string): void {
  const json = readRunJson(dir);
  assert.equal(json.status, 'interrupted');
  assert.deepEqual(json.error, { message: `interrupted by ${sig}`, stage: 'train', type: 'InterruptedError', signal: sig });
  assert.ok(typeof json.finished === 'string');
  assert.deepEqual(json.stages.map((s) => [s.name, s.status]), [['train', 'interrupted']]);
}

test('running -> interrupted: a real process sent SIGINT, SIGTERM or SIGHUP leaves an interrupted record and exits 130/143/129 by unwinding', async (t) => {
  const root = tempDir(t);
  const [int, term, hup] = await Promise.all([
    holdRun(join(root, 'a'), root, 'SIGINT'), holdRun(join(root, 'b'), root, 'SIGTERM'), holdRun(join(root, 'c'), root, 'SIGHUP'),
  ]);
  assert.deepEqual([int.code, term.code, hup.code], [130, 143, 129]);
  for (const [r, sig] of [[int, 'SIGINT'], [term, 'SIGTERM'], [hup, 'SIGHUP']] as const) assertInterrupted(r.dir, sig);
});

test('a stage that ignores the interruption is ended after the grace period; a second Ctrl-C ends it at once', { timeout: 60_000 }, async (t) => {
  const root = tempDir(t);
  const [stuck, twice] = await Promise.all([holdRun(join(root, 'a'), root, 'SIGINT', 'stuck'), holdRun(join(root, 'b'), root, 'SIGINT', 'twice', 2)]);
  // killed by the re-raised signal: a shell reports 130, as for any job stopped by Ctrl-C
  assert.deepEqual([stuck.code, stuck.signal], [null, 'SIGINT']);
  assert.deepEqual([twice.code, twice.signal], [null, 'SIGINT']);
  for (const r of [stuck, twice]) assertInterrupted(r.dir, 'SIGINT');
  assert.match(readFileSync(join(stuck.dir, 'log.txt'), 'utf8'), /stopped at once: still running 0\.3 s after SIGINT/);
  assert.match(readFileSync(join(twice.dir, 'log.txt'), 'utf8'), /stopped at once: second SIGINT/);
});

test('a second SIGUSR2 or SIGTERM while the checkpoint is written is ignored (a cluster may send both); the run ends 140/143', async (t) => {
  const root = tempDir(t);
  const [usr2, term] = await Promise.all([holdRun(join(root, 'a'), root, 'SIGUSR2', 'saving', 2), holdRun(join(root, 'b'), root, 'SIGTERM', 'saving', 2)]);
  assert.deepEqual([usr2.code, term.code], [140, 143]);
  for (const [r, sig] of [[usr2, 'SIGUSR2'], [term, 'SIGTERM']] as const) {
    assertInterrupted(r.dir, sig);
    assert.match(readFileSync(join(r.dir, 'log.txt'), 'utf8'), new RegExp(`${sig} after ${sig}: already saving model/last and stopping`));
  }
});

test('a finished run being added to keeps its status: only the running stage records a failure or an interruption', async (t) => {
  const root = tempDir(t);
  const record = await newRun(join(root, 'runs'), root);
  record.stageStarted('train');
  record.stageFinished('train', { seconds: 3 });
  record.complete();
  const finished = readRunJson(record.dir).finished;
  record.stageStarted('predict:val');
  assert.equal(record.interrupt('SIGINT'), true);
  let json = readRunJson(record.dir);
  assert.deepEqual([json.status, json.error, json.finished], ['completed', null, finished]);
  assert.deepEqual(json.stages.map((s) => [s.name, s.status]), [['train', 'completed'], ['predict:val', 'interrupted']]);
  record.stageStarted('predict:test');
  assert.equal(record.fail(new Error('disk full')), true);
  json = readRunJson(record.dir);
  assert.equal(json.status, 'completed');
  assert.deepEqual(json.stages.map((s) => s.status), ['completed', 'interrupted', 'failed']);
  assert.equal(record.interrupt('SIGINT'), false, 'nothing running: nothing to mark');
});

test('two runs started in the same second get different directories', async (t) => {
  const root = tempDir(t);
  const now = new Date('2024-05-01T00:00:00Z');
  const records = await Promise.all(Array.from({ length: 8 }, () => newRun(join(root, 'runs'), root, { now })));
  assert.equal(new Set(records.map((r) => r.dir)).size, 8);
  for (const r of records) assert.equal(readRunJson(r.dir).id, r.id);

  // and when the random suffix itself collides, the second mkdir fails and a new suffix is drawn
  const hexes = ['abcdef', 'abcdef', '012345'];
  const a = allocateRunDir(join(root, 'collide'), 'x', now, () => hexes.shift()!);
  const b = allocateRunDir(join(root, 'collide'), 'x', now, () => hexes.shift()!);
  assert.equal(a.id, '20240501-000000-x-abcdef');
  assert.equal(b.id, '20240501-000000-x-012345');
});

test('run names unsafe in paths are reduced to safe characters', async (t) => {
  const root = tempDir(t);
  const r = await newRun(join(root, 'runs'), root, { name: '../we ird/name' });
  assert.match(r.id, /^\d{8}-\d{6}-we-ird-name-[0-9a-f]{6}$/);
  assert.equal(readRunJson(r.dir).name, '../we ird/name');
});

test('writes are atomic: no temporary files remain after a full run', async (t) => {
  const root = tempDir(t);
  const record = await newRun(join(root, 'runs'), root);
  for (let i = 0; i < 5; i++) {
    record.stageStarted(`s${i}`);
    record.stageFinished(`s${i}`);
    record.writeMetrics({ val: { [`tta${i + 1}`]: { species: { macro_f1: 0.5, accuracy: 0.5, top5: 1 } } } });
  }
  record.complete();
  const files = allFiles(record.dir);
  assert.deepEqual(files.filter((f) => f.includes('.tmp')), []);
  assert.deepEqual(files.sort(), ['config.yaml', 'experiment.yaml', 'git.patch', 'metrics.json', 'run.json']);
});

test('with EXP_TEST=1 a record that breaks its schema is refused and run.json keeps its last valid state', async (t) => {
  assert.equal(process.env.EXP_TEST, '1', 'scripts/test.js sets EXP_TEST=1');
  const root = tempDir(t);
  const record = await newRun(join(root, 'runs'), root);
  assert.throws(() => record.update({ status: 'done' as never }), /run\.schema\.json rejects/);
  assert.throws(() => record.update({ status: 'completed' }), /finished/, 'completed without a finish time');
  assert.equal(readRunJson(record.dir).status, 'running');
  assert.throws(() => record.appendHistory({ ...ROW, epoch: 0 }), /history-row\.schema\.json rejects/);
  assert.equal(existsSync(record.path('history.jsonl')), false);
  assert.throws(() => record.writeMetrics({ val: { four: {} } }), /metrics\.schema\.json rejects/);
});

test('an ensemble run records its members and needs no experiment file', async (t) => {
  const root = tempDir(t);
  const members = [{ id: '20240501-000000-a-aaaaaa', identity: 'c'.repeat(64), weight: 0.5, path: 'runs/a' }, { id: '20240501-000000-b-bbbbbb', identity: 'd'.repeat(64), weight: 0.5 }];
  const record = await newRun(join(root, 'runs'), root, { kind: 'ensemble', name: 'blend', experimentText: null, experimentPath: null, seed: null, members });
  const json = readRunJson(record.dir);
  assert.deepEqual(json.members, members);
  assert.equal(json.kind, 'ensemble');
  assert.equal(existsSync(record.path('experiment.yaml')), false);
  record.complete();
  readRunJson(record.dir);
});

test('openRun reopens a record for resume; a directory without run.json is refused', async (t) => {
  const root = tempDir(t);
  const record = await newRun(join(root, 'runs'), root);
  record.interrupt('SIGINT');
  const again = openRun(record.dir);
  assert.equal(again.id, record.id);
  again.update({ status: 'running', finished: null, error: null });
  again.complete();
  assert.equal(readRunJson(record.dir).status, 'completed');
  assert.throws(() => openRun(root), /is not a run directory: no run\.json/);
});

test('a prediction index is written to predictions/<split>/tta<N>/, schema-valid; a bad one is rejected', async (t) => {
  const root = tempDir(t);
  const record = await newRun(join(root, 'runs'), root);
  const index: PredictionIndex = {
    split: 'val', ids: [11, 12, 'x13'], labels: { species: [0, 2, 1], genus: null }, classes: { species: [101, 7, 'Quercus alba'], genus: ['Quercus'] },
    tta: 4, reduce: 'logits', dtype: 'float16', scores: 'logits', rows: 3, levels: ['species', 'genus'],
  };
  const file = record.writePredictionIndex(index);
  assert.equal(file, join(record.dir, 'predictions', 'val', 'tta4', 'index.json'));
  const written: unknown = JSON.parse(readFileSync(file, 'utf8'));
  assert.ok(validateIndex(written), schemaErrors('index'));
  assert.deepEqual(written, index);
  assert.throws(() => record.writePredictionIndex({ ...index, dtype: 'float64' as never }), /index\.schema\.json rejects/);
  assert.equal(validateIndex({ ...index, scores: 'probs' }), false);
  assert.equal(validateIndex({ ...index, labels: { species: [-1] } }), false);
});

test('a dirty repository: git.patch holds the diff and run.json its hash', async (t) => {
  const root = tempDir(t);
  const repo = join(root, 'repo');
  makeRepo(repo, { 'a.txt': 'one\n' });
  writeFiles(repo, { 'a.txt': 'two\n', 'new.txt': 'new\n' });
  const record = await createRun(runOptions(join(root, 'runs'), repo));
  const patch = readFileSync(record.path('git.patch'), 'utf8');
  assert.match(patch, /\+two/);
  assert.match(patch, /new file mode/);
  const git = readRunJson(record.dir).git;
  assert.equal(git.dirty, true);
  assert.equal(git.patch_sha256, sha256(patch));
});

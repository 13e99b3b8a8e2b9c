// `exp run --resume`: a run killed outright (SIGKILL, so no handler runs and run.json still says
// running) continues from model/last and ends bit-identical to an uninterrupted run on wasm.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { exp, SMOKE } from './helpers.ts';
import { resultHashes } from './determinism-hashes.ts';
import { validateRun, schemaErrors } from '../../src/runs/schemas.ts';

const json = (p: string) => JSON.parse(readFileSync(p, 'utf8'));
const history = (dir: string) => readFileSync(join(dir, 'history.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));

test('a run killed after epoch 2 of 4 resumes and ends identical to an uninterrupted run', async () => {
  const base = ['run', 'experiments/quickstart.yaml', ...SMOKE, '--set', 'train.epochs=4', '--backend', 'wasm'];
  const straight = mkdtempSync(join(tmpdir(), 'exp-straight-'));
  const s = await exp([...base, '--runs-dir', straight, '--quiet']);
  assert.equal(s.code, 0, s.stderr);

  const runs = mkdtempSync(join(tmpdir(), 'exp-killed-'));
  const p = exp([...base, '--runs-dir', runs], {
    onStdout: (out) => {
      if (/epoch 2: train loss/.test(out) && !p.child.killed) p.child.kill('SIGKILL');
    },
  });
  const killed = await p;
  assert.equal(killed.signal, 'SIGKILL', killed.stdout + killed.stderr);
  const [dir] = readdirSync(runs).map((d) => join(runs, d));
  assert.equal(json(join(dir, 'run.json')).status, 'running', 'a killed process leaves its record running');
  const done = json(join(dir, 'model', 'last', 'state.json')).epoch;
  assert.ok(done >= 2 && done < 4, `checkpoint after epoch ${done}`);

  // --dry-run names the checkpoint and the backend, and reopens nothing
  const dry = await exp(['run', '--resume', dir, '--runs-dir', runs, '--dry-run']);
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, new RegExp(`\nwould resume ${dir} from model/last \\(after epoch ${done}\\) on backend wasm\n$`));
  assert.equal(json(join(dir, 'run.json')).status, 'running', '--dry-run leaves the record alone');

  const r = await exp(['run', '--resume', dir, '--runs-dir', runs, '--quiet']);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.equal(readdirSync(runs).length, 1, 'the same run continues; no new directory');
  const run = json(join(dir, 'run.json'));
  assert.ok(validateRun(run), schemaErrors('run'));
  assert.equal(run.status, 'completed');
  assert.equal(run.backend?.name, 'wasm', 'the recorded backend is kept');
  assert.deepEqual(history(dir).map((h) => h.epoch), [1, 2, 3, 4], 'each epoch once');
  const [sdir] = readdirSync(straight).map((d) => join(straight, d));
  assert.deepEqual(resultHashes(dir), resultHashes(sdir));

  const again = await exp(['run', '--resume', dir, '--runs-dir', runs]);
  assert.equal(again.code, 0);
  assert.match(again.stdout, /already completed/);
});

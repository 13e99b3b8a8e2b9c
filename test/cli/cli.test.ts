// The command line as users meet it: help, exit codes, errors without stack traces.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { exp } from './helpers.ts';

test('exp --help lists every command; each command has --help with an example', async () => {
  const r = await exp(['--help']);
  assert.equal(r.code, 0);
  for (const c of ['run', 'validate', 'plan', 'ls', 'show', 'data inspect', 'data synth', 'stats']) assert.match(r.stdout, new RegExp(`\\n  ${c} `));
  const run = await exp(['run', '--help']);
  assert.equal(run.code, 0);
  assert.match(run.stdout, /Usage: exp run <experiment.yaml>/);
  assert.match(run.stdout, /Example:\n  exp run experiments\/quickstart.yaml/);
  assert.match(run.stdout, /--set K=V/);
});

test('exp --version prints the package version', async () => {
  const r = await exp(['--version']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^exp \d+\.\d+\.\d+\n$/);
});

test('user mistakes exit 2 with a short message and no stack trace', async () => {
  const unknown = await exp(['trian']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown command 'trian'/);
  const badFlag = await exp(['run', 'x.yaml', '--epochs', '3']);
  assert.equal(badFlag.code, 2);
  assert.match(badFlag.stderr, /unknown option '--epochs'/);
  const missing = await exp(['run']);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /Example: exp run/);
  for (const r of [unknown, badFlag, missing]) assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
});

test('exp validate reports file:line:col for every problem and exits 2', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'exp-cli-'));
  const file = join(dir, 'bad.yaml');
  writeFileSync(file, 'name: bad\ndata:\n  format: herbarum\n  train: /nonexistent\ntrain:\n  epochs: -1\n');
  const r = await exp(['validate', file], { cwd: dir });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /bad\.yaml:3:11 {2}data\.format {2}.*herbarium/);
  assert.match(r.stderr, /bad\.yaml:6:11 {2}train\.epochs/);
  assert.match(r.stderr, /bad\.yaml:4:10 {2}data\.train {2}warning: path does not exist/);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
  const ok = await exp(['validate', 'experiments/quickstart.yaml', 'experiments/focal-hier.yaml', 'experiments/ablations/color-jitter.yaml']);
  assert.equal(ok.code, 0, ok.stderr);
});

test('exp run refuses a missing data path before creating a run', async () => {
  const runs = mkdtempSync(join(tmpdir(), 'exp-runs-'));
  const r = await exp(['run', 'experiments/focal-hier.yaml', '--runs-dir', runs]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /focal-hier\.yaml:\d+:\d+ {2}data\.train {2}path does not exist/);
  const { readdirSync } = await import('node:fs');
  assert.deepEqual(readdirSync(runs), []);
});

test('exp plan prints the stages without running them', async () => {
  const r = await exp(['plan', 'experiments/quickstart.yaml']);
  assert.equal(r.code, 0, r.stderr);
  for (const s of ['Index herbarium data', 'Split 20 %', 'Channel mean/std', 'Train tiny', 'Predict val with TTA x4', 'Predict test', 'submission.csv']) {
    assert.ok(r.stdout.includes(s), `missing ${s} in:\n${r.stdout}`);
  }
});

// exp ensemble on two real smoke runs of the quickstart (different seeds): the ensemble's record
// is schema-valid, its members' metrics (recomputed from their saved top-5 rows, aligned by id)
// equal what each run recorded itself, it writes a submission, it can be a member again, and
// `exp compare` reads it beside its members.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { exp, SMOKE } from '../cli/helpers.ts';
import { compareRuns } from '../../src/runs/compare/load.ts';
import { listRuns } from '../../src/runs/read.ts';
import { schemaErrors, validateIndex, validateMetrics, validateRun } from '../../src/runs/schemas.ts';

const json = (p: string) => JSON.parse(readFileSync(p, 'utf8'));

test('exp ensemble over two real runs: record, member metrics, submission, nesting, compare', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'exp-ensemble-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const runs = join(root, 'runs');
  const out = join(root, 'ensembles');
  for (const seed of [1, 2]) {
    const r = await exp(['run', 'experiments/quickstart.yaml', ...SMOKE, '--set', `seed=${seed}`, '--runs-dir', runs, '--backend', 'wasm', '--quiet']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
  }
  const members = listRuns(runs).map((r) => r.dir);
  assert.equal(members.length, 2);

  // a quoted glob names both members
  const pair = await exp(['ensemble', join(runs, '*'), '--logits', '--out', out, '--name', 'pair', '--quiet']);
  assert.equal(pair.code, 0, pair.stderr);
  const printed = pair.stdout;
  const ens = listRuns(out);
  assert.equal(ens.length, 1);
  const dir = ens[0].dir;
  const run = json(join(dir, 'run.json'));
  assert.ok(validateRun(run), schemaErrors('run'));
  assert.equal(run.kind, 'ensemble');
  assert.equal(run.status, 'completed');
  assert.deepEqual(run.members!.map((m) => m.path), members);
  assert.deepEqual(run.predictions.map((p) => `${p.split}/tta${p.tta}`), ['val/tta2', 'test/tta2']);
  const metrics = json(join(dir, 'metrics.json'));
  assert.ok(validateMetrics(metrics), schemaErrors('metrics'));
  assert.deepEqual(Object.keys(metrics.val.tta2), ['species', 'genus', 'family']);
  for (const split of ['val', 'test']) assert.ok(validateIndex(json(join(dir, 'predictions', split, 'tta2', 'index.json'))), schemaErrors('index'));
  assert.match(printed, /ensemble val species macro-F1/);

  // each member's metrics, recomputed by the ensemble from saved top-5 rows, equal its own record
  const extra = json(join(dir, 'ensemble.json'));
  for (const [i, m] of members.entries()) {
    const own = json(join(m, 'metrics.json')).val.tta2;
    for (const level of ['species', 'genus', 'family']) {
      for (const k of ['macro_f1', 'accuracy', 'top5', 'count']) {
        assert.equal(extra.members[i].metrics.val[level][k], own[level][k], `member ${i + 1} ${level} ${k}`);
      }
    }
  }

  // the submission covers exactly the test ids the members predicted
  const ids = (p: string) => readFileSync(p, 'utf8').trim().split('\n').slice(1).map((l) => l.split(',')[0]).sort();
  assert.ok(existsSync(join(dir, 'submission.csv')));
  assert.deepEqual(ids(join(dir, 'submission.csv')), ids(join(members[0], 'submission.csv')));

  // an ensemble of the ensemble and a member, by probabilities, with tuned weights
  const nested = await exp(['ensemble', dir, members[1], '--probs', '--optimize', '--out', out, '--name', 'nested', '--quiet']);
  assert.equal(nested.code, 0, nested.stderr);
  assert.match(nested.stderr, /chosen on val.*flatter/);
  const second = listRuns(out).find((r) => r.run?.name === 'nested')!;
  assert.ok(validateRun(json(join(second.dir, 'run.json'))), schemaErrors('run'));
  assert.equal(json(join(second.dir, 'predictions', 'val', 'tta2', 'index.json')).scores, 'log_probs');

  // compare reads the ensemble beside its members
  const report = await compareRuns([dir, ...members]);
  assert.equal(report.runs.length, 3);
  const species = report.metrics.find((b) => b.split === 'val' && b.level === 'species');
  assert.ok(species, 'compare shows val species metrics');
  for (const row of species.rows) assert.notEqual(row.values.tta2, null, 'every run, the ensemble included, has val tta2 metrics');
});

// exp ensemble on crafted members: runs made with createRun whose predictions are written with
// NpyWriter, so every expected number can be computed by hand here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRun } from '../../src/runs/record.ts';
import { readRun } from '../../src/runs/read.ts';
import { readNpy, writeNpy } from '../../src/eval/npy.ts';
import { topK } from '../../src/eval/metrics.ts';
import { gridSteps, simplexGrid, type EnsembleOptions } from '../../src/runs/ensemble.ts';
import { runEnsemble } from '../../src/stages/run-ensemble.ts';
import { exp } from '../cli/helpers.ts';
import { schemaErrors, validateIndex, validateMetrics, validateRun, type PredictionIndex } from '../../src/runs/schemas.ts';
import { UserError } from '../../src/errors.ts';
import { runOptions, tempDir } from './helpers.ts';

type Id = string | number;
interface SplitSpec {
  ids: Id[];
  /** Per level, rows x classes scores. */
  scores: Record<string, number[][]>;
  labels?: Record<string, number[] | null>;
}
interface MemberSpec {
  classes?: Record<string, Id[]>;
  splits: Record<string, SplitSpec>;
  name?: string;
  dtype?: 'float32' | 'float16';
}

const CLASSES = { species: ['s0', 's1', 's2'], genus: ['g0', 'g1'] };

/** A completed train run holding exactly the given predictions (default for each split, tta 1). */
async function member(runsDir: string, spec: MemberSpec): Promise<string> {
  const classes: Record<string, Id[]> = spec.classes ?? CLASSES;
  const record = await createRun(runOptions(runsDir, runsDir, { name: spec.name ?? 'member', seed: 1 }));
  for (const [split, s] of Object.entries(spec.splits)) {
    const levels = Object.keys(s.scores);
    const dir = record.predictionsDir(split, 1);
    for (const level of levels) {
      const cols = classes[level].length;
      const flat = Float32Array.from(s.scores[level].flat());
      await writeNpy(join(dir, `${level}.npy`), flat, { dtype: spec.dtype ?? 'float32', cols });
      const k = Math.min(5, cols);
      await writeNpy(join(dir, `${level}.top5.npy`), topK(flat, s.ids.length, cols, k), { dtype: 'int32', cols: k });
    }
    record.writePredictionIndex({
      split, ids: s.ids, labels: s.labels ?? Object.fromEntries(levels.map((l) => [l, null])),
      classes: Object.fromEntries(levels.map((l) => [l, classes[l]])), tta: 1, reduce: 'logits', dtype: spec.dtype ?? 'float32',
      scores: 'logits', rows: s.ids.length, levels,
    });
    record.addPredictions({ split, tta: 1, reduce: 'logits', default: true });
  }
  record.complete();
  return record.dir;
}

async function ensemble(dirs: string[], out: string, o: Partial<EnsembleOptions> = {}) {
  return runEnsemble({ views: dirs.map((d) => readRun(d)), method: 'logits', outDir: out, argv: ['ensemble'], cwdForGit: out, ...o });
}

async function scores(runDir: string, split: string, level: string): Promise<{ data: Float32Array; index: PredictionIndex }> {
  const dir = join(runDir, 'predictions', split, 'tta1');
  return { data: (await readNpy(join(dir, `${level}.npy`))).data as Float32Array, index: JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) };
}

const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-5) => {
  assert.equal(a.length, b.length);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= tol * Math.max(1, Math.abs(b[i])), `element ${i}: ${a[i]} vs ${b[i]}`);
};
const softmax = (x: number[]) => {
  const m = Math.max(...x);
  const e = x.map((v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
};
const argmax = (x: ArrayLike<number>) => Array.prototype.indexOf.call(x, Math.max(...Array.from(x)));

// Member A is sure class 2 is out and torn between 0 and 1; B the mirror image. Averaging logits
// lets the -100s cancel into class 1; averaging probabilities picks class 2.
const A = [[0, -1, -100], [1, 0, 0]];
const B = [[-100, -1, 0.1], [0, 2, 0]];
const G = [[0, 1], [1, 0]];

test('--logits and --probs disagree where they should, and each matches its formula', async (t) => {
  const root = tempDir(t);
  const a = await member(root, { splits: { val: { ids: [1, 2], scores: { species: A, genus: G }, labels: { species: [1, 1], genus: [1, 0] } } } });
  const b = await member(root, { splits: { val: { ids: [1, 2], scores: { species: B, genus: G }, labels: { species: [1, 1], genus: [1, 0] } } } });
  const out = join(root, 'ens');
  const L = await ensemble([a, b], out, { method: 'logits' });
  const P = await ensemble([a, b], out, { method: 'probs' });
  const l = await scores(L.record.dir, 'val', 'species');
  const p = await scores(P.record.dir, 'val', 'species');
  close(l.data, A.flatMap((r, i) => r.map((x, j) => (x + B[i][j]) / 2)));
  close(p.data, A.flatMap((r, i) => {
    const pa = softmax(r);
    const pb = softmax(B[i]);
    return pa.map((x, j) => Math.log((x + pb[j]) / 2));
  }));
  assert.equal(argmax(l.data.subarray(0, 3)), 1);
  assert.equal(argmax(p.data.subarray(0, 3)), 2);
  assert.equal(l.index.scores, 'logits');
  assert.equal(p.index.scores, 'log_probs');
  assert.equal(p.index.reduce, 'probs');
  // metrics follow the blended top-1: logits get row 0 right (label 1), probs do not
  assert.equal(L.metrics.species.accuracy, 1);
  assert.equal(P.metrics.species.accuracy, 0.5);
});

test('members are aligned by image id, not by row order', async (t) => {
  const root = tempDir(t);
  const ids = ['a', 'b', 'c', 'd'];
  const rows = [[3, 0, 0], [0, 3, 0], [0, 0, 3], [1, 2, 3]];
  const perm = [2, 0, 3, 1];
  const a = await member(root, { splits: { val: { ids, scores: { species: rows }, labels: { species: [0, 1, 2, 2] } } } });
  const b = await member(root, { splits: { val: { ids: perm.map((i) => ids[i]), scores: { species: perm.map((i) => rows[i]) }, labels: { species: perm.map((i) => [0, 1, 2, 2][i]) } } } });
  const r = await ensemble([a, b], join(root, 'ens'));
  const s = await scores(r.record.dir, 'val', 'species');
  assert.deepEqual(s.index.ids, ids, 'the first member fixes the row order');
  close(s.data, rows.flat());
  assert.equal(r.metrics.species.accuracy, 1);
  for (const m of r.members) assert.equal(m.metrics.species.accuracy, 1, 'member metrics are aligned too');
});

test('weights are normalised, recorded in run.json, and applied', async (t) => {
  const root = tempDir(t);
  const a = await member(root, { splits: { val: { ids: [1], scores: { species: [[4, 0, 0]] } } } });
  const b = await member(root, { splits: { val: { ids: [1], scores: { species: [[0, 8, 0]] } } } });
  const r = await ensemble([a, b], join(root, 'ens'), { weights: [3, 1] });
  assert.deepEqual(r.weights, [0.75, 0.25]);
  assert.deepEqual(r.record.json.members!.map((m) => m.weight), [0.75, 0.25]);
  close((await scores(r.record.dir, 'val', 'species')).data, [3, 2, 0]);
  const eq = await ensemble([a, b], join(root, 'ens'));
  assert.deepEqual(eq.weights, [0.5, 0.5]);
  await assert.rejects(ensemble([a, b], join(root, 'ens'), { weights: [1] }), /--weights has 1 value\(s\) for 2 member/);
  await assert.rejects(ensemble([a, b], join(root, 'ens'), { weights: [0, 0] }), /all 0/);
  await assert.rejects(ensemble([a, b], join(root, 'ens'), { weights: [1, -1] }), /not a finite number >= 0/);
});

test('the ensemble run validates against the run schemas and records its members and method', async (t) => {
  const root = tempDir(t);
  const spec = (s: number[][]): MemberSpec => ({
    splits: {
      val: { ids: [1, 2], scores: { species: s, genus: G }, labels: { species: [0, 2], genus: [0, 1] } },
      test: { ids: [7, 8], scores: { species: s, genus: G } },
    },
  });
  const a = await member(root, spec(A));
  const b = await member(root, spec(B));
  const r = await ensemble([a, b], join(root, 'ens'), { name: 'blend' });
  const dir = r.record.dir;
  const run: unknown = JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8'));
  assert.ok(validateRun(run), schemaErrors('run'));
  const metrics: unknown = JSON.parse(readFileSync(join(dir, 'metrics.json'), 'utf8'));
  assert.ok(validateMetrics(metrics), schemaErrors('metrics'));
  for (const split of ['val', 'test']) {
    const index: unknown = JSON.parse(readFileSync(join(dir, 'predictions', split, 'tta1', 'index.json'), 'utf8'));
    assert.ok(validateIndex(index), schemaErrors('index'));
    assert.deepEqual(readdirSync(join(dir, 'predictions', split, 'tta1')).sort(), ['genus.npy', 'genus.top5.npy', 'index.json', 'species.npy', 'species.top5.npy']);
  }
  const json = r.record.json;
  assert.equal(json.kind, 'ensemble');
  assert.equal(json.status, 'completed');
  assert.deepEqual(json.members!.map((m) => [m.id, m.path]), [[readRun(a).id, a], [readRun(b).id, b]]);
  assert.deepEqual(json.members!.map((m) => m.identity), [readRun(a).run.identity, readRun(b).run.identity]);
  assert.deepEqual(json.predictions.map((p) => [p.split, p.default]), [['val', true], ['test', true]]);
  assert.match(readFileSync(join(dir, 'config.yaml'), 'utf8'), /method: logits/);
  const extra = JSON.parse(readFileSync(join(dir, 'ensemble.json'), 'utf8'));
  assert.equal(extra.members[0].config_hash, readRun(a).run.config_hash);
  assert.ok('git_sha' in extra.members[0]);
  assert.deepEqual(Object.keys(extra.members[1].metrics.val), ['species', 'genus']);
  assert.deepEqual(Object.keys((metrics as Record<string, unknown>).val as object), ['tta1']);
  // submission from the blended test top-1 (species: row 0 -> class 1, row 1 -> class 1)
  assert.equal(readFileSync(join(dir, 'submission.csv'), 'utf8'), 'Id,Predicted\n7,s1\n8,s1\n');
});

test('an ensemble is itself a member: ensemble of an ensemble', async (t) => {
  const root = tempDir(t);
  const mk = (row: number[]) => member(root, { splits: { val: { ids: [1], scores: { species: [row] }, labels: { species: [0] } } } });
  const [a, b, c] = [await mk([2, 0, 0]), await mk([0, 4, 0]), await mk([0, 0, 6])];
  const e1 = await ensemble([a, b], join(root, 'ens'));
  const e2 = await ensemble([e1.record.dir, c], join(root, 'ens'), { weights: [2, 1] });
  close((await scores(e2.record.dir, 'val', 'species')).data, [2 / 3, 4 / 3, 2]);
  const p1 = await ensemble([a, b], join(root, 'ens'), { method: 'probs' });
  const p2 = await ensemble([p1.record.dir, c], join(root, 'ens'), { method: 'probs', weights: [2, 1] });
  const pa = softmax([2, 0, 0]);
  const pb = softmax([0, 4, 0]);
  const pc = softmax([0, 0, 6]);
  close((await scores(p2.record.dir, 'val', 'species')).data, pa.map((x, j) => Math.log((x + pb[j]) / 3 + pc[j] / 3)));
});

test('--optimize searches the weights on val and finds the member that is right', async (t) => {
  const root = tempDir(t);
  const labels = { species: [0, 1, 2, 0] };
  const good = await member(root, { splits: { val: { ids: [1, 2, 3, 4], scores: { species: [[2, 0, 0], [0, 2, 0], [0, 0, 2], [2, 0, 0]] }, labels } } });
  const bad = await member(root, { splits: { val: { ids: [1, 2, 3, 4], scores: { species: [[0, 9, 0], [0, 0, 9], [9, 0, 0], [0, 9, 0]] }, labels } } });
  const r = await ensemble([bad, good], join(root, 'ens'), { optimize: true });
  assert.ok(r.optimized);
  assert.equal(r.optimized.macroF1, 1);
  assert.ok(r.weights[1] > 0.8, `weights ${r.weights}`);
  assert.equal(r.optimized.candidates.length, 11);
  assert.equal(r.metrics.species.macro_f1, 1);
  await assert.rejects(ensemble([bad, good], join(root, 'ens'), { optimize: true, weights: [1, 1] }), /either --weights or --optimize/);
});

test('simplexGrid covers the simplex; gridSteps keeps the candidates bounded', () => {
  assert.deepEqual(simplexGrid(2, 2), [[1, 0], [0.5, 0.5], [0, 1]]);
  const g = simplexGrid(3, 10);
  assert.equal(g.length, 66);
  for (const w of g) assert.ok(Math.abs(w.reduce((a, b) => a + b, 0) - 1) < 1e-12);
  assert.equal(gridSteps(2), 10);
  assert.equal(gridSteps(3), 10);
  for (const m of [4, 6, 10]) assert.ok(simplexGrid(m, gridSteps(m)).length <= 66);
});

test('every mismatch stops before blending, with a message naming the difference', async (t) => {
  const root = tempDir(t);
  const out = join(root, 'ens');
  const base = await member(root, { splits: { val: { ids: [1, 2], scores: { species: A, genus: G }, labels: { species: [0, 1], genus: [0, 1] } } } });
  const mk = (spec: Partial<SplitSpec> & { classes?: Record<string, Id[]> }) => member(root, {
    classes: spec.classes,
    splits: { val: { ids: spec.ids ?? [1, 2], scores: spec.scores ?? { species: B, genus: G }, labels: spec.labels ?? { species: [0, 1], genus: [0, 1] } } },
  });
  const cases: [string, Promise<string>, RegExp][] = [
    ['missing example', mk({ ids: [1, 3] }), /do not cover the same val examples.*1 of 2 ids are missing from the second \(2\).*only in the second \(3\)/],
    ['levels', mk({ scores: { species: B }, labels: { species: [0, 1] } }), /levels \[species\] but .* has \[species, genus\]/],
    ['classes', mk({ classes: { species: ['s0', 's1', 'sX'], genus: CLASSES.genus } }), /differ in the species classes: 3 vs 3 classes; only in member 2: \["sX"\], only in member 1: \["s2"\]/],
    ['class order', mk({ classes: { species: ['s0', 's2', 's1'], genus: CLASSES.genus } }), /same 3 classes in a different column order \(first difference at column 1\)/],
    ['labels', mk({ labels: { species: [0, 2], genus: [0, 1] } }), /disagree on the species label of image 2 \("s1" vs "s2"\)/],
  ];
  for (const [what, dir, re] of cases) {
    await assert.rejects(ensemble([base, await dir], out), (e: Error) => {
      assert.ok(e instanceof UserError, `${what}: ${e}`);
      assert.match(e.message, re, what);
      return true;
    });
  }
  // no split predictions at all / missing split / too few members / unfinished member
  await assert.rejects(ensemble([base, base], out, { splits: ['test'] }), /has no default predictions for the test split in run\.json.*exp predict/);
  await assert.rejects(ensemble([base, base], out, { tta: 4 }), /no val predictions with --tta 4 in run\.json: it has tta1/);
  await assert.rejects(ensemble([base], out), /at least two member runs/);
  await assert.rejects(ensemble([base, base], out, { optimize: true, splits: ['val'], views: [readRun(base), { ...readRun(base), run: { ...readRun(base).run, status: 'failed' } }] }), /is failed, not completed/);
  assert.equal(existsSync(out), false, 'no ensemble run directory was created for a rejected ensemble');
});

test('the CLI insists on exactly one of --logits and --probs and parses --weights and --tta', async (t) => {
  const root = tempDir(t);
  const a = await member(root, { splits: { val: { ids: [1], scores: { species: [[1, 0, 0]] } } } });
  const base = ['ensemble', a, a, '--out', join(root, 'ens')];
  const neither = await exp(base);
  assert.equal(neither.code, 2);
  assert.match(neither.stderr, /needs --logits or --probs/);
  const both = await exp([...base, '--logits', '--probs']);
  assert.equal(both.code, 2);
  assert.match(both.stderr, /--logits and --probs given together; choose one, not both/);
  const weights = await exp([...base, '--logits', '--weights', '1,x']);
  assert.equal(weights.code, 2);
  assert.match(weights.stderr, /"x" is not a number/);
  const tta = await exp([...base, '--logits', '--tta', '0']);
  assert.equal(tta.code, 2);
  assert.match(tta.stderr, /--tta 0: expected a whole number >= 1/);
  assert.equal(existsSync(join(root, 'ens')), false, 'nothing was created');
});

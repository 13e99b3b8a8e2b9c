// The pure parts of exp compare: config diff, metric deltas, pairing by id, verdicts, sparklines,
// sweep grouping. The command's reading of real run records is in compare-cli.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  classMapping, configDiff, flattenConfig, formatValue, metricBlocks, pairMany, pairRuns, pairedBootstrapMany, pathsAsWritten, preparePair,
  runLabels, sparkline, sweepSummary, type CompareRun, type PairSide,
} from '../../src/runs/compare.ts';
import { UserError } from '../../src/errors.ts';
import { pairedBootstrap } from '../../src/runs/significance.ts';
import type { MetricsJson } from '../../src/runs/schemas.ts';
import { shuffled, synthPredictions } from './compare-fixture.ts';

test('flattenConfig: nested maps become dotted paths, lists stay whole, name and description are ignored', () => {
  const flat = flattenConfig({
    name: 'a', description: 'x', seed: 1,
    data: { val: { seed: 139, fraction: 0.2 }, levels: ['species', 'genus'] },
    schedule: { milestones: [10, 20] }, model: { backbone: { weights: null } }, extra: {},
  });
  assert.deepEqual(flat, {
    seed: 1, 'data.val.seed': 139, 'data.val.fraction': 0.2, 'data.levels': ['species', 'genus'],
    'schedule.milestones': [10, 20], 'model.backbone.weights': null, extra: {},
  });
});

test('configDiff lists only keys that differ anywhere, baseline first, a missing key as undefined', () => {
  const a = flattenConfig({ seed: 1, data: { val: { seed: 139 } }, schedule: { milestones: [10, 20, 25] }, augment: { jitter: { enabled: false } } });
  const b = flattenConfig({ seed: 1, data: { val: { seed: 139 } }, schedule: { milestones: [10, 20, 30] }, augment: { jitter: { enabled: true, hue: 0.02 } } });
  const c = flattenConfig({ seed: 2, data: { val: { seed: 139 } }, schedule: { milestones: [10, 20, 25] }, augment: { jitter: { enabled: false } } });
  const diff = configDiff([a, b, c]);
  assert.deepEqual(diff.map((d) => d.key), ['seed', 'schedule.milestones', 'augment.jitter.enabled', 'augment.jitter.hue']);
  assert.deepEqual(diff[1].values, [[10, 20, 25], [10, 20, 30], [10, 20, 25]]);
  assert.deepEqual(diff[3].values, [undefined, 0.02, undefined]);
  // same lists in a different key order of maps are equal; list order matters
  assert.deepEqual(configDiff([{ k: { a: 1, b: 2 } }, { k: { b: 2, a: 1 } }]), []);
  assert.equal(configDiff([{ k: [1, 2] }, { k: [2, 1] }]).length, 1);
  // a run without a readable config is not evidence of a difference
  assert.deepEqual(configDiff([a, null]), []);
  assert.equal(configDiff([{ w: null }, {}]).length, 1, 'null (set) differs from unset');
});

test('formatValue is compact: lists and maps on one line, unset as a dash', () => {
  assert.equal(formatValue([10, 20, 25, 30]), '[10, 20, 25, 30]');
  assert.equal(formatValue({ mean: [0.5, 0.4], std: 1 }), '{mean: [0.5, 0.4], std: 1}');
  assert.equal(formatValue(undefined), '—');
  assert.equal(formatValue(null), 'null');
  assert.equal(formatValue(false), 'false');
});

test('data paths are compared as written: --set beats experiment.yaml beats the resolved path', () => {
  const flat = { 'data.train': '/home/a/exp/data/train', 'data.test': '/home/a/exp/data/test', 'data.val.path': '/abs/val', seed: 1 };
  const out = pathsAsWritten(flat, ['data.train', 'data.test', 'data.val.path'], { data: { train: '../data/train', test: '../data/test' } }, [{ key: 'data.test', value: 'other/test' }]);
  assert.deepEqual(out, { 'data.train': '../data/train', 'data.test': 'other/test', 'data.val.path': '/abs/val', seed: 1 });
});

function run(id: string, metrics: MetricsJson, extra: Partial<CompareRun> = {}): CompareRun {
  return { id, label: id, dir: `/runs/${id}`, name: id, kind: 'train', status: 'completed', error: null, config: {}, metrics, history: [], sweep: null, seed: 1, levels: ['species', 'genus'], defaultTta: { val: 4 }, ...extra };
}
const lv = (f: number, a: number, t: number | null = null) => ({ macro_f1: f, accuracy: a, top5: t });

test('metricBlocks: per split and level, every TTA count, deltas from the baseline, gaps for missing runs', () => {
  const A = run('A', { val: { tta1: { species: lv(0.5, 0.6), genus: lv(0.7, 0.8), hierarchy_consistency: 0.9 }, tta4: { species: lv(0.55, 0.62) } }, test: {} });
  const B = run('B', { val: { tta1: { species: lv(0.52, 0.59), genus: lv(0.7, 0.81) }, tta4: { species: lv(0.6, 0.7) } } });
  const C = run('C', {}, { status: 'failed' });
  const blocks = metricBlocks([A, B, C]);
  assert.deepEqual(blocks.map((b) => `${b.split}/${b.level}`), ['val/species', 'val/genus']);
  const sp = blocks[0];
  assert.deepEqual(sp.ttas, ['tta1', 'tta4']);
  assert.ok(Math.abs(sp.rows[1].deltas.tta1!.macro_f1! - 0.02) < 1e-12);
  assert.ok(Math.abs(sp.rows[1].deltas.tta4!.accuracy! - 0.08) < 1e-12);
  assert.equal(sp.rows[1].deltas.tta1!.top5, null);
  assert.equal(sp.rows[2].values.tta1, null);
  assert.equal(sp.rows[2].deltas.tta1, null);
  assert.deepEqual(blocks[1].ttas, ['tta1', 'tta4']);
  assert.equal(blocks[1].rows[0].values.tta4, null, 'genus has no tta4 metrics');
  assert.deepEqual(metricBlocks([A, B], { levels: ['genus'] }).map((b) => b.level), ['genus']);
  assert.deepEqual(metricBlocks([A, B], { split: 'test' }), []);
});

function side(id: string, x: { ids: (string | number)[]; labels: number[]; pred: number[] }, classes: (string | number)[], config: Record<string, unknown> | null = null): PairSide {
  return { id, ids: x.ids, labels: Int32Array.from(x.labels), classes, top1: Int32Array.from(x.pred), tta: 1, config, dataFingerprint: 'f' };
}
const CLS = Array.from({ length: 8 }, (_x, i) => `c${i}`);

test('pairing aligns by id: shuffling a run\'s rows changes nothing', () => {
  const a = synthPredictions(400, 8, 0.5, 1);
  const b = synthPredictions(400, 8, 0.7, 2);
  const straight = pairRuns(side('A', a, CLS), side('B', b, CLS), 'species');
  const mixed = pairRuns(side('A', a, CLS), side('B', shuffled(b, 11), CLS), 'species');
  assert.equal(straight.comparable, true);
  assert.deepEqual(mixed, straight);
  if (!straight.comparable) return;
  assert.equal(straight.n, 400);
  assert.equal(straight.bootstrap.resamples, 1000);
  assert.ok(straight.bootstrap.macro_f1.lo > 0, 'a 20-point accuracy gain on 400 examples is real');
  assert.equal(straight.verdict, 'real');
  assert.match(straight.summary, /^\+0\.\d{3} macro-F1 \[0\.\d{3}, 0\.\d{3}\], McNemar p=\S+: real$/);
  // the shuffle really moved rows: B's accuracy against A's truth in row order would be near chance
  const s = shuffled(b, 11);
  const byRow = s.pred.filter((p, i) => p === a.labels[i]).length / 400;
  assert.ok(Math.abs(byRow - straight.bootstrap.accuracy.b) > 0.3, `row order ${byRow} vs aligned ${straight.bootstrap.accuracy.b}`);
});

test('pairing by hand: 10 examples, B fixes 3 of A\'s errors and breaks none', () => {
  const ids = Array.from({ length: 10 }, (_x, i) => i);
  const labels = [0, 1, 2, 3, 0, 1, 2, 3, 0, 1];
  const predA = [0, 1, 2, 3, 0, 1, 0, 0, 1, 0]; // 6 right
  const predB = [0, 1, 2, 3, 0, 1, 2, 3, 0, 0]; // 9 right
  const r = pairRuns(side('A', { ids, labels, pred: predA }, [0, 1, 2, 3]), side('B', { ids: [...ids].reverse(), labels: [...labels].reverse(), pred: [...predB].reverse() }, [0, 1, 2, 3]), 'species');
  assert.ok(r.comparable);
  if (!r.comparable) return;
  assert.equal(r.mcnemar.b, 0);
  assert.equal(r.mcnemar.c, 3);
  assert.equal(r.mcnemar.method, 'exact');
  assert.equal(r.mcnemar.p, 0.25); // 2 * (1/2)^3
  assert.ok(Math.abs(r.bootstrap.accuracy.diff - 0.3) < 1e-12);
  assert.equal(r.verdict, r.bootstrap.macro_f1.lo > 0 || r.bootstrap.macro_f1.hi < 0 ? 'real' : 'within noise');
});

test('identical predictions are within noise', () => {
  const a = synthPredictions(200, 8, 0.6, 1);
  const r = pairRuns(side('A', a, CLS), side('B', shuffled(a, 3), CLS), 'species');
  assert.ok(r.comparable && r.verdict === 'within noise' && r.bootstrap.macro_f1.diff === 0 && r.mcnemar.p === 1);
});

test('different validation sets are not comparable pairwise, and the reason names the split seed', () => {
  const a = synthPredictions(100, 8, 0.6, 1);
  const b = synthPredictions(100, 8, 0.6, 2);
  const bIds = { ...b, ids: b.ids.map((x, i) => (i < 12 ? `other${i}` : x)).slice(0, 95), labels: b.labels.slice(0, 95), pred: b.pred.slice(0, 95) };
  const r = pairRuns(side('A', a, CLS, { 'data.val.seed': 139 }), side('B', bIds, CLS, { 'data.val.seed': 7 }), 'species');
  assert.equal(r.comparable, false);
  assert.match(!r.comparable ? r.reason : '', /different validation sets: 17 ids only in the baseline, 12 only in this run — their configs differ in data\.val\.seed \(139 vs 7\)/);
  const same = pairRuns(side('A', a, CLS, { 'data.val.seed': 139 }), side('B', bIds, CLS, { 'data.val.seed': 139 }), 'species');
  assert.match(!same.comparable ? same.reason : '', /different data\.val\.seed, or from different data\?/);
});

test('unlabelled splits and label disagreements are not comparable; different class sets are a user error', () => {
  const a = synthPredictions(50, 8, 0.6, 1);
  const noLabels = { ...side('B', a, CLS), labels: null };
  assert.match((pairRuns(side('A', a, CLS), noLabels, 'species') as { reason: string }).reason, /no labels/);
  const relabelled = { ...a, labels: a.labels.map((l, i) => (i < 5 ? (l + 1) % 8 : l)) };
  assert.match((pairRuns(side('A', a, CLS), side('B', relabelled, CLS), 'species') as { reason: string }).reason, /different true labels in 5 of 50 rows/);
  assert.throws(() => pairRuns(side('A', a, CLS), side('B', a, [...CLS.slice(0, 7), 'zz']), 'species'),
    (e: Error) => e instanceof UserError && /different class sets at level "species"/.test(e.message) && /"c7"/.test(e.message) && /"zz"/.test(e.message));
});

test('the same classes in another column order are remapped, not rejected', () => {
  const a = synthPredictions(300, 8, 0.6, 1);
  const b = synthPredictions(300, 8, 0.65, 2);
  const perm = [3, 0, 7, 1, 6, 2, 5, 4]; // B's column j holds class CLS[perm[j]]
  const inv = perm.map((_x, c) => perm.indexOf(c));
  const bPermuted = { ...b, labels: b.labels.map((c) => inv[c]), pred: b.pred.map((c) => inv[c]) };
  assert.deepEqual([...classMapping({ id: 'A', classes: CLS }, { id: 'B', classes: perm.map((c) => CLS[c]) }, 'species')!], perm);
  assert.deepEqual(pairRuns(side('A', a, CLS), side('B', bPermuted, perm.map((c) => CLS[c])), 'species'), pairRuns(side('A', a, CLS), side('B', b, CLS), 'species'));
});

test('sparkline: shared scale, gaps for unvalidated epochs, long series bucketed', () => {
  assert.equal(sparkline([0, 0.5, 1], 0, 1), '▁▅█');
  assert.equal(sparkline([0.5, null, 1], 0, 2), '▃ ▅');
  assert.equal(sparkline([1, 1], 1, 1), '▄▄');
  assert.equal([...sparkline(Array.from({ length: 300 }, (_x, i) => i), 0, 299, 40)].length, 40);
});

test('runLabels: names when unique, name-hex when names repeat', () => {
  assert.deepEqual(runLabels([{ id: '20240101-000000-a-111111', name: 'a' }, { id: '20240101-000000-b-222222', name: 'b' }]), ['a', 'b']);
  assert.deepEqual(runLabels([{ id: 'x-aaaaaa', name: 's' }, { id: 'x-bbbbbb', name: 's' }]), ['s-aaaaaa', 's-bbbbbb']);
});

test('sweepSummary groups by swept keys and pairs each group with the baseline group seed by seed', () => {
  const sweep = (jitter: boolean, seed: number) => ({ id: 'sw1', point: { 'augment.color_jitter.enabled': jitter, seed }, keys: ['augment.color_jitter.enabled', 'seed'] });
  const f1: Record<string, number> = { 'false-1': 0.5, 'false-2': 0.52, 'false-3': 0.48, 'true-1': 0.51, 'true-2': 0.5, 'true-3': 0.5 };
  const runs = [false, true].flatMap((j) => [1, 2, 3].map((s) => run(`${j}-${s}`, {}, { sweep: sweep(j, s), seed: s })));
  const s = sweepSummary(runs, 'val species macro-F1', (r) => f1[r.id])!;
  assert.equal(s.seedKey, 'seed');
  assert.deepEqual(s.baselineGroup, { 'augment.color_jitter.enabled': false });
  assert.equal(s.groups.length, 2);
  const on = s.groups[1];
  assert.deepEqual(on.point, { 'augment.color_jitter.enabled': true });
  assert.deepEqual(on.perSeed.map((p) => [p.seed, +p.delta!.toFixed(6)]), [[1, 0.01], [2, -0.02], [3, 0.02]]);
  assert.ok(Math.abs(on.meanDelta! - 0.01 / 3) < 1e-12);
  assert.equal(s.groups[0].meanDelta, 0);
  assert.equal(sweepSummary([runs[0], run('x', {})], 'm', () => 0), null, 'not all runs in the sweep');
});

test('the batched bootstrap gives exactly what pairedBootstrap gives run by run', () => {
  const a = synthPredictions(150, 8, 0.5, 1);
  const truth = Int32Array.from(a.labels.map((l, i) => (i % 17 === 3 ? -1 : l))); // a few unlabelled rows are left out
  const predA = Int32Array.from(a.pred);
  const bs = [2, 3, 4].map((s) => Int32Array.from(synthPredictions(150, 8, 0.45 + 0.1 * s, s).pred));
  const many = pairedBootstrapMany(truth, predA, bs, 8, { resamples: 300, seed: 5 });
  bs.forEach((predB, k) => assert.deepEqual(many[k], pairedBootstrap({ truth, predA, predB, numClasses: 8 }, { resamples: 300, seed: 5 })));
  // and pairMany agrees with pairRuns, pairs that do not pair keeping their reason
  const b = shuffled(synthPredictions(150, 8, 0.7, 2), 4);
  const A = side('A', a, CLS);
  const other = side('C', { ...b, ids: b.ids.map((x) => `${x}-other`) }, CLS);
  const res = pairMany(A, [{ side: { id: 'B', tta: 1 }, prepared: preparePair(A, side('B', b, CLS), 'species') }, { side: { id: 'C', tta: 1 }, prepared: preparePair(A, other, 'species') }]);
  assert.deepEqual(res[0], pairRuns(A, side('B', b, CLS), 'species'));
  assert.equal(res[1].comparable, false);
});

// Labels, like-with-like partners, sweep groups and the studies behind the headline.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { partners, pointLabel, runLabels, shortKeys, studies, sweepSummary } from '../../../src/runs/compare/groups.ts';
import type { CompareRun } from '../../../src/runs/compare/types.ts';
import { run } from './helpers.ts';

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

test('labels from swept values: short keys, on/off for booleans, clashes made longer', () => {
  assert.deepEqual(shortKeys(['augment.color_jitter.enabled', 'seed', 'optimizer.lr']), { 'augment.color_jitter.enabled': 'color_jitter', seed: 'seed', 'optimizer.lr': 'lr' });
  assert.deepEqual(shortKeys(['loss.weights.species', 'model.head.species']), { 'loss.weights.species': 'weights.species', 'model.head.species': 'head.species' });
  assert.equal(pointLabel({ 'augment.color_jitter.enabled': true, seed: 1 }, ['augment.color_jitter.enabled', 'seed']), 'color_jitter=on, seed=1');
  const sw = (j: boolean, seed: number) => ({ id: 'sw-a', point: { 'augment.color_jitter.enabled': j, seed }, keys: ['augment.color_jitter.enabled', 'seed'] });
  assert.deepEqual(runLabels([{ id: 'r-111111', name: 'q', sweep: sw(false, 1) }, { id: 'r-222222', name: 'q', sweep: sw(true, 1) }, { id: 'r-333333', name: 'other' }]),
    ['color_jitter=off, seed=1', 'color_jitter=on, seed=1', 'other']);
  // the same point twice (a re-run): told apart by the id
  assert.deepEqual(runLabels([{ id: 'r-111111', name: 'q', sweep: sw(false, 1) }, { id: 'r-222222', name: 'q', sweep: sw(false, 1) }]),
    ['color_jitter=off, seed=1 (111111)', 'color_jitter=off, seed=1 (222222)']);
});

/** A jitter x lr x seed sweep as compare sees it; `skip` leaves points out, `status` overrides some. */
function grid(opts: { seeds?: number[]; lrs?: number[]; skip?: string[]; status?: Record<string, CompareRun['status']> } = {}): CompareRun[] {
  const seeds = opts.seeds ?? [1, 2];
  const lrs = opts.lrs ?? [0.001];
  const keys = ['augment.color_jitter.enabled', ...(lrs.length > 1 ? ['optimizer.lr'] : []), 'seed'];
  const out: CompareRun[] = [];
  let index = 0;
  for (const j of [false, true]) for (const lr of lrs) for (const seed of seeds) {
    const id = `${j ? 'on' : 'off'}-${lr}-${seed}`;
    const point: Record<string, unknown> = { 'augment.color_jitter.enabled': j, seed };
    if (lrs.length > 1) point['optimizer.lr'] = lr;
    const config = { seed, 'augment.color_jitter.enabled': j, 'optimizer.lr': lr, 'data.val.seed': 139 };
    if (!opts.skip?.includes(id)) out.push(run(id, {}, { label: id, seed, config, status: opts.status?.[id] ?? 'completed', sweep: { id: 'sw-g', point, keys, point_index: index } }));
    index++;
  }
  return out;
}

test('partners: like with like: a variant against the baseline of its own seed, same-config runs as noise references', () => {
  const runs = grid({ seeds: [1, 2, 3] });
  const p = partners(runs);
  const ids = runs.map((r) => r.id);
  assert.equal(p[0], null);
  assert.deepEqual(p.slice(1).map((x) => [ids[x!.vs], x!.relation]), [
    ['off-0.001-1', 'same config, other seed'], ['off-0.001-1', 'same config, other seed'],
    ['off-0.001-1', 'variant'], ['off-0.001-2', 'variant'], ['off-0.001-3', 'variant'],
  ]);
  // a repeat of the baseline (same seed) is a noise reference too; a variant without a same-seed baseline says so
  const repeat = run('again', {}, { seed: 1, config: runs[0].config });
  const lonely = run('lonely', {}, { seed: 9, config: { ...runs[3].config!, seed: 9 } });
  const q = partners([runs[0], repeat, lonely]);
  assert.deepEqual(q[1], { vs: 0, relation: 'same config' });
  assert.equal(q[2]!.relation, 'variant');
  assert.match(q[2]!.note!, /no run with the baseline's config and seed 9/);
});

test('studies pair runs that differ only in the key under study: same seed, same other swept values', () => {
  const runs = grid({ lrs: [0.001, 0.003], seeds: [1, 2] });
  const s = studies(runs);
  assert.deepEqual(s.map((x) => [x.key, x.baselineValue, x.value]), [['augment.color_jitter.enabled', false, true], ['optimizer.lr', 0.001, 0.003]]);
  const jit = s[0];
  const id = (i: number) => runs[i].id;
  assert.deepEqual(jit.pairs.map((p) => [p.seed, id(p.baseline), id(p.variant)]), [
    ['lr=0.001, seed=1', 'off-0.001-1', 'on-0.001-1'], ['lr=0.001, seed=2', 'off-0.001-2', 'on-0.001-2'],
    ['lr=0.003, seed=1', 'off-0.003-1', 'on-0.003-1'], ['lr=0.003, seed=2', 'off-0.003-2', 'on-0.003-2'],
  ]);
  assert.deepEqual(jit.others, ['optimizer.lr'], 'the jitter effect is averaged over both learning rates');
  assert.deepEqual(s[1].pairs.map((p) => [id(p.baseline), id(p.variant)]), [['off-0.001-1', 'off-0.003-1'], ['off-0.001-2', 'off-0.003-2'], ['on-0.001-1', 'on-0.003-1'], ['on-0.001-2', 'on-0.003-2']]);
});

test('studies: missing and failed partners are left out with the reason; a re-run point uses its completed run', () => {
  const runs = grid({ skip: ['off-0.001-2'], status: { 'on-0.001-1': 'failed' } });
  const [st] = studies(runs);
  assert.equal(st.pairs.length, 0);
  assert.deepEqual(st.unpaired, ['on-0.001-1: on-0.001-1 is failed', 'on-0.001-2: no run with color_jitter=off and the same other values']);
  const rerun = run('on-0.001-1b', {}, { ...runs.find((r) => r.id === 'on-0.001-1')!, id: 'on-0.001-1b', label: 'on-0.001-1b', status: 'completed' });
  const [again] = studies([...runs, rerun]);
  assert.deepEqual(again.pairs.map((p) => [p.seed, [...runs, rerun][p.variant].id]), [['seed=1', 'on-0.001-1b']]);
});

test('studies of runs outside sweeps pair them by config: one changed key, seeds as repeats', () => {
  const cfg = (j: boolean, seed: number) => ({ seed, 'augment.color_jitter.enabled': j, 'optimizer.lr': 0.001 });
  const runs = [run('a1', {}, { seed: 1, config: cfg(false, 1) }), run('a2', {}, { seed: 2, config: cfg(false, 2) }), run('b1', {}, { seed: 1, config: cfg(true, 1) }), run('b2', {}, { seed: 2, config: cfg(true, 2) })];
  const [st] = studies(runs);
  assert.equal(st.sweep, null);
  assert.equal(st.key, 'augment.color_jitter.enabled');
  assert.deepEqual(st.pairs.map((p) => [p.seed, runs[p.baseline].id, runs[p.variant].id]), [['seed=1', 'a1', 'b1'], ['seed=2', 'a2', 'b2']]);
  // unrelated runs (two keys changed at once) give no study
  assert.deepEqual(studies([runs[0], run('c', {}, { seed: 2, config: { ...cfg(true, 2), 'optimizer.lr': 0.01 } })]), []);
});

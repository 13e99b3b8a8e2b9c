// Labels, like-with-like partners, sweep groups and the studies behind the headline.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runLabels, sweepSummary } from '../../../src/runs/compare/groups.ts';
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

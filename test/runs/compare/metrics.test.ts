// Metrics side by side: splits, levels, TTA counts and deltas.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { metricBlocks } from '../../../src/runs/compare/metrics.ts';
import { lv, run } from './helpers.ts';

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

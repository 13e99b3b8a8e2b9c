// Config diff: flattening, which keys differ, compact values, data paths as written.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { configDiff, flattenConfig, formatValue, pathsAsWritten } from '../../../src/runs/compare/config-diff.ts';

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

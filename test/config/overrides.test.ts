// The override helpers the sweep code reuses, and "did you mean".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSetArg, applyOverrides, getAtPath, setAtPath, configKeys, suggest, checkKeyPath } from '../../src/config/index.ts';

test('parseSetArg reads the value as YAML and keeps everything after the first =', () => {
  assert.deepEqual(parseSetArg('train.epochs=3').override, { key: 'train.epochs', value: 3, source: { file: '--set train.epochs' } });
  assert.equal(parseSetArg('augment.color_jitter=false').override?.value, false);
  assert.equal(parseSetArg('data.test=null').override?.value, null);
  assert.equal(parseSetArg('data.test=').override?.value, null);
  assert.equal(parseSetArg('name="a=b"').override?.value, 'a=b');
  assert.deepEqual(parseSetArg('data.levels=[a, b]').override?.value, ['a', 'b']);
  assert.equal(parseSetArg('optimizer.lr=3e-4').override?.value, 0.0003);
  assert.equal(parseSetArg('x', '--sweep').problems[0].file, '--sweep x');
  assert.match(parseSetArg('a..b=1').problems[0].message, /not a dotted key/);
});

test('applyOverrides replaces values, creates missing maps and reports unknown keys without applying them', () => {
  const layer = { value: { train: { epochs: 3 } } as Record<string, unknown>, source: {} };
  const { applied, problems } = applyOverrides(layer, [
    { key: 'train.epochs', value: 4, source: { file: '--set train.epochs' } },
    { key: 'augment.color_jitter.hue', value: 0.1, source: { file: '--set augment.color_jitter.hue' } },
    { key: 'augment.colr_jitter', value: true, source: { file: '--set augment.colr_jitter' } },
  ]);
  assert.deepEqual(layer.value, { train: { epochs: 4 }, augment: { color_jitter: { hue: 0.1 } } });
  assert.deepEqual(applied.map((a) => a.key), ['train.epochs', 'augment.color_jitter.hue']);
  assert.equal(problems.length, 1);
  assert.match(problems[0].message, /unknown key 'colr_jitter'; did you mean 'color_jitter'\?/);
});

test('getAtPath and setAtPath handle maps and list indices', () => {
  const obj: Record<string, unknown> = { a: { b: [1, 2] } };
  assert.equal(getAtPath(obj, ['a', 'b', 1]), 2);
  assert.equal(getAtPath(obj, ['a', 'x', 'y']), undefined);
  assert.equal(setAtPath(obj, ['a', 'b', 2], 3), undefined);
  assert.deepEqual(obj, { a: { b: [1, 2, 3] } });
  assert.match(setAtPath(obj, ['a', 'b', 9], 0) ?? '', /past the end/);
  assert.match(setAtPath(obj, ['a', 'b', 'k'], 0) ?? '', /is a list/);
});

test('key checks follow the schema, including free-form maps and list items', () => {
  assert.ok(checkKeyPath(['loss', 'weights', 'anything']).ok);
  assert.ok(checkKeyPath(['optimizer', 'cycle', 'optimizers', '1', 'lr']).ok);
  assert.ok(!checkKeyPath(['optimizer', 'cycle', 'optimizers', '1', 'phases']).ok);
  const keys = configKeys();
  assert.ok(keys.includes('augment.color_jitter.hue') && keys.includes('data.val.fraction'));
  assert.equal(suggest('colour_jitter', keys.map((k) => k.split('.').pop()!)), 'color_jitter');
  assert.equal(suggest('trian', ['train', 'tta']), 'train');
  assert.equal(suggest('banana', ['train', 'tta']), undefined);
});

// Learning curves and sparklines.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sparkline } from '../../../src/runs/compare/curves.ts';

test('sparkline: shared scale, gaps for unvalidated epochs, long series bucketed', () => {
  assert.equal(sparkline([0, 0.5, 1], 0, 1), '▁▅█');
  assert.equal(sparkline([0.5, null, 1], 0, 2), '▃ ▅');
  assert.equal(sparkline([1, 1], 1, 1), '▄▄');
  assert.equal([...sparkline(Array.from({ length: 300 }, (_x, i) => i), 0, 299, 40)].length, 40);
});

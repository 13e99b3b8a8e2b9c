import { test } from 'node:test';
import assert from 'node:assert/strict';
import { epochOrder } from '../../src/train/sampler.ts';
import { UserError } from '../../src/errors.ts';

// a long tail: class 0 has 900 rows, class 1 has 90, class 2 has 10
const labels = Int32Array.from([...Array(900).fill(0), ...Array(90).fill(1), ...Array(10).fill(2)]);

function classShare(order: Int32Array): number[] {
  const n = [0, 0, 0];
  for (const i of order) n[labels[i]]++;
  return n.map((x) => x / order.length);
}

test('uniform: every row once per epoch, shuffled differently each epoch, same for the same (seed, epoch)', () => {
  const a = epochOrder('uniform', labels, 7, 0);
  assert.deepEqual([...a].sort((x, y) => x - y), [...labels.keys()]);
  assert.deepEqual(epochOrder('uniform', labels, 7, 0), a);
  assert.notDeepEqual(epochOrder('uniform', labels, 7, 1), a);
  assert.notDeepEqual(epochOrder('uniform', labels, 8, 0), a);
});

test('sqrt and balanced reweight the classes', () => {
  // over several epochs so the shares are stable; sqrt: 30 : 9.49 : 3.16 of 42.65
  const draws = (kind: string) => {
    const all: number[] = [];
    for (let e = 0; e < 20; e++) all.push(...epochOrder(kind, labels, 3, e));
    return Int32Array.from(all);
  };
  const sqrt = classShare(draws('sqrt'));
  const total = Math.sqrt(900) + Math.sqrt(90) + Math.sqrt(10);
  [Math.sqrt(900), Math.sqrt(90), Math.sqrt(10)].forEach((w, c) =>
    assert.ok(Math.abs(sqrt[c] - w / total) < 0.01, `sqrt class ${c}: ${sqrt[c]} vs ${w / total}`));
  const bal = classShare(draws('balanced'));
  bal.forEach((s, c) => assert.ok(Math.abs(s - 1 / 3) < 0.015, `balanced class ${c}: ${s}`));
  const order = epochOrder('balanced', labels, 3, 0);
  assert.equal(order.length, labels.length);
  assert.deepEqual(epochOrder('balanced', labels, 3, 0), order, 'deterministic');
  assert.notDeepEqual(epochOrder('balanced', labels, 3, 1), order);
});

test('an unknown sampler lists the choices', () => {
  assert.throws(() => epochOrder('inverse', labels, 1, 0), (e: Error) =>
    e instanceof UserError && /uniform, sqrt, balanced/.test(e.message));
});

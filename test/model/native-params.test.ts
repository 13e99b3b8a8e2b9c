// The addon's parameter layouts are named once, in native/params.json: npm run gen writes the C++
// index constants (native/params.gen.h) and the TypeScript names (kernels/params.gen.ts) from it;
// TypeScript packs parameters by name; the addon exports its table and the loader refuses a build
// whose table differs. The packing and the comparison run everywhere; the exported table and the
// glue's length check only where the addon is built.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { PARAMS_HEADER, PARAMS_TS, readParamsTable, renderParams, renderParamsHeader } from '../../scripts/gen-params.ts';
import { LAYOUTS, layoutMismatch, pack } from '../../src/model/kernels/native-params.ts';
import { addonPath, loadAddon, staleAddonReason, unavailableReason } from '../../src/model/kernels/native.ts';

test('native/params.gen.h and src/model/kernels/params.gen.ts are up to date (npm run gen)', () => {
  for (const [file, text] of renderParams()) {
    assert.equal(readFileSync(file, 'utf8'), text, `${file} is stale: run npm run gen`);
  }
  assert.deepEqual(renderParams().map(([f]) => f), [PARAMS_HEADER, PARAMS_TS]);
});

test('the header names every parameter of every entry point as an index constant, in the table\'s order', () => {
  const header = readFileSync(PARAMS_HEADER, 'utf8');
  assert.match(header, /namespace conv_p \{\nenum : int \{ kind, batch, in_h, in_w, in_c, out_h, .*, x, w, bias, y, count \};/);
  assert.match(header, /namespace tile_p \{\nenum : int \{ rank, x, out, count \};\n.*\ninline constexpr int array_lengths\[\] = \{rank, rank\};/);
  assert.match(header, /\{"batchNormTrain", run_batch_norm_train, batch_norm_train_names, 10, batch_norm_train_p::count, nullptr, 0\}/);
  for (const e of readParamsTable()) assert.ok(header.includes(`void run_${e.name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)}(`), e.name);
  assert.deepEqual(Object.keys(LAYOUTS), readParamsTable().map((e) => e.name));
});

test('a malformed table is refused with the entry point and the parameter', () => {
  const table = (params: object) => JSON.stringify({ f: { doc: 'd', params } });
  assert.throws(() => readParamsTable(table({ 'a[n]': '', n: '' })), /native\/params.json f: the length of 'a\[n\]' must be a scalar before it/);
  assert.throws(() => readParamsTable(table({ n: '', 'a[n]': '', m: '' })), /scalar 'm' after an array/);
  assert.throws(() => readParamsTable(table({ count: '' })), /'count' is reserved/);
  assert.throws(() => readParamsTable(table({ in_h: '' })), /parameter 'in_h' is not a camelCase name/);
  assert.throws(() => readParamsTable(table({ n: '', 'n[n]': '' })), /'n' twice/);
  assert.throws(() => readParamsTable(JSON.stringify({ f: { params: { a: '' } } })), /needs "doc"/);
  assert.match(renderParamsHeader(readParamsTable(table({ n: 'size', 'a[n]': 'values' }))), /namespace f_p \{\nenum : int \{ n, count \};/);
});

test('pack lays values out by name in the table\'s order, arrays after the scalars', () => {
  const p = pack('swish', { out: 50, kind: 1, grad: 0, n: 7, x: 30, dy: -1 });
  assert.deepEqual([...p], [0, 7, 30, -1, 50, 1]);
  assert.deepEqual(LAYOUTS.swish, ['grad', 'n', 'x', 'dy', 'out', 'kind']);
  const t = pack('tile', { rank: 2, x: 8, out: 16, shape: [3, 4], reps: [1, 5] });
  assert.deepEqual([...t], [2, 8, 16, 3, 4, 1, 5]);
  assert.throws(() => pack('tile', { rank: 3, x: 8, out: 16, shape: [3, 4], reps: [1, 5] }), /native tile: parameter shape needs 3 values \(rank\), got 2/);
  // @ts-expect-error a missing name is a type error (and a runtime one)
  assert.throws(() => pack('swish', { grad: 0, n: 7, x: 30, dy: -1, out: 50 }), /native swish: parameter kind is undefined, not a number/);
  // @ts-expect-error an extra name is a type error
  pack('swish', { grad: 0, n: 7, x: 30, dy: -1, out: 50, kind: 0, extra: 1 });
});

test('a build whose exported layouts differ is refused, saying how and what to do', () => {
  assert.equal(layoutMismatch(structuredClone(LAYOUTS)), undefined);
  assert.equal(layoutMismatch(undefined), 'it exports no parameter layouts (built before they were named)');
  const swapped = { ...structuredClone(LAYOUTS), swish: ['grad', 'x', 'n', 'dy', 'out', 'kind'] };
  assert.match(layoutMismatch(swapped)!, /^its parameter layouts differ from src\/model\/kernels\/params\.gen\.ts: swish has \[grad, x, n, dy, out, kind\] \(parameter 1: x, expected n\)$/);
  const { adam: _, ...noAdam } = structuredClone(LAYOUTS);
  assert.match(layoutMismatch({ ...noAdam, fancy: ['a'] })!, /adam is missing; fancy is unknown here/);
  const longer = { ...structuredClone(LAYOUTS), reduce: [...LAYOUTS.reduce, 'more'] };
  assert.match(layoutMismatch(longer)!, /reduce has \[.*, more\] \(expected \[mean, leading, outer, inner, x, out\]\)/);
  assert.equal(staleAddonReason('/x/exp_native.node', undefined),
    '/x/exp_native.node was built from other sources (it exports no parameter layouts (built before they were named)); run npm rebuild');
});

const addon = loadAddon() as unknown as (Record<string, (h: ArrayBuffer, p: Float64Array) => void> & { layouts: unknown }) | undefined;
const skip = addon ? false : `native addon not available: ${unavailableReason}`;

test('the built addon exports the sources\' layouts and checks each call\'s parameter count', { skip }, () => {
  assert.deepEqual(addon!.layouts, structuredClone(LAYOUTS), addonPath);
  const heap = new ArrayBuffer(64);
  assert.throws(() => addon!.swish(heap, new Float64Array(5)), { name: 'TypeError', message: 'swish(heap: ArrayBuffer, params: Float64Array[6]) called with wrong arguments (5 parameters)' });
  assert.throws(() => addon!.tile(heap, new Float64Array([2, 0, 32, 1, 1, 1])),
    { name: 'TypeError', message: 'tile(heap: ArrayBuffer, params: Float64Array[3 + shape[rank] + reps[rank]]) called with wrong arguments (6 parameters)' });
  assert.throws(() => addon!.adam(heap, new Float32Array(17) as unknown as Float64Array), /adam\(heap: ArrayBuffer, params: Float64Array\[17\]\) called with wrong arguments$/);
  // a well-formed call runs: tile a [2] float32 at byte 0 into [2 * 3] at byte 16
  new Float32Array(heap, 0, 2).set([1.5, -2]);
  addon!.tile(heap, pack('tile', { rank: 1, x: 0, out: 16, shape: [2], reps: [3] }));
  assert.deepEqual([...new Float32Array(heap, 16, 6)], [1.5, -2, 1.5, -2, 1.5, -2]);
});

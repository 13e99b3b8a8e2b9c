import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NpyWriter, NpyReader, readNpy, writeNpy } from '../../src/eval/npy.ts';
import { toHalfBits, fromHalfBits } from '../../src/eval/float16.ts';
import { UserError } from '../../src/errors.ts';
import { pythonMissing, runPython } from './python.ts';

const tmp = () => mkdtempSync(join(tmpdir(), 'exp-npy-'));
/** The values numpy regenerates on its side: arange * 0.25 - 7. */
const pattern = (n: number) => Float32Array.from({ length: n }, (_, i) => i * 0.25 - 7);

/** A reader written apart from src/eval/npy.ts: parses the v1.0 header by hand. */
function parseByHand(bytes: Buffer): { descr: string; fortran: string; shape: number[]; data: Buffer; headerTotal: number } {
  assert.deepEqual([...bytes.subarray(0, 6)], [0x93, ...Buffer.from('NUMPY')]);
  assert.equal(bytes[6], 1);
  assert.equal(bytes[7], 0);
  const hlen = bytes[8] + 256 * bytes[9];
  const dict = bytes.subarray(10, 10 + hlen).toString('latin1');
  assert.ok(dict.endsWith('\n'), 'header ends with a newline');
  const m = /^\{'descr': '([^']+)', 'fortran_order': (\w+), 'shape': \(([^)]*)\), \} *\n$/.exec(dict);
  assert.ok(m, `header dict: ${JSON.stringify(dict)}`);
  const shape = m[3].split(',').filter((s) => s.trim()).map(Number);
  return { descr: m[1], fortran: m[2], shape, data: bytes.subarray(10 + hlen), headerTotal: 10 + hlen };
}

test('float32 rows appended in blocks read back by a hand-written parser', async () => {
  const path = join(tmp(), 'scores.npy');
  const w = await NpyWriter.open(path, { dtype: 'float32', cols: 7 });
  const all = pattern(7 * 10);
  await w.append(all.subarray(0, 21));
  await w.append(all.subarray(21, 49));
  await w.append(all.subarray(49));
  assert.equal(existsSync(path), false, 'nothing under the final name before close');
  await w.close();
  const h = parseByHand(readFileSync(path));
  assert.equal(h.descr, '<f4');
  assert.equal(h.fortran, 'False');
  assert.deepEqual(h.shape, [10, 7]);
  assert.equal(h.headerTotal % 64, 0, 'data starts 64-byte aligned, as numpy writes');
  assert.equal(h.data.length, 10 * 7 * 4);
  const got = new Float32Array(new Uint8Array(h.data).buffer);
  assert.deepEqual(got, all);
  assert.deepEqual(readdirSync(join(path, '..')), ['scores.npy'], 'no temp file left');
});

test('float16 and int32 files: hand parser, and round trip through NpyReader', async () => {
  const dir = tmp();
  const vals = new Float32Array([0, 1, -2.5, 65504, 70000, 2 ** -24, 1 + 2 ** -11, NaN]);
  await writeNpy(join(dir, 'h.npy'), vals, { dtype: 'float16', cols: 4 });
  const h = parseByHand(readFileSync(join(dir, 'h.npy')));
  assert.equal(h.descr, '<f2');
  assert.deepEqual(h.shape, [2, 4]);
  const bits = new Uint16Array(new Uint8Array(h.data).buffer);
  assert.deepEqual(Array.from(bits), Array.from(vals, toHalfBits));
  const back = await readNpy(join(dir, 'h.npy'));
  assert.equal(back.dtype, 'float16');
  assert.deepEqual(Array.from(back.data).slice(0, 7), [0, 1, -2.5, 65504, Infinity, 2 ** -24, 1]);
  assert.ok(Number.isNaN(back.data[7]));

  const top = Int32Array.from({ length: 15 }, (_, i) => i * 1000 - 3);
  await writeNpy(join(dir, 't.npy'), top, { dtype: 'int32', cols: 5 });
  const t = parseByHand(readFileSync(join(dir, 't.npy')));
  assert.equal(t.descr, '<i4');
  assert.deepEqual(t.shape, [3, 5]);
  const r = await readNpy(join(dir, 't.npy'));
  assert.ok(r.data instanceof Int32Array);
  assert.deepEqual(r.data, top);

  await writeNpy(join(dir, 'v.npy'), new Int32Array([4, 5, 6]), { dtype: 'int32' });
  const v = parseByHand(readFileSync(join(dir, 'v.npy')));
  assert.deepEqual(v.shape, [3]);
  assert.match(readFileSync(join(dir, 'v.npy')).toString('latin1', 10, 80), /'shape': \(3,\)/);
});

test('reader reads row ranges, blocks and gathered rows without loading the file', async () => {
  const path = join(tmp(), 's.npy');
  const all = pattern(13 * 3);
  await writeNpy(path, all, { dtype: 'float32', cols: 3 });
  const r = await NpyReader.open(path);
  assert.deepEqual(r.shape, [13, 3]);
  assert.deepEqual(await r.readRows(4, 2), all.subarray(12, 18));
  const starts: number[] = [];
  const joined: number[] = [];
  for await (const b of r.rowBlocks(5)) {
    starts.push(b.start);
    joined.push(...b.data);
  }
  assert.deepEqual(starts, [0, 5, 10]);
  assert.deepEqual(Float32Array.from(joined), all);
  const out = new Float32Array(4 * 3);
  await r.gatherRows(new Int32Array([7, 8, 2, 12]), out);
  assert.deepEqual(Array.from(out), [...all.subarray(21, 27), ...all.subarray(6, 9), ...all.subarray(36, 39)]);
  await assert.rejects(r.readRows(12, 2), RangeError);
  await r.close();
});

test('empty file, aborted writer, wrong block shapes', async () => {
  const dir = tmp();
  const w = await NpyWriter.open(join(dir, 'e.npy'), { dtype: 'float32', cols: 4 });
  await assert.rejects(w.append(new Float32Array(6)), /whole number of 4-column rows/);
  await assert.rejects(w.append(new Int32Array(4)), /Float32Array/);
  await w.close();
  assert.deepEqual(parseByHand(readFileSync(join(dir, 'e.npy'))).shape, [0, 4]);
  const a = await NpyWriter.open(join(dir, 'a.npy'), { dtype: 'float32', cols: 4 });
  await a.append(new Float32Array(8));
  await a.abort();
  assert.deepEqual(readdirSync(dir), ['e.npy']);
});

test('unreadable files are UserErrors naming the file', async () => {
  const dir = tmp();
  writeFileSync(join(dir, 'x.npy'), 'not numpy at all');
  await assert.rejects(NpyReader.open(join(dir, 'x.npy')), (e: Error) => e instanceof UserError && e.message.includes('x.npy') && /magic/.test(e.message));
  await writeNpy(join(dir, 'full.npy'), pattern(40), { dtype: 'float32', cols: 4 });
  writeFileSync(join(dir, 'cut.npy'), readFileSync(join(dir, 'full.npy')).subarray(0, 128 + 50));
  await assert.rejects(NpyReader.open(join(dir, 'cut.npy')), (e: Error) => e instanceof UserError && /cut\.npy is truncated/.test(e.message));
  const be = Buffer.from(readFileSync(join(dir, 'full.npy')));
  be.write("'>f4'", 10 + "{'descr': ".length, 'latin1');
  writeFileSync(join(dir, 'be.npy'), be);
  await assert.rejects(NpyReader.open(join(dir, 'be.npy')), /dtype '>f4' is not supported/);
  await assert.rejects(NpyReader.open(join(dir, 'nope.npy')), UserError);
});

const missing = pythonMissing(['numpy']);

test('numpy.load reads what NpyWriter wrote', { skip: missing }, async () => {
  const dir = tmp();
  const rows = 37;
  const cols = 11;
  const w = await NpyWriter.open(join(dir, 'f4.npy'), { dtype: 'float32', cols });
  for (let r = 0; r < rows; r += 10) await w.append(pattern(rows * cols).subarray(r * cols, Math.min(rows, r + 10) * cols));
  await w.close();
  await writeNpy(join(dir, 'f2.npy'), pattern(rows * cols), { dtype: 'float16', cols });
  await writeNpy(join(dir, 'i4.npy'), Int32Array.from({ length: rows * 5 }, (_, i) => i - 50), { dtype: 'int32', cols: 5 });
  await writeNpy(join(dir, 'v.npy'), Int32Array.from({ length: 9 }, (_, i) => i), { dtype: 'int32' });
  const out = runPython(`import numpy as np, sys
d = sys.argv[1]; rows, cols = 37, 11
ref = (np.arange(rows * cols, dtype=np.float32) * np.float32(0.25) - np.float32(7)).reshape(rows, cols)
a = np.load(d + '/f4.npy'); assert a.dtype == np.float32 and a.shape == (rows, cols), (a.dtype, a.shape); assert np.array_equal(a, ref)
h = np.load(d + '/f2.npy'); assert h.dtype == np.float16 and h.shape == (rows, cols); assert np.array_equal(h.view(np.uint16), ref.astype(np.float16).view(np.uint16))
i = np.load(d + '/i4.npy'); assert i.dtype == np.int32 and i.shape == (rows, 5); assert np.array_equal(i.ravel(), np.arange(rows * 5) - 50)
v = np.load(d + '/v.npy'); assert v.shape == (9,) and np.array_equal(v, np.arange(9))
m = np.load(d + '/f4.npy', mmap_mode='r'); assert np.array_equal(m[5:9], ref[5:9])
print('ok')`, [dir]);
  assert.equal(out.trim(), 'ok');
});

test('NpyReader reads what numpy.save wrote', { skip: missing }, async () => {
  const dir = tmp();
  runPython(`import numpy as np, sys
d = sys.argv[1]
ref = (np.arange(23 * 6, dtype=np.float32) * np.float32(0.25) - np.float32(7)).reshape(23, 6)
np.save(d + '/f4.npy', ref)
np.save(d + '/f2.npy', ref.astype(np.float16))
np.save(d + '/i4.npy', (np.arange(23 * 5) - 9).astype(np.int32).reshape(23, 5))
np.save(d + '/v.npy', np.arange(4, dtype=np.int32))
np.save(d + '/fortran.npy', np.asfortranarray(ref))
np.save(d + '/f8.npy', ref.astype(np.float64))`, [dir]);
  const ref = pattern(23 * 6);
  const f4 = await readNpy(join(dir, 'f4.npy'));
  assert.deepEqual(f4.shape, [23, 6]);
  assert.deepEqual(f4.data, ref);
  const f2 = await readNpy(join(dir, 'f2.npy'));
  assert.equal(f2.dtype, 'float16');
  assert.deepEqual(f2.data, Float32Array.from(ref, (x) => fromHalfBits(toHalfBits(x))));
  const i4 = await readNpy(join(dir, 'i4.npy'));
  assert.deepEqual(i4.data, Int32Array.from({ length: 115 }, (_, i) => i - 9));
  assert.deepEqual((await readNpy(join(dir, 'v.npy'))).shape, [4]);
  await assert.rejects(readNpy(join(dir, 'fortran.npy')), /Fortran order/);
  await assert.rejects(readNpy(join(dir, 'f8.npy')), (e: Error) => e instanceof UserError && /'<f8' is not supported/.test(e.message));
});

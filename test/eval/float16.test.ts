import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toHalfBits, fromHalfBits, encodeHalf, decodeHalf } from '../../src/eval/float16.ts';
import { Rng } from '../../src/util/rng.ts';
import { pythonMissing, runPython } from './python.ts';

const f32 = (x: number) => Math.fround(x);

test('float16 encodes exact values, limits and specials', () => {
  assert.equal(toHalfBits(1), 0x3c00);
  assert.equal(toHalfBits(-2), 0xc000);
  assert.equal(toHalfBits(0), 0x0000);
  assert.equal(toHalfBits(-0), 0x8000);
  assert.equal(toHalfBits(65504), 0x7bff); // largest finite
  assert.equal(toHalfBits(2 ** -14), 0x0400); // smallest normal
  assert.equal(toHalfBits(1023 * 2 ** -24), 0x03ff); // largest subnormal
  assert.equal(toHalfBits(2 ** -24), 0x0001); // smallest subnormal
  assert.equal(toHalfBits(Infinity), 0x7c00);
  assert.equal(toHalfBits(-Infinity), 0xfc00);
  const nan = toHalfBits(NaN);
  assert.equal(nan & 0x7c00, 0x7c00);
  assert.notEqual(nan & 0x03ff, 0);
  assert.ok(Number.isNaN(fromHalfBits(nan)));
  assert.equal(toHalfBits(1e-45), 0); // float32 subnormal
  assert.equal(toHalfBits(1e6), 0x7c00); // overflow
  assert.equal(toHalfBits(-1e6), 0xfc00);
});

test('float16 rounds to nearest with ties to even', () => {
  assert.equal(toHalfBits(1 + 2 ** -11), 0x3c00); // tie, 0x3c00 even
  assert.equal(toHalfBits(1 + 3 * 2 ** -11), 0x3c02); // tie, 0x3c01 odd -> up
  assert.equal(toHalfBits(f32(1 + 2 ** -11 + 2 ** -20)), 0x3c01); // just above the tie
  assert.equal(toHalfBits(65519), 0x7bff);
  assert.equal(toHalfBits(65520), 0x7c00); // tie between 65504 and 2^16: even is inf
  assert.equal(toHalfBits(2 ** -25), 0x0000); // tie between 0 and 2^-24
  assert.equal(toHalfBits(f32(2 ** -25 * (1 + 2 ** -23))), 0x0001);
  assert.equal(toHalfBits(3 * 2 ** -25), 0x0002); // tie between 1 and 2 subnormal units
  assert.equal(toHalfBits(5 * 2 ** -25), 0x0002); // tie between 2 and 3
  assert.equal(toHalfBits(2 ** -14 - 2 ** -25), 0x0400); // tie 0x3ff/0x400 carries into the exponent
  // Every midpoint between neighbouring positive halves (exact in float32) goes to the even one.
  for (let h = 0; h < 0x7bff; h++) {
    const mid = (fromHalfBits(h) + fromHalfBits(h + 1)) / 2;
    assert.equal(toHalfBits(mid), h % 2 === 0 ? h : h + 1, `midpoint after 0x${h.toString(16)}`);
    assert.equal(toHalfBits(-mid), 0x8000 | (h % 2 === 0 ? h : h + 1));
  }
});

test('every finite float16 survives decode then encode', () => {
  for (let h = 0; h < 65536; h++) {
    if ((h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0) continue; // NaN payloads
    assert.equal(toHalfBits(fromHalfBits(h)), h);
  }
  const src = new Float32Array([1.5, -0.25, 3.14159, 1e-6, -70000]);
  const back = decodeHalf(encodeHalf(src));
  assert.deepEqual(Array.from(back), [1.5, -0.25, 3.140625, fromHalfBits(toHalfBits(1e-6)), -Infinity]);
});

const missing = pythonMissing(['numpy']);
test('float16 encoding matches numpy astype(float16) bit for bit', { skip: missing }, () => {
  const rng = new Rng(7);
  const n = 200_000;
  const x = new Float32Array(n);
  const bits = new Uint32Array(x.buffer);
  // Random bit patterns over the exponents that matter (subnormal half .. overflow), plus specials.
  for (let i = 0; i < n; i++) {
    const exp = 100 + rng.int(45); // float32 biased exponents 100..144
    bits[i] = (rng.int(2) << 31) | (exp << 23) | (rng.nextU32() & 0x7fffff);
  }
  x[0] = Infinity; x[1] = -Infinity; x[2] = 0; x[3] = -0;
  const dir = mkdtempSync(join(tmpdir(), 'exp-f16-'));
  writeFileSync(join(dir, 'in.bin'), new Uint8Array(x.buffer));
  runPython(`import numpy as np, sys
a = np.fromfile(sys.argv[1] + '/in.bin', dtype='<f4')
a.astype(np.float16).view('<u2').tofile(sys.argv[1] + '/out.bin')`, [dir]);
  const theirs = new Uint16Array(new Uint8Array(readFileSync(join(dir, 'out.bin'))).buffer);
  const ours = encodeHalf(x);
  let diff = 0;
  for (let i = 0; i < n; i++) if (ours[i] !== theirs[i]) diff++;
  assert.equal(diff, 0);
});

// The checkpoint readers against values PyTorch itself read back (test/fixtures/weights/make.py
// writes the fixtures and expected.json with python3-torch; nothing here needs torch or tfjs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { loadCheckpoint, readCheckpoint } from '../../src/weights/index.ts';
import { ZipReader } from '../../src/weights/zip.ts';
import { permute } from '../../src/weights/tensor.ts';
import { UserError } from '../../src/errors.ts';

const FIX = 'test/fixtures/weights';
const expected = JSON.parse(readFileSync(join(FIX, 'expected.json'), 'utf8')) as Record<string, { shape: number[]; values: number[] }>;

function assertMatchesTorch(tensors: Map<string, { shape: number[]; data: ArrayLike<number> }>): void {
  assert.deepEqual([...tensors.keys()].sort(), Object.keys(expected).sort());
  for (const [name, want] of Object.entries(expected)) {
    const got = tensors.get(name)!;
    assert.deepEqual(got.shape, want.shape, name);
    assert.equal(got.data.length, want.values.length, name);
    for (let i = 0; i < want.values.length; i++) {
      // float64 tensors are read into float32: compare at float32 precision
      assert.equal(got.data[i], name === 'double' ? Math.fround(want.values[i]) : want.values[i], `${name}[${i}]`);
    }
  }
}

for (const file of ['state.pth', 'state-proto4.pth', 'state.safetensors']) {
  test(`${file}: every tensor (views, offsets, f16, bf16, f64, i64, empty) equals what torch reads`, () => {
    assertMatchesTorch(readCheckpoint(join(FIX, file)));
  });
}

test('a training checkpoint {epoch, state_dict: {module.*}} is unwrapped and the DataParallel prefix stripped', () => {
  const info = loadCheckpoint(join(FIX, 'wrapped.pth'));
  assert.deepEqual(info.unwrapped, ['state_dict']);
  assert.equal(info.strippedModulePrefix, Object.keys(expected).length);
  assertMatchesTorch(info.tensors);
});

test('int64 values beyond float32 precision are kept exactly', () => {
  const t = readCheckpoint(join(FIX, 'state.pth')).get('bn.num_batches_tracked')!;
  assert.equal(t.dtype, 'I64');
  assert.equal(t.data[0], 12345678901);
});

test('legacy (non-zip) torch files and plain pickles are refused with the way to convert them', () => {
  for (const f of ['legacy.pth', 'malicious-plain.pkl']) {
    assert.throws(() => readCheckpoint(join(FIX, f)), (e: unknown) =>
      e instanceof UserError && /legacy/.test(e.message) && /torch\.save/.test(e.message) && e.message.includes(f));
  }
});

test('a pickled nn.Module (torch.save(model)) is refused, naming the class and saying to save state_dict', () => {
  assert.throws(() => readCheckpoint(join(FIX, 'whole-module.pth')), (e: unknown) =>
    e instanceof UserError && /torch\.nn\.modules\.linear\.Linear/.test(e.message) && /state_dict|weights/.test(e.message));
});

test('ZIP64 archives (64-bit sizes and offsets in extra fields, ZIP64 end records) are read, stored and deflated', () => {
  const zip = new ZipReader(readFileSync(join(FIX, 'zip64.zip')));
  assert.deepEqual([...zip.read('archive/stored.bin')].slice(0, 300), [...Array(256).keys(), ...Array(44).keys()]);
  assert.equal(zip.read('archive/stored.bin').byteLength, 768);
  assert.equal(Buffer.from(zip.read('archive/deflated.txt')).toString(), 'hello zip64 '.repeat(50));
});

test('corrupt files fail with a UserError naming the file, not a crash', () => {
  const dir = mkdtempSync(join(tmpdir(), 'exp-weights-'));
  const st = readFileSync(join(FIX, 'state.safetensors'));
  const cases: [string, Uint8Array][] = [
    ['truncated.safetensors', st.subarray(0, st.byteLength - 16)],
    ['truncated.pth', readFileSync(join(FIX, 'state.pth')).subarray(0, 1500)],
    ['random.bin', new Uint8Array(64).fill(7)],
  ];
  for (const [name, bytes] of cases) {
    const p = join(dir, name);
    writeFileSync(p, bytes);
    assert.throws(() => readCheckpoint(p), (e: unknown) => e instanceof UserError && e.message.includes(p), name);
  }
  rmSync(dir, { recursive: true, force: true });
});

test('permute: conv OIHW -> HWIO moves element [o,i,h,w] to [h,w,i,o]', () => {
  const shape = [2, 3, 2, 2];
  const data = Float32Array.from({ length: 24 }, (_, k) => k);
  const { data: out, shape: s } = permute(data, shape, [2, 3, 1, 0]);
  assert.deepEqual(s, [2, 2, 3, 2]);
  const at = (o: number, i: number, h: number, w: number) => ((o * 3 + i) * 2 + h) * 2 + w;
  for (let o = 0; o < 2; o++) for (let i = 0; i < 3; i++) for (let h = 0; h < 2; h++) for (let w = 0; w < 2; w++) {
    assert.equal(out[((h * 2 + w) * 3 + i) * 2 + o], at(o, i, h, w));
  }
});

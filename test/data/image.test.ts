// The image pipeline's geometry, determinism, colour handling and normalisation, on crafted images
// whose pixels encode their own coordinates (R = x, G = y), so a crop's offset can be read back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { decodeResized, loadImage, type AugmentSpec } from '../../src/data/image.ts';
import { applyJitter, resizedDims } from '../../src/data/augment.ts';

const dir = mkdtempSync(join(tmpdir(), 'exp-image-'));
const ID = { mean: [0, 0, 0], std: [1, 1, 1] }; // out = v / 255

async function png(name: string, w: number, h: number, ch: number, px: (x: number, y: number) => number[]): Promise<string> {
  const data = Buffer.alloc(w * h * ch);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data.set(px(x, y), (y * w + x) * ch);
  const file = join(dir, name);
  writeFileSync(file, await sharp(data, { raw: { width: w, height: h, channels: ch as 3 } }).png().toBuffer());
  return file;
}

const coords = png('coords.png', 40, 60, 3, (x, y) => [x, y, 7]);
const at = (a: Float32Array, size: number, x: number, y: number): number[] =>
  [0, 1, 2].map((c) => Math.round(a[(y * size + x) * 3 + c] * 255));
const opts = (augment: AugmentSpec | null, key = [1, 0, 0, 0]) =>
  ({ resize: 40, size: 20, augment, normalize: ID, key });

test('resizedDims follows torchvision Resize(int): shorter side = resize, longer floored', () => {
  assert.deepEqual(resizedDims(100, 150, 33), [33, 49]);
  assert.deepEqual(resizedDims(150, 100, 33), [49, 33]);
  assert.deepEqual(resizedDims(64, 64, 32), [32, 32]);
});

test('decodeResized resizes the shorter side to resize (portrait and landscape)', async () => {
  const p = await png('p.png', 100, 150, 3, () => [1, 2, 3]);
  const l = await png('l.png', 150, 100, 3, () => [1, 2, 3]);
  const a = await decodeResized(p, 33);
  const b = await decodeResized(l, 33);
  assert.deepEqual([a.width, a.height, a.data.length], [33, 49, 33 * 49 * 3]);
  assert.deepEqual([b.width, b.height], [49, 33]);
});

test('a plain view is the torchvision centre crop', async () => {
  const out = await loadImage(await coords, opts(null));
  assert.equal(out.length, 20 * 20 * 3);
  assert.deepEqual(at(out, 20, 0, 0), [10, 20, 7]); // round((40-20)/2), round((60-20)/2)
  assert.deepEqual(at(out, 20, 19, 19), [29, 39, 7]);
});

test('random crops stay inside the image, cover its range and are keyed', async () => {
  const file = await coords;
  const lefts = new Set<number>();
  const tops = new Set<number>();
  for (let k = 0; k < 150; k++) {
    const out = await loadImage(file, opts({ random_crop: true }, [3, 1, k, 0]));
    const [l, t] = at(out, 20, 0, 0);
    assert.ok(l >= 0 && l <= 20 && t >= 0 && t <= 40, `offset ${l},${t}`);
    assert.deepEqual(at(out, 20, 19, 19), [l + 19, t + 19, 7]); // a translated window, unscaled
    lefts.add(l);
    tops.add(t);
  }
  assert.ok(lefts.has(0) && lefts.has(20) && tops.size > 20, 'both extremes are reachable');
  const a = await loadImage(file, opts({ random_crop: true, hflip: true }, [5, 2, 9, 1]));
  const b = await loadImage(file, opts({ random_crop: true, hflip: true }, [5, 2, 9, 1]));
  assert.deepEqual(a, b, 'same key, same tensor');
});

test('flips mirror the crop', async () => {
  const file = await coords;
  // the draw order is fixed, so the same key gives the same crop with and without a flip
  const seen = [false, false];
  for (let k = 0; k < 20; k++) {
    const key = [0, 0, k, 0];
    const plain = await loadImage(file, opts({ random_crop: true }, key));
    const h = await loadImage(file, opts({ random_crop: true, hflip: true }, key));
    const v = await loadImage(file, opts({ random_crop: true, vflip: true }, key));
    const [l, t] = at(plain, 20, 0, 0);
    const [hl] = at(h, 20, 0, 0);
    if (hl === l + 19) {
      seen[0] = true;
      for (let x = 0; x < 20; x++) assert.deepEqual(at(h, 20, x, 3), at(plain, 20, 19 - x, 3));
    } else assert.deepEqual(h, plain);
    const [, vt] = at(v, 20, 0, 0);
    if (vt === t + 19) {
      seen[1] = true;
      for (let y = 0; y < 20; y++) assert.deepEqual(at(v, 20, 5, y), at(plain, 20, 5, 19 - y));
    } else assert.deepEqual(v, plain);
  }
  assert.deepEqual(seen, [true, true]);
});

test('random resized crops take a sub-window, resampled to size, keyed', async () => {
  const file = await coords;
  const spec = { random_resized_crop: { enabled: true, scale: [0.2, 0.6] as [number, number] } };
  const outs = [];
  for (let k = 0; k < 6; k++) {
    const out = await loadImage(file, opts(spec, [1, 0, k, 0]));
    const first = at(out, 20, 0, 10)[0];
    const last = at(out, 20, 19, 10)[0];
    assert.ok(first >= 0 && last <= 39 && last > first, `x range ${first}..${last}`);
    assert.ok(last - first < 39, 'not the whole width');
    outs.push(out);
  }
  assert.notDeepEqual(outs[0], outs[1]);
  assert.deepEqual(await loadImage(file, opts(spec, [1, 0, 0, 0])), outs[0]);
});

test('different keys give different views', async () => {
  const file = await coords;
  const spec: AugmentSpec = { random_crop: true, hflip: true, vflip: true };
  const distinct = new Set<string>();
  for (let k = 0; k < 8; k++) distinct.add((await loadImage(file, opts(spec, [7, k, 3, 0]))).slice(0, 6).join());
  assert.ok(distinct.size >= 6);
});

test('normalisation is (v/255 - mean) / std per channel', async () => {
  const file = await png('flat.png', 8, 8, 3, () => [255, 0, 51]);
  const out = await loadImage(file, { resize: 8, size: 4, augment: null, normalize: { mean: [0.5, 0.5, 0.1], std: [0.25, 0.5, 2] }, key: [0] });
  assert.ok(Math.abs(out[0] - 2) < 1e-6 && Math.abs(out[1] + 1) < 1e-6 && Math.abs(out[2] - (0.2 - 0.1) / 2) < 1e-6);
});

test('grayscale becomes three equal channels; alpha is flattened on white', async () => {
  const g = await png('gray.png', 4, 4, 1, (x) => [x * 50]);
  const out = await loadImage(g, { resize: 4, size: 4, augment: null, normalize: ID, key: [0] });
  assert.deepEqual(at(out, 4, 2, 1), [100, 100, 100]);
  const a = await png('alpha.png', 4, 4, 4, (x) => (x < 2 ? [10, 20, 30, 0] : [10, 20, 30, 255]));
  const o2 = await loadImage(a, { resize: 4, size: 4, augment: null, normalize: ID, key: [0] });
  assert.deepEqual(at(o2, 4, 0, 0), [255, 255, 255]);
  assert.deepEqual(at(o2, 4, 3, 0), [10, 20, 30]);
});

test('colour jitter of zero strength is the identity; enabled jitter changes colours', async () => {
  const file = await png('colour.png', 16, 16, 3, (x, y) => [x * 15, y * 15, 128]);
  const base = { resize: 16, size: 16, normalize: ID, key: [4, 0, 0, 0] };
  const plain = await loadImage(file, { ...base, augment: { hflip: true } });
  const zero = await loadImage(file, { ...base, augment: { hflip: true, color_jitter: { enabled: true, brightness: 0, contrast: 0, saturation: 0, hue: 0 } } });
  assert.deepEqual(zero, plain);
  const jit = await loadImage(file, { ...base, augment: { hflip: true, color_jitter: { enabled: true, brightness: 0.4, contrast: 0.4, saturation: 0.4, hue: 0.1 } } });
  assert.notDeepEqual(jit, plain);
  for (const v of jit) assert.ok(v >= 0 && v <= 1);
});

test('jitter ops follow torchvision semantics', () => {
  const px = () => Float32Array.from([1, 0, 0, 0.2, 0.4, 0.6]);
  const b = px();
  applyJitter(b, [{ op: 'brightness', factor: 1.5 }]);
  assert.deepEqual(Array.from(b, (v) => +v.toFixed(4)), [1, 0, 0, 0.3, 0.6, 0.9]);
  const s = px();
  applyJitter(s, [{ op: 'saturation', factor: 0 }]);
  assert.ok(Math.abs(s[0] - 0.2989) < 1e-6 && Math.abs(s[1] - 0.2989) < 1e-6, 'saturation 0 = luma');
  const c = px();
  applyJitter(c, [{ op: 'contrast', factor: 0 }]);
  const mean = (0.2989 + (0.2989 * 0.2 + 0.587 * 0.4 + 0.114 * 0.6)) / 2;
  for (const v of c) assert.ok(Math.abs(v - mean) < 1e-6, 'contrast 0 = mean gray');
  const h = px();
  applyJitter(h, [{ op: 'hue', shift: 1 / 3 }]);
  assert.deepEqual(Array.from(h.slice(0, 3), (v) => +v.toFixed(4)), [0, 1, 0]); // red -> green
});

test('a sharp error keeps only its own first clause: libvips\' shared error buffer can append other decodes\' errors', async () => {
  const { sharpDetail } = await import('../../src/data/image.ts');
  assert.equal(sharpDetail(new Error('Input buffer has corrupt header: VipsJpeg: premature end of JPEG image; VipsJpeg: JPEG datastream contains no image; VipsJpeg: premature end of JPEG image')),
    'Input buffer has corrupt header: VipsJpeg: premature end of JPEG image');
  assert.equal(sharpDetail(new Error('VipsJpeg: Corrupt JPEG data\nVipsJpeg: other')), 'VipsJpeg: Corrupt JPEG data');
  assert.equal(sharpDetail(new Error('Input file is missing')), 'Input file is missing');
});

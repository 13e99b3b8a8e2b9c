// The libjpeg-turbo fast path (native/jpeg, src/data/jpeg.ts) against the sharp pipeline: the same
// view (crop, flips, random resized crop) within a small resampling difference, bit-identical when no
// resampling happens (the resized-image cache's case), and every unusual or damaged file handed to
// sharp, so bad-image handling is the same whichever decoder runs. Skipped when the addon is not
// built (apt-get install libjpeg62-turbo-dev && npm rebuild); .ci/run installs the package.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp, { type Sharp } from 'sharp';
import { BadImageError, loadImage, type AugmentSpec } from '../../src/data/image.ts';
import { jpegAddon, jpegUnavailableReason, looksLikeCompleteJpeg, resolveDecoder } from '../../src/data/jpeg.ts';
import { decoderDiffers } from '../../src/runs/reproduce.ts';
import type { RunJson } from '../../src/runs/schemas.ts';

const addon = jpegAddon();
const skip = addon ? false : `the JPEG addon is not built: ${jpegUnavailableReason}`;
if (skip) console.log(`# skipping libjpeg-turbo tests: ${skip}`);

const dir = mkdtempSync(join(tmpdir(), 'exp-jpeg-'));
const ID = { mean: [0, 0, 0], std: [1, 1, 1] }; // out = v / 255
const W = 300;
const H = 420;

/** Ramps (R = x, G = y, scaled to 0..255) plus a smooth pattern in B: an offset shows as a bias. */
function rampPixels(w: number, h: number): Buffer {
  const data = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      data.set([Math.round((x * 255) / (w - 1)), Math.round((y * 255) / (h - 1)),
        Math.round(128 + 60 * Math.sin(x / 9) * Math.cos(y / 13))], (y * w + x) * 3);
    }
  }
  return data;
}

async function writeJpeg(name: string, img: Sharp): Promise<string> {
  const file = join(dir, name);
  writeFileSync(file, await img.toBuffer());
  return file;
}
const raw = (w: number, h: number) => sharp(rampPixels(w, h), { raw: { width: w, height: h, channels: 3 } });
const ramp = writeJpeg('ramp.jpg', raw(W, H).jpeg({ quality: 95 }));

const native = () => resolveDecoder('libjpeg-turbo');
const viaSharp = resolveDecoder('sharp');

/** mean and max |a - b| in 0..255 units */
function diff(a: Float32Array, b: Float32Array): { mean: number; max: number } {
  let s = 0;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]) * 255;
    s += d;
    m = Math.max(m, d);
  }
  return { mean: s / a.length, max: m };
}

async function both(file: string, resize: number, size: number, augment: AugmentSpec | null, key: number[]) {
  const o = { resize, size, augment, normalize: ID, key };
  return [await loadImage(file, { ...o, decoder: native() }), await loadImage(file, { ...o, decoder: viaSharp })];
}

test('without resampling (a crop of an image already at the resize size) the fast path is bit-identical to sharp', { skip }, async () => {
  const file = await ramp;
  for (let k = 0; k < 8; k++) {
    const [a, b] = await both(file, 300, 200, { random_crop: true, hflip: true, vflip: true }, [2, 0, k, 0]);
    assert.deepEqual(a, b, `key ${k}`);
  }
  const [a, b] = await both(file, 300, 300, null, [0]);
  assert.deepEqual(a, b, 'centre crop');
});

test('a crop of a downscaled image (DCT scaling + crop window) matches sharp within resampling error', { skip }, async () => {
  const file = await ramp;
  // 300 -> 128 decodes at 4/8 scale; 300 -> 200 at 6/8
  for (const [resize, size] of [[128, 96], [200, 160], [64, 64]]) {
    for (let k = 0; k < 6; k++) {
      const [a, b] = await both(file, resize, size, { random_crop: true, hflip: true, vflip: true }, [3, 1, k, 0]);
      const d = diff(a, b);
      // a one-pixel offset would cost about 2-4 units on the ramps everywhere
      assert.ok(d.mean < 1, `resize ${resize} crop ${size} key ${k}: mean |diff| ${d.mean.toFixed(2)}`);
      assert.ok(d.max <= 8, `resize ${resize} crop ${size} key ${k}: max |diff| ${d.max}`);
    }
  }
});

test('DCT scaling keeps the geometry for sizes that are not multiples of 8 (no drift across the image)', { skip }, async () => {
  // 301 px at 2/8 decodes to ceil(75.25) = 76 px whose last pixel is partial: mapping by the decoded
  // width instead of 301 * 2/8 shifts the far side by most of a pixel, a bias on the R (x) ramp
  const file = await writeJpeg('odd.jpg', raw(301, 419).jpeg({ quality: 95 }));
  for (let k = 0; k < 6; k++) {
    const [a, b] = await both(file, 64, 48, { random_crop: true }, [8, 0, k, 0]);
    const bias = [0, 0];
    for (let i = 0; i < a.length; i += 3) {
      bias[0] += (a[i] - b[i]) * 255;
      bias[1] += (a[i + 1] - b[i + 1]) * 255;
    }
    const n = a.length / 3;
    assert.ok(Math.abs(bias[0] / n) < 1 && Math.abs(bias[1] / n) < 1, `key ${k}: bias R ${bias[0] / n}, G ${bias[1] / n}`);
    assert.ok(diff(a, b).mean < 1.5);
  }
});

test('random resized crops and upscaling match sharp within resampling error', { skip }, async () => {
  const file = await ramp;
  const rrc: AugmentSpec = { random_resized_crop: { enabled: true }, hflip: true };
  for (let k = 0; k < 8; k++) {
    const d = diff(...(await both(file, 160, 128, rrc, [4, 0, k, 0])) as [Float32Array, Float32Array]);
    assert.ok(d.mean < 2 && d.max <= 16, `rrc key ${k}: mean ${d.mean.toFixed(2)} max ${d.max}`);
  }
  const up = diff(...(await both(file, 420, 300, { random_crop: true }, [5, 0, 0, 0])) as [Float32Array, Float32Array]);
  assert.ok(up.mean < 1.5 && up.max <= 8, `upscaled: mean ${up.mean.toFixed(2)} max ${up.max}`);
});

test('the fast path is deterministic and safe under concurrency', { skip }, async () => {
  const file = await ramp;
  const spec: AugmentSpec = { random_crop: true, hflip: true };
  const o = (k: number) => ({ resize: 128, size: 96, augment: spec, normalize: ID, key: [6, 0, k, 0], decoder: native() });
  const sequential = [];
  for (let k = 0; k < 16; k++) sequential.push(await loadImage(file, o(k)));
  const parallel = await Promise.all(Array.from({ length: 16 }, (_, k) => loadImage(file, o(k))));
  assert.deepEqual(parallel, sequential);
  assert.notDeepEqual(sequential[0], sequential[1], 'different keys, different views');
});

test('grayscale JPEGs become three equal channels, as with sharp', { skip }, async () => {
  const file = await writeJpeg('gray.jpg', raw(W, H).greyscale().jpeg({ quality: 95 }));
  const [a, b] = await both(file, 150, 128, { random_crop: true }, [7, 0, 0, 0]);
  for (let i = 0; i < a.length; i += 3) assert.ok(a[i] === a[i + 1] && a[i] === a[i + 2]);
  assert.ok(diff(a, b).mean < 1);
});

test('CMYK JPEGs, trailing bytes and corrupt scans are decoded by sharp instead', { skip }, async () => {
  const cmyk = await writeJpeg('cmyk.jpg', raw(W, H).toColourspace('cmyk').jpeg({ quality: 95 }));
  const [a, b] = await both(cmyk, 128, 96, null, [0]);
  assert.deepEqual(a, b, 'CMYK: the same decoder ran');

  const good = readFileSync(await ramp);
  const trailing = join(dir, 'trailing.jpg');
  writeFileSync(trailing, Buffer.concat([good, Buffer.from('appended by a scanner')]));
  assert.equal(looksLikeCompleteJpeg(readFileSync(trailing)), false);
  const [c, d] = await both(trailing, 128, 96, null, [0]);
  assert.deepEqual(c, d, 'trailing bytes: sharp decoded it');

  // damage the entropy-coded data in the middle: libjpeg warns, so sharp gets the file
  const corrupt = Buffer.from(good);
  for (let i = Math.floor(corrupt.length / 2); i < corrupt.length / 2 + 64; i++) corrupt[i] = 0xff;
  const bad = join(dir, 'corrupt.jpg');
  writeFileSync(bad, corrupt);
  const outcome = async (decoder: ReturnType<typeof native>) => {
    try {
      return await loadImage(bad, { resize: 300, size: 300, augment: null, normalize: ID, key: [0], decoder });
    } catch (e) {
      return e instanceof BadImageError ? e.reason : e;
    }
  };
  assert.deepEqual(await outcome(native()), await outcome(viaSharp));
});

test('a truncated JPEG is "truncated or corrupt" with the fast path on, as with sharp', { skip }, async () => {
  const good = readFileSync(await ramp);
  const cut = join(dir, 'cut.jpg');
  writeFileSync(cut, good.subarray(0, Math.floor(good.length * 0.9)));
  for (const decoder of [native(), viaSharp]) {
    // the crop lies in the top rows, which are intact: the file is still refused
    await assert.rejects(
      loadImage(cut, { resize: 300, size: 64, augment: null, normalize: ID, key: [0], decoder }),
      (e: unknown) => e instanceof BadImageError && e.reason === 'truncated or corrupt',
    );
  }
});

test('the decoder choice: sharp never uses the addon; libjpeg-turbo requires it; the record names it', () => {
  assert.equal(viaSharp.jpeg, null);
  assert.match(viaSharp.description, /^sharp \S+ \(libvips \S+\)$/);
  const auto = resolveDecoder('auto');
  if (addon) assert.match(auto.description, /^libjpeg-turbo \S+ \(exp_jpeg\) for JPEG, sharp/);
  else assert.equal(auto.description, viaSharp.description);
  // with the addon hidden, asking for it is a user error that says how to get it
  const r = spawnSync(process.execPath, ['--import', 'tsx', '-e',
    "import('./src/data/jpeg.ts').then((m) => m.resolveDecoder('libjpeg-turbo')).catch((e) => { console.log(e.name + ': ' + e.message); })"],
  { encoding: 'utf8', env: { ...process.env, EXP_NO_JPEG_ADDON: '1' } });
  assert.match(r.stdout, /UserError: data\.loader\.decoder: libjpeg-turbo is not available: EXP_NO_JPEG_ADDON is set/);
  assert.match(r.stdout, /set data\.loader\.decoder to auto/);
});

test('exp reproduce warns when this machine would decode with another decoder than the record says', () => {
  const runDir = mkdtempSync(join(tmpdir(), 'exp-jpeg-run-'));
  writeFileSync(join(runDir, 'config.yaml'), 'data:\n  loader:\n    decoder: sharp\n');
  const run = (decoder: string) => ({ data: { fingerprint: 'x', counts: { train: 1 }, decoder } }) as unknown as RunJson;
  assert.equal(decoderDiffers(run(viaSharp.description), runDir), null);
  const w = decoderDiffers(run('libjpeg-turbo 9.9.9 (exp_jpeg) for JPEG, sharp 0.0.0 (libvips 0.0.0) otherwise'), runDir);
  assert.match(w ?? '', /decoded by libjpeg-turbo 9\.9\.9 .*this machine would use sharp/);
  assert.equal(decoderDiffers({ data: null } as unknown as RunJson, runDir), null, 'older records say nothing');
});

test('damaged JPEGs never crash the decoder: each either decodes or is handed back to sharp', { skip }, async () => {
  const good = readFileSync(await ramp);
  let seed = 7;
  const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  const seen = { ok: 0, fallback: 0, noHeader: 0 };
  for (let it = 0; it < 300; it++) {
    const b = Buffer.from(good);
    for (let k = 0, n = 1 + Math.floor(rnd() * 20); k < n; k++) b[2 + Math.floor(rnd() * (b.length - 4))] = Math.floor(rnd() * 256);
    const h = addon!.header(b);
    if (!h) {
      seen.noHeader++;
      continue;
    }
    const rw = Math.max(1, Math.floor(rnd() * Math.min(h[0], 2000)));
    const rh = Math.max(1, Math.floor(rnd() * Math.min(h[1], 2000)));
    const size = 1 + Math.floor(rnd() * Math.min(rw, rh, 48));
    const r = await addon!.decodeView(b, rw, rh, Math.floor(rnd() * (rw - size + 1)), Math.floor(rnd() * (rh - size + 1)),
      size, size, size, size, new Uint8Array(size * size * 3));
    if (r.ok) seen.ok++;
    else seen.fallback++;
  }
  assert.ok(seen.ok > 0 && seen.fallback > 0, JSON.stringify(seen));
});

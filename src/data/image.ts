// The image pipeline: decode (sharp/libvips), resize so the shorter side is `resize`
// (torchvision Resize(int)), crop to `size`, flips, colour jitter, normalisation, into Float32 HWC.
// Geometry runs on libuv's thread pool: for JPEGs in exp's libjpeg-turbo addon when it is built
// (jpeg.ts: only the crop window is decoded, at a DCT scale), otherwise in one sharp pipeline; both
// resample with an antialiased bilinear filter, torchvision's default. The pixel work (flip, jitter,
// normalise) is one pass over the small Uint8 crop. EXIF orientation is ignored, as PIL's
// Image.open (what the reference recipe used) ignores it.
import { readFile } from 'node:fs/promises';
import sharp, { type Sharp, type Metadata, type OutputInfo } from 'sharp';
import { UserError } from '../errors.ts';
import { applyJitter, drawView, resizedDims, type AugmentSpec, type ViewParams } from './augment.ts';
import { looksLikeCompleteJpeg, resolveDecoder, type Decoder } from './jpeg.ts';

export type { AugmentSpec } from './augment.ts';

export interface Normalize {
  mean: readonly number[]; // RGB, 0..1 scale
  std: readonly number[];
}

/** An already-decoded RGB image (e.g. from the raw image cache), interleaved uint8. */
export interface RawImage {
  data: Uint8Array;
  width: number;
  height: number;
}

export interface ImageLoadOptions {
  resize: number;
  size: number;
  /** null: a plain view (centre crop, nothing random). */
  augment: AugmentSpec | null;
  normalize: Normalize;
  /** [seed, epoch, row, view]: the key of every random choice for this view. */
  key: readonly number[];
  /** Write into this buffer at `offset` (floats) instead of allocating. */
  out?: Float32Array;
  offset?: number;
  /** Which decoder handles JPEGs (default: data.loader.decoder auto). */
  decoder?: Decoder;
}

let defaultDecoder: Decoder | undefined;

export type BadImageReason = 'missing' | 'empty' | 'not an image' | 'truncated or corrupt';

/** A file that cannot be used as an image; the loader turns it into a UserError or a skip. */
export class BadImageError extends Error {
  constructor(readonly file: string, readonly reason: BadImageReason, readonly detail: string) {
    super(`${file}: ${reason}${detail ? ` (${detail})` : ''}`);
    this.name = 'BadImageError';
  }
}

// 'truncated': fail on a JPEG/PNG that ends early, but accept the minor warnings that PIL accepts.
const SHARP_INPUT = { failOn: 'truncated' as const, limitInputPixels: 1 << 28 };

export function checkGeometry(resize: number, size: number): void {
  if (!(Number.isInteger(resize) && Number.isInteger(size) && size >= 1 && size <= resize)) {
    throw new UserError(
      `data.image: size (${size}) must be a positive integer no larger than resize (${resize}); ` +
        'the crop is taken from the image resized so that its shorter side is `resize`.',
    );
  }
}

async function readSource(file: string): Promise<Buffer> {
  // one read serves both the header parse and the decode (sharp(path) would open the file twice)
  let buf: Buffer;
  try {
    buf = await readFile(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EISDIR') throw new BadImageError(file, 'not an image', 'a directory');
    throw new BadImageError(file, 'missing', code === 'ENOENT' ? '' : String(code));
  }
  if (buf.length === 0) throw new BadImageError(file, 'empty', '0 bytes');
  checkComplete(buf, file);
  return buf;
}

const TAIL = 64 * 1024;
/**
 * A JPEG without its end-of-image marker, or a PNG without its IEND chunk, was cut short. Decoders
 * stop at the last row a crop needs, so without this check a truncated file would fail or not
 * depending on where the random crop falls (PIL, which decodes everything, always refuses it).
 * The marker is looked for in the last 64 KB: bytes appended after it are allowed.
 */
function checkComplete(buf: Buffer, name: string): void {
  const from = Math.max(0, buf.length - TAIL);
  if (buf.length > 3 && buf[0] === 0xff && buf[1] === 0xd8 && buf[2] === 0xff) {
    // inside entropy-coded data 0xff is always followed by 0x00 or a restart marker, so FF D9 is EOI
    if (buf.lastIndexOf(EOI, buf.length) < from) {
      throw new BadImageError(name, 'truncated or corrupt', 'the JPEG has no end-of-image marker: the file is cut short');
    }
  } else if (buf.length > 8 && buf.subarray(0, 8).equals(PNG_SIGNATURE)) {
    if (buf.lastIndexOf(IEND, buf.length) < from) {
      throw new BadImageError(name, 'truncated or corrupt', 'the PNG has no IEND chunk: the file is cut short');
    }
  }
}
const EOI = Buffer.from([0xff, 0xd9]);
const IEND = Buffer.from('IEND', 'latin1');
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** A sharp error's own words. libvips keeps one error buffer per process, so the message of a
 * failed decode can carry other images' errors from concurrent decodes after its first clause
 * ("...: premature end of JPEG image; VipsJpeg: JPEG datastream contains no image; ..."): only the
 * first clause belongs to this file, and keeping only it makes the recorded detail repeatable. */
export function sharpDetail(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.split('\n')[0].split('; ')[0].trim();
}

/** Open a decoder and read the header; classifies missing, empty and non-image inputs. */
async function open(src: string | Buffer, name = typeof src === 'string' ? src : '<buffer>'): Promise<{ img: Sharp; width: number; height: number; alpha: boolean }> {
  const buf = typeof src === 'string' ? await readSource(src) : src;
  if (buf.length === 0) throw new BadImageError(name, 'empty', '0 bytes');
  const img = sharp(buf, SHARP_INPUT);
  let meta: Metadata;
  try {
    meta = await img.metadata();
  } catch (e) {
    throw new BadImageError(name, 'not an image', sharpDetail(e));
  }
  if (!meta.width || !meta.height) throw new BadImageError(name, 'not an image', 'no dimensions');
  return { img, width: meta.width, height: meta.height, alpha: !!meta.hasAlpha };
}

/** Run the pipeline to raw uint8 RGB; a decode failure after a valid header means a damaged file. */
async function toRaw(img: Sharp, name: string, alpha: boolean): Promise<{ data: Buffer; info: OutputInfo }> {
  // alpha is flattened on white (scanned sheets are white paper); gray becomes 3 equal channels
  if (alpha) img = img.flatten({ background: '#ffffff' });
  try {
    return await img.toColourspace('srgb').raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  } catch (e) {
    throw new BadImageError(name, 'truncated or corrupt', sharpDetail(e));
  }
}

/** Decode and resize (shorter side = resize) to raw RGB: what the cache stores and stats read. */
export async function decodeResized(src: string | Buffer, resize: number): Promise<RawImage> {
  const { img, width, height, alpha } = await open(src);
  const [w, h] = resizedDims(width, height, resize);
  const resized = img.resize(w, h, { fit: 'fill', fastShrinkOnLoad: true });
  const { data, info } = await toRaw(resized, typeof src === 'string' ? src : '<buffer>', alpha);
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height };
}

/**
 * One view of one image as Float32 HWC (size*size*3), normalised. `src` is a file (JPEG, PNG, ...)
 * or a RawImage; either may already be at the resize size (the image cache), then no resampling
 * happens. Throws BadImageError for files that are not usable images.
 */
export async function loadImage(src: string | RawImage, opts: ImageLoadOptions): Promise<Float32Array> {
  const { resize, size } = opts;
  checkGeometry(resize, size);
  const out = opts.out ?? new Float32Array(size * size * 3);
  const offset = opts.offset ?? 0;
  if (typeof src !== 'string') {
    const [w, h] = resizedDims(src.width, src.height, resize);
    const p = drawView(opts.augment, opts.key, w, h, size);
    if (w === src.width && h === src.height && !p.resample) {
      // cached raw pixels at the right size: crop directly, no decoder at all
      writePixels(src.data, src.width, p.box.left, p.box.top, size, p, opts.normalize, out, offset);
      return out;
    }
    const raw = Buffer.from(src.data.buffer, src.data.byteOffset, src.data.length);
    const img = sharp(raw, { raw: { width: src.width, height: src.height, channels: 3 } });
    const crop = await cropPipeline(img, src.width, src.height, w, h, p, size, '<raw>', false);
    writePixels(crop, size, 0, 0, size, p, opts.normalize, out, offset);
    return out;
  }
  const buf = await readSource(src);
  const jpeg = (opts.decoder ?? (defaultDecoder ??= resolveDecoder('auto'))).jpeg;
  if (jpeg && looksLikeCompleteJpeg(buf)) {
    const header = jpeg.header(buf);
    if (header) {
      const [w, h] = resizedDims(header[0], header[1], resize);
      const p = drawView(opts.augment, opts.key, w, h, size);
      const crop = new Uint8Array(size * size * 3);
      const b = p.box;
      const r = await jpeg.decodeView(buf, w, h, b.left, b.top, b.width, b.height, size, size, crop);
      if (r.ok) {
        writePixels(crop, size, 0, 0, size, p, opts.normalize, out, offset);
        return out;
      }
      // anything libjpeg warned about: sharp decides (and classifies a damaged file)
    }
  }
  const { img, width, height, alpha } = await open(buf, src);
  const [w, h] = resizedDims(width, height, resize);
  const p = drawView(opts.augment, opts.key, w, h, size);
  const crop = await cropPipeline(img, width, height, w, h, p, size, src, alpha);
  writePixels(crop, size, 0, 0, size, p, opts.normalize, out, offset);
  return out;
}

/** sharp geometry: resize to w x h then extract the box, or (resampled crop) extract then resize. */
async function cropPipeline(
  img: Sharp, width: number, height: number, w: number, h: number,
  p: ViewParams, size: number, name: string, alpha: boolean,
): Promise<Uint8Array> {
  const b = p.box;
  if (p.resample) {
    // map the box from resized to source coordinates: one resampling step instead of two
    const sx = width / w;
    const sy = height / h;
    const left = Math.min(width - 1, Math.round(b.left * sx));
    const top = Math.min(height - 1, Math.round(b.top * sy));
    const bw = Math.max(1, Math.min(width - left, Math.round(b.width * sx)));
    const bh = Math.max(1, Math.min(height - top, Math.round(b.height * sy)));
    img = img.extract({ left, top, width: bw, height: bh }).resize(size, size, { fit: 'fill', kernel: 'linear' });
  } else {
    if (w !== width || h !== height) img = img.resize(w, h, { fit: 'fill', kernel: 'linear', fastShrinkOnLoad: true });
    img = img.extract({ left: b.left, top: b.top, width: size, height: size });
  }
  const { data } = await toRaw(img, name, alpha);
  return data;
}

const lutCache = new Map<string, Float32Array>();

/** (v / 255 - mean) / std for every uint8 value and channel: the normalisation is a table lookup. */
function normLut(n: Normalize): Float32Array {
  const k = `${n.mean.join(',')}/${n.std.join(',')}`;
  let lut = lutCache.get(k);
  if (!lut) {
    lut = new Float32Array(768);
    for (let c = 0; c < 3; c++) {
      if (!(n.std[c] > 0)) throw new UserError(`normalize.std must be positive, got [${n.std.join(', ')}]`);
      for (let v = 0; v < 256; v++) lut[c * 256 + v] = (v / 255 - n.mean[c]) / n.std[c];
    }
    if (lutCache.size > 64) lutCache.clear();
    lutCache.set(k, lut);
  }
  return lut;
}

/**
 * The one per-pixel pass: read the size x size window at (left, top) of an RGB buffer of row width
 * srcW, mirror it (flips are free here: only the read index changes), and write normalised floats.
 * With colour jitter, the window goes through a [0, 1] float buffer first.
 */
function writePixels(
  src: Uint8Array, srcW: number, left: number, top: number, size: number,
  p: ViewParams, norm: Normalize, out: Float32Array, offset: number,
): void {
  const jitter = p.jitter.length > 0;
  const lut = normLut(norm);
  const tmp = jitter ? new Float32Array(size * size * 3) : null;
  let o = jitter ? 0 : offset;
  for (let y = 0; y < size; y++) {
    const sy = top + (p.vflip ? size - 1 - y : y);
    const rowBase = (sy * srcW + left) * 3;
    for (let x = 0; x < size; x++) {
      const i = rowBase + (p.hflip ? size - 1 - x : x) * 3;
      if (tmp) {
        tmp[o] = src[i] / 255;
        tmp[o + 1] = src[i + 1] / 255;
        tmp[o + 2] = src[i + 2] / 255;
      } else {
        out[o] = lut[src[i]];
        out[o + 1] = lut[256 + src[i + 1]];
        out[o + 2] = lut[512 + src[i + 2]];
      }
      o += 3;
    }
  }
  if (!tmp) return;
  applyJitter(tmp, p.jitter);
  const m = norm.mean;
  const inv = [1 / norm.std[0], 1 / norm.std[1], 1 / norm.std[2]];
  for (let i = 0; i < tmp.length; i += 3) {
    out[offset + i] = (tmp[i] - m[0]) * inv[0];
    out[offset + i + 1] = (tmp[i + 1] - m[1]) * inv[1];
    out[offset + i + 2] = (tmp[i + 2] - m[2]) * inv[2];
  }
}

// Augmentation parameters and the per-pixel colour operations, as pure functions.
// Every random choice is drawn here from one Rng keyed by (seed, epoch, row, view), always in the
// same order, so the same key gives the same crop, flips and jitter on any machine and under any
// concurrency. Geometry semantics follow torchvision (RandomCrop, CenterCrop, RandomResizedCrop,
// ColorJitter on float tensors); the image pipeline (image.ts) executes what is drawn here.
import { Rng } from '../util/rng.ts';

/** The experiment file's `augment` block. Missing keys mean "off". */
export interface AugmentSpec {
  /** Random `size` crop of the resized image (a centre crop when false). */
  random_crop?: boolean;
  /** Random area/aspect crop resized to `size`; replaces random_crop when enabled. */
  random_resized_crop?: { enabled?: boolean; scale?: [number, number]; ratio?: [number, number] };
  hflip?: boolean;
  vflip?: boolean;
  color_jitter?: {
    enabled?: boolean;
    brightness?: number;
    contrast?: number;
    saturation?: number;
    hue?: number;
  };
}

/** A crop box in the coordinates of the resized image (shorter side = resize). */
export interface Box {
  left: number;
  top: number;
  width: number;
  height: number;
}

export type JitterOp =
  | { op: 'brightness'; factor: number }
  | { op: 'contrast'; factor: number }
  | { op: 'saturation'; factor: number }
  | { op: 'hue'; shift: number };

/** Everything one view of one image needs: drawn once, then executed. */
export interface ViewParams {
  box: Box;
  /** true when the box is resampled to size x size (random resized crop). */
  resample: boolean;
  hflip: boolean;
  vflip: boolean;
  jitter: JitterOp[];
}

/** torchvision Resize(int): the shorter side becomes `resize`, the longer keeps the aspect (floored). */
export function resizedDims(width: number, height: number, resize: number): [number, number] {
  if (width <= height) return [resize, Math.max(1, Math.floor((resize * height) / width))];
  return [Math.max(1, Math.floor((resize * width) / height)), resize];
}

/** torchvision CenterCrop offsets: round((dim - size) / 2). */
export function centerBox(w: number, h: number, size: number): Box {
  return { left: Math.round((w - size) / 2), top: Math.round((h - size) / 2), width: size, height: size };
}

/** torchvision RandomResizedCrop.get_params, drawn from `rng`. */
export function randomResizedBox(
  rng: Rng, w: number, h: number, scale: [number, number], ratio: [number, number],
): Box {
  const area = w * h;
  const logR = [Math.log(ratio[0]), Math.log(ratio[1])];
  for (let attempt = 0; attempt < 10; attempt++) {
    const target = area * rng.uniform(scale[0], scale[1]);
    const aspect = Math.exp(rng.uniform(logR[0], logR[1]));
    const cw = Math.round(Math.sqrt(target * aspect));
    const ch = Math.round(Math.sqrt(target / aspect));
    if (cw > 0 && cw <= w && ch > 0 && ch <= h) {
      return { top: rng.int(h - ch + 1), left: rng.int(w - cw + 1), width: cw, height: ch };
    }
  }
  // fallback: the whole image, clamped to the ratio range, centred (as torchvision)
  const inRatio = w / h;
  let cw = w;
  let ch = h;
  if (inRatio < ratio[0]) ch = Math.round(w / ratio[0]);
  else if (inRatio > ratio[1]) cw = Math.round(h * ratio[1]);
  return { left: Math.floor((w - cw) / 2), top: Math.floor((h - ch) / 2), width: cw, height: ch };
}

/**
 * Draw the parameters of one view of an image whose resized size is w x h.
 * `spec` null means a plain view: centre crop, no flips, no jitter.
 */
export function drawView(
  spec: AugmentSpec | null, key: readonly number[], w: number, h: number, size: number,
): ViewParams {
  const plain: ViewParams = { box: centerBox(w, h, size), resample: false, hflip: false, vflip: false, jitter: [] };
  if (!spec) return plain;
  const rng = new Rng(...key);
  const rrc = spec.random_resized_crop;
  if (rrc?.enabled) {
    plain.box = randomResizedBox(rng, w, h, rrc.scale ?? [0.08, 1], rrc.ratio ?? [3 / 4, 4 / 3]);
    plain.resample = true;
  } else if (spec.random_crop) {
    // torchvision RandomCrop: top in [0, h - size], left in [0, w - size], both inclusive
    plain.box = { top: rng.int(h - size + 1), left: rng.int(w - size + 1), width: size, height: size };
  }
  plain.hflip = !!spec.hflip && rng.next() < 0.5;
  plain.vflip = !!spec.vflip && rng.next() < 0.5;
  const cj = spec.color_jitter;
  if (cj?.enabled) plain.jitter = drawJitter(rng, cj);
  return plain;
}

function drawJitter(rng: Rng, cj: NonNullable<AugmentSpec['color_jitter']>): JitterOp[] {
  // torchvision ColorJitter: the four ops in a random order, a factor per op from its range;
  // a strength of 0 leaves the op out (torchvision stores None), so zero strength is the identity.
  const order = rng.shuffle([0, 1, 2, 3]) as number[];
  const factor = (s: number | undefined): number | null =>
    s && s > 0 ? rng.uniform(Math.max(0, 1 - s), 1 + s) : null;
  const b = factor(cj.brightness);
  const c = factor(cj.contrast);
  const s = factor(cj.saturation);
  const hue = cj.hue && cj.hue > 0 ? rng.uniform(-Math.min(cj.hue, 0.5), Math.min(cj.hue, 0.5)) : null;
  const ops: JitterOp[] = [];
  for (const i of order) {
    if (i === 0 && b !== null) ops.push({ op: 'brightness', factor: b });
    if (i === 1 && c !== null) ops.push({ op: 'contrast', factor: c });
    if (i === 2 && s !== null) ops.push({ op: 'saturation', factor: s });
    if (i === 3 && hue !== null) ops.push({ op: 'hue', shift: hue });
  }
  return ops;
}

const clamp01 = (v: number): number => (v < 0 ? 0 : v > 1 ? 1 : v);

/** Apply jitter ops in place to interleaved RGB floats in [0, 1] (torchvision tensor semantics). */
export function applyJitter(px: Float32Array, ops: JitterOp[]): void {
  const n = px.length;
  for (const o of ops) {
    if (o.op === 'brightness') {
      for (let i = 0; i < n; i++) px[i] = clamp01(px[i] * o.factor);
    } else if (o.op === 'contrast') {
      // blend with the mean of the grayscale image (ITU-R 601-2 luma, as rgb_to_grayscale)
      let sum = 0;
      for (let i = 0; i < n; i += 3) sum += 0.2989 * px[i] + 0.587 * px[i + 1] + 0.114 * px[i + 2];
      const mean = sum / (n / 3);
      const f = o.factor;
      const m = (1 - f) * mean;
      for (let i = 0; i < n; i++) px[i] = clamp01(f * px[i] + m);
    } else if (o.op === 'saturation') {
      const f = o.factor;
      for (let i = 0; i < n; i += 3) {
        const g = (1 - f) * (0.2989 * px[i] + 0.587 * px[i + 1] + 0.114 * px[i + 2]);
        px[i] = clamp01(f * px[i] + g);
        px[i + 1] = clamp01(f * px[i + 1] + g);
        px[i + 2] = clamp01(f * px[i + 2] + g);
      }
    } else {
      for (let i = 0; i < n; i += 3) shiftHue(px, i, o.shift);
    }
  }
}

/** RGB -> HSV, h += shift (mod 1), HSV -> RGB, for the pixel at px[i..i+2]. */
function shiftHue(px: Float32Array, i: number, shift: number): void {
  const r = px[i];
  const g = px[i + 1];
  const b = px[i + 2];
  const max = Math.max(r, g, b);
  const min = Math.min(r, g, b);
  const d = max - min;
  if (d === 0) return; // gray: hue undefined, unchanged
  let h: number;
  if (max === r) h = ((g - b) / d) / 6;
  else if (max === g) h = ((b - r) / d + 2) / 6;
  else h = ((r - g) / d + 4) / 6;
  h = (((h + shift) % 1) + 1) % 1;
  const s = d / max;
  const v = max;
  const h6 = h * 6;
  const k = Math.floor(h6) % 6;
  const f = h6 - Math.floor(h6);
  const p = v * (1 - s);
  const q = v * (1 - s * f);
  const t = v * (1 - s * (1 - f));
  let R: number, G: number, B: number;
  switch (k) {
    case 0: R = v; G = t; B = p; break;
    case 1: R = q; G = v; B = p; break;
    case 2: R = p; G = v; B = t; break;
    case 3: R = p; G = q; B = v; break;
    case 4: R = t; G = p; B = v; break;
    default: R = v; G = p; B = q;
  }
  px[i] = R;
  px[i + 1] = G;
  px[i + 2] = B;
}

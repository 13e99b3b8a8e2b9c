// The JPEG fast path: exp's libjpeg-turbo addon (native/jpeg, built at install when the system's
// libjpeg-turbo headers are present; see scripts/build-native.js). It decodes one view of a JPEG
// (the crop of the image as resized) using DCT-domain scaling and crop-window decoding, then
// resamples with an antialiased bilinear filter: about 3x the sharp pipeline for a 224 crop of a
// herbarium sheet. Everything it does not handle (other formats, CMYK, damaged files) goes to sharp.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { UserError } from '../errors.ts';

export interface JpegAddon {
  /** [width, height, components], or null when libjpeg cannot read the header. */
  header(buf: Uint8Array): [number, number, number] | null;
  /**
   * Decode the box (resized-image coordinates) of the image as resized to resizedW x resizedH into
   * outW x outH RGB. ok false: the caller must decode with sharp (`why` says what was unusual).
   */
  decodeView(
    buf: Uint8Array, resizedW: number, resizedH: number,
    left: number, top: number, width: number, height: number,
    outW: number, outH: number, out: Uint8Array,
  ): Promise<{ ok: boolean; why: string; scaleNum: number }>;
  version: string;
}

/** data.loader.decoder */
export type DecoderChoice = 'auto' | 'sharp' | 'libjpeg-turbo';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const jpegAddonPath = join(root, 'build', 'Release', 'exp_jpeg.node');
const howToBuild = 'apt-get install libjpeg62-turbo-dev (Debian/Ubuntu: libjpeg-turbo8-dev) && npm rebuild';

let addon: JpegAddon | null | undefined;
/** Why the addon is not available (set once loading was tried and failed). */
export let jpegUnavailableReason: string | undefined;

/** The addon, loaded once; null when it is not built or does not load (EXP_NO_JPEG_ADDON=1 hides it). */
export function jpegAddon(): JpegAddon | null {
  if (addon !== undefined) return addon;
  addon = null;
  if (process.env.EXP_NO_JPEG_ADDON) jpegUnavailableReason = 'EXP_NO_JPEG_ADDON is set';
  else if (!existsSync(jpegAddonPath)) jpegUnavailableReason = `${jpegAddonPath} is not built (${howToBuild})`;
  else {
    try {
      addon = createRequire(import.meta.url)(jpegAddonPath) as JpegAddon;
    } catch (e) {
      jpegUnavailableReason = `${jpegAddonPath} did not load: ${String(e instanceof Error ? e.message : e).split('\n')[0]}`;
    }
  }
  return addon;
}

export interface Decoder {
  /** The JPEG fast path, or null: everything goes through sharp. */
  jpeg: JpegAddon | null;
  /** What the run record says decoded the images. */
  description: string;
}

const sharpDescription = (): string => `sharp ${sharp.versions.sharp} (libvips ${sharp.versions.vips})`;

/**
 * The decoder for data.loader.decoder: `auto` takes the fast path when it is built, `sharp` never
 * does, `libjpeg-turbo` requires it (a UserError saying how to build it otherwise).
 */
export function resolveDecoder(choice: DecoderChoice = 'auto'): Decoder {
  const jpeg = choice === 'sharp' ? null : jpegAddon();
  if (choice === 'libjpeg-turbo' && !jpeg) {
    throw new UserError(
      `data.loader.decoder: libjpeg-turbo is not available: ${jpegUnavailableReason}. ` +
        'Build it, or set data.loader.decoder to auto (sharp decodes when it is missing) or sharp.',
    );
  }
  return {
    jpeg,
    description: jpeg ? `${jpeg.version} (exp_jpeg) for JPEG, ${sharpDescription()} otherwise` : sharpDescription(),
  };
}

/** SOI at the start and EOI at the very end: anything else (truncated, trailing bytes) goes to sharp. */
export function looksLikeCompleteJpeg(buf: Uint8Array): boolean {
  const n = buf.length;
  return n > 4 && buf[0] === 0xff && buf[1] === 0xd8 && buf[2] === 0xff && buf[n - 2] === 0xff && buf[n - 1] === 0xd9;
}

// IEEE 754 binary16 <-> binary32 conversion, for float16 score files (halves a 17.7 GB file).
// Encoding rounds to nearest, ties to even, the rule numpy's astype(np.float16) follows, so a file
// written here holds the same bits numpy would write. Overflow goes to +-inf, NaN stays NaN.

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The binary16 bit pattern nearest to x (ties to even). */
export function toHalfBits(x: number): number {
  f32[0] = x;
  const bits = u32[0];
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  const mant = bits & 0x7fffff;
  if (exp === 0xff) return mant !== 0 ? sign | 0x7e00 : sign | 0x7c00; // NaN (quiet) or inf
  const e = exp - 127 + 15; // biased half exponent
  if (e >= 31) return sign | 0x7c00; // too large even before rounding
  if (e <= 0) {
    // Half subnormal (or zero): the value is m * 2^-24 with m = significand >> shift.
    // float32 subnormals (exp 0) are far below half's smallest subnormal and round to zero.
    if (exp === 0) return sign;
    const sig = mant | 0x800000; // 24-bit significand with the implicit 1
    const shift = 14 - e; // 13 for the mantissa width difference, plus 1 - e for denormalising
    if (shift > 24) return sign; // below half of the smallest subnormal: rounds to zero
    return sign | roundShift(sig, shift);
  }
  // Normal: a carry out of the mantissa bumps the exponent, and from 30 to 31 gives inf. Correct.
  return sign | roundShift((e << 23) | mant, 13);
}

/** v >> shift, rounded to nearest with ties to even. shift in 1..24, v < 2^31. */
function roundShift(v: number, shift: number): number {
  const q = v >>> shift;
  const rem = v & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  return rem > half || (rem === half && (q & 1) === 1) ? q + 1 : q;
}

/** Float value of every binary16 pattern; a lookup beats bit twiddling when decoding large files. */
const HALF_TABLE: Float32Array = (() => {
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) t[h] = halfBitsToNumber(h);
  return t;
})();

function halfBitsToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return sign * m * 2 ** -24;
  if (e === 31) return m ? NaN : sign * Infinity;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}

export function fromHalfBits(h: number): number {
  return HALF_TABLE[h & 0xffff];
}

/** Encode a block of float32 values into binary16 bit patterns. */
export function encodeHalf(src: Float32Array, dst: Uint16Array = new Uint16Array(src.length)): Uint16Array {
  for (let i = 0; i < src.length; i++) dst[i] = toHalfBits(src[i]);
  return dst;
}

/** Decode binary16 bit patterns into float32 values. */
export function decodeHalf(src: Uint16Array, dst: Float32Array = new Float32Array(src.length)): Float32Array {
  const t = HALF_TABLE;
  for (let i = 0; i < src.length; i++) dst[i] = t[src[i]];
  return dst;
}

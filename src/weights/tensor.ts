// Decoding raw little-endian tensor bytes (safetensors and torch storages share this): float
// dtypes become Float32Array, integer dtypes Float64Array (exact up to 2^53, "kept as numbers").
// No tfjs here: the readers are plain data code so they can be tested and reused without it.

export type DType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

/** One tensor of a checkpoint, contiguous, row-major, in the checkpoint's own layout. */
export interface CheckpointTensor {
  shape: number[];
  /** the dtype it was stored as */
  dtype: DType;
  /**
   * float dtypes: Float32Array; integer dtypes and BOOL: Float64Array. May be a view into the
   * file's bytes or shared with another tensor of the same storage: treat it as read-only.
   */
  data: Float32Array | Float64Array;
}

export const BYTES: Record<DType, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };

export function isFloat(d: DType): boolean {
  return d === 'F64' || d === 'F32' || d === 'F16' || d === 'BF16';
}

// scratch for bfloat16, which is the high half of a float32
const bits = new Uint32Array(1);
const asFloat = new Float32Array(bits.buffer);

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** IEEE half -> float. */
function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

/**
 * Reads `count` elements of `dtype` starting at element `start` of `bytes` (little endian).
 * Elements are addressed one by one so an unaligned buffer (zip entries, safetensors data at
 * any offset) needs no copy.
 */
export function decodeElements(bytes: Uint8Array, dtype: DType, start: number, count: number): Float32Array | Float64Array {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = BYTES[dtype];
  if ((start + count) * n > bytes.byteLength) throw new RangeError(`tensor data out of bounds (${(start + count) * n} > ${bytes.byteLength} bytes)`);
  if (dtype === 'F32' && (bytes.byteOffset + start * 4) % 4 === 0 && LITTLE_ENDIAN_HOST) {
    // fast path: an aligned float32 run is used in place (callers never write to tensor data)
    return new Float32Array(bytes.buffer, bytes.byteOffset + start * 4, count);
  }
  const out = isFloat(dtype) ? new Float32Array(count) : new Float64Array(count);
  let o = start * n;
  for (let i = 0; i < count; i++, o += n) {
    switch (dtype) {
      case 'F32': out[i] = dv.getFloat32(o, true); break;
      case 'F64': out[i] = dv.getFloat64(o, true); break;
      case 'F16': out[i] = halfToFloat(dv.getUint16(o, true)); break;
      case 'BF16': bits[0] = dv.getUint16(o, true) << 16; out[i] = asFloat[0]; break;
      case 'I64': out[i] = Number(dv.getBigInt64(o, true)); break;
      case 'I32': out[i] = dv.getInt32(o, true); break;
      case 'I16': out[i] = dv.getInt16(o, true); break;
      case 'I8': out[i] = dv.getInt8(o); break;
      case 'U8': case 'BOOL': out[i] = dv.getUint8(o); break;
    }
  }
  return out;
}

export function numel(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * Copies a strided view (PyTorch storage offset + size + stride, in elements) of `source` into
 * a contiguous row-major array. Views saved from transposes or slices are not contiguous.
 */
export function gather(source: Float32Array | Float64Array, offset: number, size: number[], stride: number[]): Float32Array | Float64Array {
  const n = numel(size);
  const out = source instanceof Float32Array ? new Float32Array(n) : new Float64Array(n);
  if (n === 0) return out;
  let maxIndex = offset;
  for (let d = 0; d < size.length; d++) maxIndex += (size[d] - 1) * stride[d];
  if (offset < 0 || maxIndex >= source.length) {
    throw new RangeError(`tensor view (offset ${offset}, size [${size}], stride [${stride}]) reaches past its storage of ${source.length} elements`);
  }
  // the common case: a contiguous row-major view is one copy
  let contiguous = true;
  for (let d = size.length - 1, s = 1; d >= 0; d--) {
    if (size[d] !== 1 && stride[d] !== s) contiguous = false;
    s *= size[d];
  }
  if (contiguous) return source.subarray(offset, offset + n); // shares memory: tensor data is read-only
  if (size.length === 4) return gather4(source, offset, size, stride, out);
  const idx = new Array<number>(size.length).fill(0);
  let src = offset;
  for (let i = 0; i < n; i++) {
    out[i] = source[src];
    // odometer increment over the dimensions, last fastest
    for (let d = size.length - 1; d >= 0; d--) {
      idx[d]++;
      src += stride[d];
      if (idx[d] < size[d]) break;
      src -= stride[d] * size[d];
      idx[d] = 0;
    }
  }
  return out;
}

/** gather for rank 4 (every conv kernel) without the odometer's per-element bookkeeping. */
function gather4<T extends Float32Array | Float64Array>(source: T, offset: number, size: number[], stride: number[], out: T): T {
  const [n0, n1, n2, n3] = size;
  const [s0, s1, s2, s3] = stride;
  let o = 0;
  for (let a = 0; a < n0; a++) {
    for (let b = 0; b < n1; b++) {
      for (let c = 0; c < n2; c++) {
        let src = offset + a * s0 + b * s1 + c * s2;
        for (let d = 0; d < n3; d++, src += s3) out[o++] = source[src];
      }
    }
  }
  return out;
}

/** Row-major transpose: out.shape[i] = shape[perm[i]]. */
export function permute(data: Float32Array, shape: number[], perm: number[]): { data: Float32Array; shape: number[] } {
  const outShape = perm.map((p) => shape[p]);
  const inStrides = new Array<number>(shape.length);
  let s = 1;
  for (let d = shape.length - 1; d >= 0; d--) { inStrides[d] = s; s *= shape[d]; }
  const strides = perm.map((p) => inStrides[p]);
  return { data: gather(data, 0, outShape, strides) as Float32Array, shape: outShape };
}

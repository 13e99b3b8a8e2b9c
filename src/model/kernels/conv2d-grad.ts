// Conv2DBackpropFilter (missing in tfjs-backend-wasm, tfjs issue #8474) and Conv2DBackpropInput
// (wasm's is a direct loop) for NHWC, built on wasm's XNNPACK kernels:
// - filter gradient: x transposed to [CI, N, H, W] (wasm Transpose), a transposed im2col built by
//   memmoves inside the wasm heap, then one GEMM per chunk of images, dW[k, co] = colsT[k, rows] @
//   dy[rows, co], summed over chunks in a fixed order. Making the big operand A matters: XNNPACK
//   repacks B on every call, and packing a 100k x 576 im2col cost as much as the GEMM;
// - input gradient, stride 1: a stride-1 convolution (wasm Conv2D) of the zero-padded dy with the
//   flipped, in/out-swapped filter; stride > 1: dcols = dy @ W^T by GEMM, then col2im, which avoids
//   the s^2 multiply-by-zero work a dilated convolution would do.
import type { KernelConfig, KernelFunc } from '@tensorflow/tfjs';
import {
  alloc, free, geometry, matmul, rowsPerChunk, runWasm,
  type BackendWasm, type ConvGeom, type TensorInfo,
} from './wasm-util.ts';

type Attrs = Record<string, unknown>;

/** colsT[(kh*KW + kw)*CI + c, r] for the rows r of images [b0, b1), read from xT = x transposed to
 * [CI, N, H, W], where one filter tap of one channel is a contiguous run along the output row
 * (stride 1), so the copies are memmoves inside the heap. */
export function im2colT(heap: Float32Array, xTOff: number, dst: number, g: ConvGeom,
  b0: number, b1: number): void {
  const { n, h, w, ci, oh, ow, kh, kw, sh, sw, dh, dw, pt, pl } = g;
  const rows = (b1 - b0) * oh * ow;
  for (let a = 0; a < kh; a++) for (let e = 0; e < kw; e++) {
    const shift = e * dw - pl; // ix = x*sw + shift
    // output columns whose input column is inside the image
    const x0 = Math.min(ow, Math.max(0, Math.ceil(-shift / sw)));
    const x1 = Math.max(x0, Math.min(ow, Math.floor((w - 1 - shift) / sw) + 1));
    for (let c = 0; c < ci; c++) {
      let d = dst + ((a * kw + e) * ci + c) * rows;
      for (let b = b0; b < b1; b++) for (let y = 0; y < oh; y++, d += ow) {
        const iy = y * sh - pt + a * dh;
        if (iy < 0 || iy >= h) { heap.fill(0, d, d + ow); continue; }
        const src = xTOff + ((c * n + b) * h + iy) * w + shift;
        if (x0 > 0) heap.fill(0, d, d + x0);
        if (x1 < ow) heap.fill(0, d + x1, d + ow);
        if (sw === 1) heap.copyWithin(d + x0, src + x0, src + x1);
        else for (let x = x0; x < x1; x++) heap[d + x] = heap[src + x * sw];
      }
    }
  }
}

function conv2DBackpropFilter(args: { inputs: Record<string, TensorInfo>; attrs: Attrs;
  backend: BackendWasm }): TensorInfo {
  const { inputs: { x, dy }, attrs, backend } = args;
  const g = geometry(x.shape, attrs.filterShape as number[], attrs.strides as number, 1,
    attrs.pad, attrs.dimRoundingMode, false, attrs.dataFormat as string);
  const k = g.kh * g.kw * g.ci;
  const perImage = g.oh * g.ow;
  const chunk = Math.max(1, Math.floor(rowsPerChunk(k, g.n * perImage) / perImage)); // images
  const xT = runWasm(backend, 'Transpose', { x }, { perm: [3, 0, 1, 2] });
  const out = alloc(backend, [g.kh, g.kw, g.ci, g.co], true);
  for (let b0 = 0; b0 < g.n; b0 += chunk) {
    const b1 = Math.min(g.n, b0 + chunk);
    const rows = (b1 - b0) * perImage;
    const colsT = alloc(backend, [k, rows]);
    let heap = f32Heap(backend);
    im2colT(heap, off(backend, xT), off(backend, colsT), g, b0, b1);
    // dW[k, co] += colsT[k, rows] @ dy[rows, co]: the big operand is A, so XNNPACK packs only dy
    const dyRows = b0 === 0 && b1 === g.n ? dy : sliceRows(backend, dy, b0 * perImage, b1 * perImage, g.co);
    const part = matmul(backend, colsT, dyRows, k, rows, g.co);
    heap = f32Heap(backend);
    const o = off(backend, out), p = off(backend, part);
    for (let i = 0; i < k * g.co; i++) heap[o + i] += heap[p + i];
    free(backend, colsT, part);
    if (dyRows !== dy) free(backend, dyRows);
  }
  free(backend, xT);
  return out;
}

/** Rows [r0, r1) of a [rows, width] tensor as a new tensor (wasm's BatchMatMul takes whole tensors). */
function sliceRows(backend: BackendWasm, t: TensorInfo, r0: number, r1: number, width: number): TensorInfo {
  const part = alloc(backend, [r1 - r0, width]);
  const heap = f32Heap(backend);
  const src = off(backend, t) + r0 * width;
  heap.copyWithin(off(backend, part), src, src + (r1 - r0) * width);
  return part;
}

function conv2DBackpropInput(args: { inputs: Record<string, TensorInfo>; attrs: Attrs;
  backend: BackendWasm }): TensorInfo {
  const { inputs: { dy, filter }, attrs, backend } = args;
  const g = geometry(attrs.inputShape as number[], filter.shape, attrs.strides as number, 1,
    attrs.pad, attrs.dimRoundingMode, false, attrs.dataFormat as string);
  return g.sh === 1 && g.sw === 1
    ? backpropInputByConv(backend, dy, filter, g)
    : backpropInputByCol2im(backend, dy, filter, g);
}

/** dx = valid conv of dy placed into a zero frame of (H + KH - 1) x (W + KW - 1) with the
 * filter flipped in space and its in/out channels swapped. Stride 1 only. */
function backpropInputByConv(backend: BackendWasm, dy: TensorInfo, filter: TensorInfo,
  g: ConvGeom): TensorInfo {
  const { n, h, w, ci, oh, ow, co, kh, kw } = g;
  const hp = h + kh - 1, wp = w + kw - 1;
  const offY = kh - 1 - g.pt, offX = kw - 1 - g.pl;
  const framed = alloc(backend, [n, hp, wp, co], true);
  const flipped = alloc(backend, [kh, kw, co, ci]);
  const heap = f32Heap(backend);
  const dyOff = off(backend, dy), frOff = off(backend, framed);
  for (let b = 0; b < n; b++) for (let y = 0; y < oh; y++) {
    const fy = y + offY;
    if (fy < 0 || fy >= hp) continue;
    const x0 = Math.max(0, -offX), x1 = Math.min(ow, wp - offX); // columns that land inside
    if (x1 <= x0) continue;
    const src = dyOff + ((b * oh + y) * ow + x0) * co;
    heap.copyWithin(frOff + ((b * hp + fy) * wp + x0 + offX) * co, src, src + (x1 - x0) * co);
  }
  const wOff = off(backend, filter), fOff = off(backend, flipped);
  for (let a = 0; a < kh; a++) for (let c = 0; c < kw; c++) {
    const src = wOff + ((kh - 1 - a) * kw + (kw - 1 - c)) * ci * co;
    const dst = fOff + (a * kw + c) * co * ci;
    for (let i = 0; i < ci; i++) for (let o = 0; o < co; o++) heap[dst + o * ci + i] = heap[src + i * co + o];
  }
  const dx = runWasm(backend, 'Conv2D', { x: framed, filter: flipped },
    { strides: [1, 1], pad: 'valid', dilations: [1, 1], dataFormat: 'NHWC' });
  free(backend, framed, flipped);
  return dx;
}

/** dcols[rows, k] = dy[rows, co] @ W^T[co, k] by GEMM, then scatter-add into dx (col2im). */
function backpropInputByCol2im(backend: BackendWasm, dy: TensorInfo, filter: TensorInfo,
  g: ConvGeom): TensorInfo {
  const { n, h, w, ci, oh, ow, co, kh, kw, sh, sw, pt, pl } = g;
  const k = kh * kw * ci;
  const wT = alloc(backend, [co, k]);
  let heap = f32Heap(backend);
  transposeInto(heap, off(backend, filter), k, co, off(backend, wT));
  const dx = alloc(backend, [n, h, w, ci], true);
  const rows = n * oh * ow;
  const chunk = rowsPerChunk(k, rows);
  for (let r0 = 0; r0 < rows; r0 += chunk) {
    const r1 = Math.min(rows, r0 + chunk);
    const dyChunk = { ...dy, shape: [r1 - r0, co] };
    const part = r0 === 0 && r1 === rows
      ? matmul(backend, dyChunk, wT, r1 - r0, co, k)
      : matmulRows(backend, dy, r0, r1, co, wT, k);
    heap = f32Heap(backend);
    const dxOff = off(backend, dx);
    let src = off(backend, part);
    for (let r = r0; r < r1; r++) {
      const b = Math.floor(r / (oh * ow));
      const rem = r - b * oh * ow;
      const y = Math.floor(rem / ow);
      const x = rem - y * ow;
      for (let a = 0; a < kh; a++) {
        const iy = y * sh - pt + a;
        if (iy < 0 || iy >= h) { src += kw * ci; continue; }
        for (let c = 0; c < kw; c++, src += ci) {
          const ix = x * sw - pl + c;
          if (ix < 0 || ix >= w) continue;
          const d = dxOff + ((b * h + iy) * w + ix) * ci;
          for (let i = 0; i < ci; i++) heap[d + i] += heap[src + i];
        }
      }
    }
    free(backend, part);
  }
  free(backend, wT);
  return dx;
}

/** GEMM on rows [r0, r1) of a [rows, kIn] tensor. */
function matmulRows(backend: BackendWasm, a: TensorInfo, r0: number, r1: number, kIn: number,
  b: TensorInfo, nOut: number): TensorInfo {
  const part = sliceRows(backend, a, r0, r1, kIn);
  const out = matmul(backend, part, b, r1 - r0, kIn, nOut);
  free(backend, part);
  return out;
}

/** dst[j, i] = src[i, j] for a [rows, cols] matrix, offsets in floats on the heap. */
export function transposeInto(heap: Float32Array, src: number, rows: number, cols: number,
  dst: number): void {
  const T = 32; // tiles keep both sides in cache
  for (let i0 = 0; i0 < rows; i0 += T) for (let j0 = 0; j0 < cols; j0 += T) {
    const i1 = Math.min(rows, i0 + T), j1 = Math.min(cols, j0 + T);
    for (let i = i0; i < i1; i++) for (let j = j0; j < j1; j++) heap[dst + j * rows + i] = heap[src + i * cols + j];
  }
}

/** The whole heap as float32, fresh (views detach when the heap grows). */
export function f32Heap(backend: BackendWasm): Float32Array {
  return (backend.wasm as unknown as { HEAPF32: Float32Array }).HEAPF32;
}

/** A tensor's offset on the heap, in floats. */
export function off(backend: BackendWasm, t: TensorInfo): number {
  return (backend.dataIdMap.get(t.dataId) as { memoryOffset: number }).memoryOffset >>> 2;
}

const kernel = (f: unknown) => f as KernelFunc;
export const conv2dGradKernels: KernelConfig[] = [
  { kernelName: 'Conv2DBackpropFilter', backendName: 'wasm', kernelFunc: kernel(conv2DBackpropFilter) },
  { kernelName: 'Conv2DBackpropInput', backendName: 'wasm', kernelFunc: kernel(conv2DBackpropInput) },
];

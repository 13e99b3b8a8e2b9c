// DepthwiseConv2dNativeBackpropFilter and ...BackpropInput for wasm (missing there, tfjs #8474), NHWC,
// any stride, dilation and channel multiplier M (filter [KH, KW, C, M], dy channel c*M + m).
// Depthwise work is small next to the pointwise convolutions around it and has no GEMM shape, so:
// - input gradient with M == 1 (every depthwise layer of mobilenet/efficientnet): wasm's own
//   XNNPACK depthwise convolution of the zero-framed (stride-dilated) dy with the flipped filter;
// - filter gradient, and input gradient with M > 1: one pass in JS over the wasm heap, summing in
//   float64 in a fixed order (deterministic, and at least as accurate as the cpu backend).
import type { KernelConfig, KernelFunc } from '@tensorflow/tfjs';
import { f32Heap, off } from './conv2d-grad.ts';
import { alloc, free, geometry, runWasm, type BackendWasm, type TensorInfo } from './wasm-util.ts';

type Args = { inputs: Record<string, TensorInfo>; attrs: Record<string, unknown>; backend: BackendWasm };

function depthwiseBackpropFilter({ inputs: { x, dy }, attrs, backend }: Args): TensorInfo {
  const fs = attrs.filterShape as number[];
  const g = geometry(x.shape, fs, attrs.strides as number, (attrs.dilations ?? 1) as number,
    attrs.pad, attrs.dimRoundingMode, true);
  const { n, h, w, ci: c, oh, ow, kh, kw, sh, sw, dh, dw, pt, pl } = g;
  const m = fs[3];
  const cm = c * m;
  const acc = new Float64Array(kh * kw * cm);
  const out = alloc(backend, fs);
  const heap = f32Heap(backend);
  const xOff = off(backend, x), dyOff = off(backend, dy);
  for (let b = 0; b < n; b++) for (let y = 0; y < oh; y++) for (let z = 0; z < ow; z++) {
    const d = dyOff + ((b * oh + y) * ow + z) * cm;
    for (let a = 0; a < kh; a++) {
      const iy = y * sh - pt + a * dh;
      if (iy < 0 || iy >= h) continue;
      for (let e = 0; e < kw; e++) {
        const ix = z * sw - pl + e * dw;
        if (ix < 0 || ix >= w) continue;
        const s = xOff + ((b * h + iy) * w + ix) * c;
        const f = (a * kw + e) * cm;
        if (m === 1) {
          for (let i = 0; i < c; i++) acc[f + i] += heap[s + i] * heap[d + i];
        } else {
          for (let i = 0; i < c; i++) {
            const xv = heap[s + i];
            for (let j = 0; j < m; j++) acc[f + i * m + j] += xv * heap[d + i * m + j];
          }
        }
      }
    }
  }
  heap.set(acc, off(backend, out));
  return out;
}

function depthwiseBackpropInput({ inputs: { dy, filter }, attrs, backend }: Args): TensorInfo {
  const g = geometry(attrs.inputShape as number[], filter.shape, attrs.strides as number,
    (attrs.dilations ?? 1) as number, attrs.pad, attrs.dimRoundingMode, true);
  return filter.shape[3] === 1 ? inputByConv(backend, dy, filter, g) : inputByLoop(backend, dy, filter, g);
}

type G = ReturnType<typeof geometry>;

/** dx = depthwise conv (stride 1, dilation d) of dy placed every s pixels into a zero frame of
 * (H + (KH-1)d) x (W + (KW-1)d), with the spatially flipped filter. */
function inputByConv(backend: BackendWasm, dy: TensorInfo, filter: TensorInfo, g: G): TensorInfo {
  const { n, h, w, ci: c, oh, ow, kh, kw, sh, sw, dh, dw, pt, pl } = g;
  const hp = h + (kh - 1) * dh, wp = w + (kw - 1) * dw;
  const offY = (kh - 1) * dh - pt, offX = (kw - 1) * dw - pl;
  const framed = alloc(backend, [n, hp, wp, c], true);
  const flipped = alloc(backend, [kh, kw, c, 1]);
  const heap = f32Heap(backend);
  const dyOff = off(backend, dy), frOff = off(backend, framed);
  for (let b = 0; b < n; b++) for (let y = 0; y < oh; y++) {
    const fy = y * sh + offY;
    if (fy < 0 || fy >= hp) continue;
    for (let z = 0; z < ow; z++) {
      const fx = z * sw + offX;
      if (fx < 0 || fx >= wp) continue;
      const src = dyOff + ((b * oh + y) * ow + z) * c;
      heap.copyWithin(frOff + ((b * hp + fy) * wp + fx) * c, src, src + c);
    }
  }
  const wOff = off(backend, filter), fOff = off(backend, flipped);
  for (let a = 0; a < kh; a++) for (let e = 0; e < kw; e++) {
    const src = wOff + ((kh - 1 - a) * kw + (kw - 1 - e)) * c;
    heap.copyWithin(fOff + (a * kw + e) * c, src, src + c);
  }
  const dx = runWasm(backend, 'DepthwiseConv2dNative', { x: framed, filter: flipped },
    { strides: [1, 1], pad: 'valid', dilations: [dh, dw] });
  free(backend, framed, flipped);
  return dx;
}

function inputByLoop(backend: BackendWasm, dy: TensorInfo, filter: TensorInfo, g: G): TensorInfo {
  const { n, h, w, ci: c, oh, ow, kh, kw, sh, sw, dh, dw, pt, pl } = g;
  const m = filter.shape[3];
  const cm = c * m;
  const acc = new Float64Array(n * h * w * c);
  const dx = alloc(backend, [n, h, w, c]);
  const heap = f32Heap(backend);
  const dyOff = off(backend, dy), wOff = off(backend, filter);
  for (let b = 0; b < n; b++) for (let y = 0; y < oh; y++) for (let z = 0; z < ow; z++) {
    const d = dyOff + ((b * oh + y) * ow + z) * cm;
    for (let a = 0; a < kh; a++) {
      const iy = y * sh - pt + a * dh;
      if (iy < 0 || iy >= h) continue;
      for (let e = 0; e < kw; e++) {
        const ix = z * sw - pl + e * dw;
        if (ix < 0 || ix >= w) continue;
        const t = ((b * h + iy) * w + ix) * c;
        const f = wOff + (a * kw + e) * cm;
        for (let i = 0; i < c; i++) {
          let s = 0;
          for (let j = 0; j < m; j++) s += heap[d + i * m + j] * heap[f + i * m + j];
          acc[t + i] += s;
        }
      }
    }
  }
  heap.set(acc, off(backend, dx));
  return dx;
}

const kernel = (f: unknown) => f as KernelFunc;
export const depthwiseGradKernels: KernelConfig[] = [
  { kernelName: 'DepthwiseConv2dNativeBackpropFilter', backendName: 'wasm', kernelFunc: kernel(depthwiseBackpropFilter) },
  { kernelName: 'DepthwiseConv2dNativeBackpropInput', backendName: 'wasm', kernelFunc: kernel(depthwiseBackpropInput) },
];

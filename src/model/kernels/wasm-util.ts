// Helpers shared by our wasm kernels. A kernel reads its inputs straight from the wasm heap,
// allocates outputs with backend.makeOutput, and calls wasm's own registered kernels (Conv2D,
// BatchMatMul: XNNPACK-backed) for the arithmetic, disposing every intermediate it made.
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { tf } from '../tf.ts';

export type TensorInfo = tf.TensorInfo;
export type { BackendWasm };

/** A float32 view of a tensor's memory on the wasm heap. Any allocation can grow the heap and
 * detach earlier views, so take views only after the last makeOutput/kernel call of a step. */
export function f32(backend: BackendWasm, t: TensorInfo): Float32Array {
  return backend.typedArrayFromHeap(t) as Float32Array;
}

/** A new float32 tensor on the wasm heap; its memory is uninitialised unless `zero`. */
export function alloc(backend: BackendWasm, shape: number[], zero = false): TensorInfo {
  const out = backend.makeOutput(shape, 'float32');
  if (zero) f32(backend, out).fill(0);
  return out;
}

export function free(backend: BackendWasm, ...ts: TensorInfo[]): void {
  for (const t of ts) backend.disposeData(t.dataId);
}

/** Run another kernel registered for wasm (its kernelFunc) on tensors we own. */
export function runWasm(
  backend: BackendWasm,
  kernelName: string,
  inputs: Record<string, TensorInfo>,
  attrs: Record<string, unknown>,
): TensorInfo {
  const k = tf.getKernel(kernelName, 'wasm');
  if (!k) throw new Error(`wasm kernel ${kernelName} is not registered`);
  const out = k.kernelFunc({ inputs, attrs: attrs as tf.NamedAttrMap, backend });
  return Array.isArray(out) ? out[0] : out;
}

/** a [M, K] @ b [K, N] on XNNPACK's fully-connected path, the only fast one in wasm's
 * BatchMatMul: it needs batch 1 and no transposes. b's packed copy is cached by tensor id,
 * so b must not be written after this call (we only ever pass fresh temporaries). */
export function matmul(backend: BackendWasm, a: TensorInfo, b: TensorInfo, m: number, k: number,
  n: number): TensorInfo {
  const a3 = { ...a, shape: [1, m, k] };
  const b3 = { ...b, shape: [1, k, n] };
  return runWasm(backend, 'BatchMatMul', { a: a3, b: b3 }, { transposeA: false, transposeB: false });
}

export interface ConvGeom {
  n: number; h: number; w: number; ci: number;
  oh: number; ow: number; co: number;
  kh: number; kw: number; sh: number; sw: number; dh: number; dw: number;
  pt: number; pl: number;
}

/** Geometry of an NHWC (depthwise when `depthwise`) convolution, as tfjs computes it. */
export function geometry(
  xShape: number[], filterShape: number[], strides: number | [number, number],
  dilations: number | [number, number], pad: unknown, dimRoundingMode: unknown, depthwise: boolean,
  dataFormat?: string,
): ConvGeom {
  if (dataFormat === 'NCHW') {
    throw new Error('the wasm gradient kernels support NHWC only (exp builds NHWC models)');
  }
  const c = tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number], filterShape as [number, number, number, number],
    strides, dilations, pad as 'same', dimRoundingMode as 'floor' | undefined, depthwise);
  return {
    n: c.batchSize, h: c.inHeight, w: c.inWidth, ci: c.inChannels,
    oh: c.outHeight, ow: c.outWidth, co: c.outChannels,
    kh: c.filterHeight, kw: c.filterWidth, sh: c.strideHeight, sw: c.strideWidth,
    dh: c.dilationHeight, dw: c.dilationWidth, pt: c.padInfo.top, pl: c.padInfo.left,
  };
}

/** Rows of im2col we build at once: bounds the scratch memory (about 16 MB) on the wasm heap. */
export function rowsPerChunk(rowLength: number, total: number): number {
  return Math.max(1, Math.min(total, Math.floor((4 << 20) / Math.max(1, rowLength))));
}

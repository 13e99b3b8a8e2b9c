// BatchMatMul for wasm, in front of wasm's own: that kernel is fast (XNNPACK fully-connected,
// ~28 GFLOP/s) only for one matrix per side and no transposes; any transpose or batch > 1 goes to
// a plain loop at 1-3 GFLOP/s. Dense-layer gradients are exactly such products (dW = x^T @ dy,
// dx = dy @ W^T). So: transpose the operands on the wasm heap (wasm's Transpose kernel), then
// call wasm's kernel once per matrix pair on the fast path. The transposes and slice copies are
// O(m*k + k*n) next to the O(m*k*n) product. Results are deterministic (single-threaded XNNPACK).
import type { KernelConfig, KernelFunc } from '@tensorflow/tfjs';
import { tf } from '../tf.ts';
import { f32Heap, off } from './conv2d-grad.ts';
import { alloc, free, runWasm, type BackendWasm, type TensorInfo } from './wasm-util.ts';

type Args = { inputs: Record<string, TensorInfo>; attrs: Record<string, unknown>; backend: BackendWasm };

/** [batch, rows, cols] row-major copy of t (seen as [batch, cols, rows] when `transposed`). */
function rowMajor(backend: BackendWasm, t: TensorInfo, batch: number, rows: number, cols: number,
  transposed: boolean): TensorInfo {
  if (!transposed) return { ...t, shape: [batch, rows, cols] };
  return runWasm(backend, 'Transpose', { x: { ...t, shape: [batch, cols, rows] } }, { perm: [0, 2, 1] });
}

/** Matrix i of a [batch, r, c] tensor as its own [1, r, c] tensor (wasm kernels take whole tensors). */
function matrix(backend: BackendWasm, t: TensorInfo, i: number, r: number, c: number): TensorInfo {
  if (t.shape[0] === 1) return { ...t, shape: [1, r, c] };
  const part = alloc(backend, [1, r, c]);
  const heap = f32Heap(backend);
  const src = off(backend, t) + i * r * c;
  heap.copyWithin(off(backend, part), src, src + r * c);
  return part;
}

/**
 * The replacement kernel. `original` returns wasm's own BatchMatMul (looked up when called, since
 * it is only known once ours has replaced it; index.ts keeps it in replacedWasmKernels).
 */
export function batchMatMulT(original: () => KernelConfig | undefined): KernelConfig {
  const kernelFunc = (args: Args): TensorInfo => {
    const orig = original()?.kernelFunc;
    if (!orig) throw new Error('wasm BatchMatMul: the original kernel was not recorded');
    const call = (a: TensorInfo, b: TensorInfo): TensorInfo => {
      const out = orig({ inputs: { a, b }, attrs: { transposeA: false, transposeB: false }, backend: args.backend } as
        unknown as Parameters<KernelFunc>[0]);
      return Array.isArray(out) ? out[0] : out;
    };
    const { inputs: { a, b }, attrs, backend } = args;
    const ta = attrs.transposeA === true, tb = attrs.transposeB === true;
    if (a.dtype !== 'float32' || b.dtype !== 'float32') return orig(args as unknown as Parameters<KernelFunc>[0]) as TensorInfo;
    const ra = a.shape.length, rb = b.shape.length;
    const m = ta ? a.shape[ra - 1] : a.shape[ra - 2], k = ta ? a.shape[ra - 2] : a.shape[ra - 1];
    const n = tb ? b.shape[rb - 2] : b.shape[rb - 1], kb = tb ? b.shape[rb - 1] : b.shape[rb - 2];
    const ba = tf.util.sizeFromShape(a.shape.slice(0, -2)), bb = tf.util.sizeFromShape(b.shape.slice(0, -2));
    // the fast case already, or what wasm's own kernel rejects/handles its way: leave to it
    if ((!ta && !tb && ba === 1 && bb === 1) || k !== kb || (ba !== bb && ba !== 1 && bb !== 1)
      || m * k * n === 0) {
      return orig(args as unknown as Parameters<KernelFunc>[0]) as TensorInfo;
    }
    const outShape = [...tf.broadcast_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2)), m, n];
    const a3 = rowMajor(backend, a, ba, m, k, ta);
    const b3 = rowMajor(backend, b, bb, k, n, tb);
    const batch = Math.max(ba, bb);
    let out: TensorInfo;
    if (batch === 1) {
      out = call(a3, b3);
      out.shape = outShape;
    } else {
      out = alloc(backend, outShape);
      for (let i = 0; i < batch; i++) {
        const ai = matrix(backend, a3, i, m, k), bi = matrix(backend, b3, i, k, n);
        const ci = call(ai, bi);
        const heap = f32Heap(backend);
        const src = off(backend, ci);
        heap.copyWithin(off(backend, out) + i * m * n, src, src + m * n);
        free(backend, ci);
        if (ai.dataId !== a3.dataId) free(backend, ai);
        if (bi.dataId !== b3.dataId) free(backend, bi);
      }
    }
    if (ta) free(backend, a3);
    if (tb) free(backend, b3);
    return out;
  };
  return { kernelName: 'BatchMatMul', backendName: 'wasm', kernelFunc: kernelFunc as unknown as KernelFunc };
}

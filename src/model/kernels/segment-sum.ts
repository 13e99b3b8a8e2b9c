// UnsortedSegmentSum for wasm: the gradient of tf.gather (the losses pick each example's target
// column with a gather), which the wasm backend does not register. A scatter-add over the heap:
// out[segmentIds[i], :] += x[i, :], in row order, so the result is deterministic.
import type { KernelConfig } from '@tensorflow/tfjs';
import { alloc, type BackendWasm, type TensorInfo } from './wasm-util.ts';

function unsortedSegmentSum(args: { inputs: { x: TensorInfo; segmentIds: TensorInfo }; attrs: { numSegments: number }; backend: unknown }): TensorInfo {
  const backend = args.backend as BackendWasm;
  const { x, segmentIds } = args.inputs;
  if (x.dtype !== 'float32') throw new Error(`UnsortedSegmentSum on wasm supports float32, got ${x.dtype}`);
  const n = segmentIds.shape.reduce((a, b) => a * b, 1);
  const inner = x.shape.slice(segmentIds.shape.length).reduce((a, b) => a * b, 1);
  const num = args.attrs.numSegments;
  const out = alloc(backend, [num, ...x.shape.slice(segmentIds.shape.length)], true);
  // views after the last allocation (allocation can grow and detach the heap)
  const src = backend.typedArrayFromHeap(x) as Float32Array;
  const ids = backend.typedArrayFromHeap(segmentIds) as Int32Array;
  const dst = backend.typedArrayFromHeap(out) as Float32Array;
  for (let i = 0; i < n; i++) {
    const s = ids[i];
    if (s < 0 || s >= num) continue; // TensorFlow drops out-of-range ids
    const so = i * inner;
    const d = s * inner;
    for (let j = 0; j < inner; j++) dst[d + j] += src[so + j];
  }
  return out;
}

export const segmentSumKernels: KernelConfig[] = [
  { kernelName: 'UnsortedSegmentSum', backendName: 'wasm', kernelFunc: unsortedSegmentSum as unknown as KernelConfig['kernelFunc'] },
];

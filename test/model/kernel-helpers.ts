// Shared by the kernel tests (wasm gradient kernels, native kernels): run one kernel on the
// active backend, and compare outputs with a relative error.
import assert from 'node:assert/strict';
import { tf } from '../../src/model/tf.ts';

/** Runs `kernel` on the active backend and returns its output's values (inputs: [data, shape]). */
export function runKernel(kernel: string, inputs: Record<string, [Float32Array, number[]]>, attrs: object): Float32Array {
  const ts = Object.fromEntries(Object.entries(inputs).map(([k, [d, s]]) => [k, tf.tensor(d, s)]));
  const out = tf.engine().runKernel(kernel, ts, attrs as tf.NamedAttrMap) as tf.Tensor;
  const data = out.dataSync() as Float32Array;
  tf.dispose([out, ...Object.values(ts)]);
  return data;
}

/** max |got - ref| / max |ref| */
export function relError(ref: Float32Array, got: Float32Array): number {
  assert.equal(got.length, ref.length);
  let diff = 0, scale = 1e-30;
  for (let i = 0; i < ref.length; i++) {
    diff = Math.max(diff, Math.abs(ref[i] - got[i]));
    scale = Math.max(scale, Math.abs(ref[i]));
  }
  return diff / scale;
}

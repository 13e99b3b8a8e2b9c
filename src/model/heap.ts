// The wasm and native backends keep every tensor in one WebAssembly memory, which wasm32 caps at
// 4 GB (the native kernels work on that same heap). When a step needs more, tfjs' wasm module
// aborts: it prints "Aborted()" (its malloc found no room to grow), and what reaches us is a
// WebAssembly.RuntimeError, "Aborted()" or, from the next call into the dead module, "memory access
// out of bounds". That is a limit of the backend, not a bug in exp: it becomes a RunError that says
// what to change. (Measured on native: se_resnext50_32x4d at 224 px trains at batch 16, not at 32;
// at 32 with train.recompute.)
import { RunError } from '../errors.ts';

/** The run error for a wasm heap that ran out, or null when `e` is something else. */
export function wasmHeapError(e: unknown): RunError | null {
  if (!(e instanceof WebAssembly.RuntimeError) || !/^Aborted\(|memory access out of bounds/.test(e.message)) return null;
  return new RunError(
    `the WebAssembly heap most likely ran out of memory (${e.message.split('.')[0]}): the wasm and native ` +
    'backends hold every tensor in one WebAssembly memory of at most 4 GB. Set train.recompute: true (each block\'s ' +
    'activations recomputed in the backward pass: far less memory, about 30 % more time a step), lower ' +
    'train.batch_size (with train.accumulate to keep the effective batch) or data.image.size, or train on a GPU ' +
    'backend (webgpu, tensorflow)',
  );
}

// The little of tfjs-backend-webgpu's program machinery exp's WGSL kernels use. A program is
// an object with the fields below; backend.runWebGPUProgram prepends the bindings (`result`, one
// array per input in `variableNames`), a Uniforms struct (each input's and the output's shape as
// `<name>Shape`, `size` when asked for, then `uniforms`), and calls `main(index)` per invocation.
// The pipeline is compiled once per shaderKey (plus the inputs' ranks and dtypes), so a key must
// name everything the WGSL text depends on and nothing that only the uniforms carry.
import type { tf } from '../tf.ts';

export interface Program {
  outputShape: number[];
  shaderKey: string;
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  variableNames: string[];
  /** vector width of each input's binding (1 or 4) */
  variableComponents: number[];
  outputComponent: number;
  workgroupSize: [number, number, number];
  /** declare uniforms.size = output elements / outputComponent */
  size: boolean;
  uniforms: string;
  getUserCode(): string;
}

export type Uniform = { type: 'int32' | 'float32' | 'uint32'; data: number[] };

export interface WebgpuBackendLike {
  runWebGPUProgram(p: Program, inputs: tf.TensorInfo[], dtype: 'float32', uniforms: Uniform[]): tf.TensorInfo;
}

/** WGSL type of a binding with `c` components. */
export const vec = (c: number): string => (c === 4 ? 'vec4<f32>' : 'f32');
export const zero = (c: number): string => (c === 4 ? 'vec4<f32>(0.0)' : '0.0');

/** The workgroup a tiled kernel is in, also after tfjs spread a long dispatch over two
 * dimensions (it does when one exceeds the device's limit, 65535 per dimension). */
export const WORKGROUP_INDEX = 'i32(workgroupId.y * numWorkgroups.x + workgroupId.x)';

/** One invocation per output element (of `component` floats), `size` per workgroup. */
export function flatDispatch(outputShape: number[], component: number, size = 64): [number, number, number] {
  const n = outputShape.reduce((a, b) => a * b, 1) / component;
  return [Math.max(1, Math.ceil(n / size)), 1, 1];
}

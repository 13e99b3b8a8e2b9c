// Shared by the webgpu tests: the backend they run on, and why they skip where it cannot load.
// WebGPU tests run on Mesa's software adapter (llvmpipe; the Debian packages libegl1,
// libegl-mesa0, libgl1-mesa-dri) unless EXP_TEST_WEBGPU_BACKEND=webgpu asks for the GPU
// (bench/gpu/ does, on a GPU machine).
import { ensureBackend, type BackendInfo } from '../../src/model/backend.ts';
import { UserError } from '../../src/errors.ts';

export const WEBGPU = (process.env.EXP_TEST_WEBGPU_BACKEND ?? 'webgpu-software') as 'webgpu' | 'webgpu-software';

/** Load the webgpu backend once; the reason it could not load otherwise. */
export async function tryWebgpu(): Promise<{ info?: BackendInfo; skip?: string }> {
  try {
    return { info: await ensureBackend(WEBGPU) };
  } catch (e) {
    if (!(e instanceof UserError)) throw e;
    return { skip: `no WebGPU adapter here (${e.message})` };
  }
}

/** Read tensors back (webgpu has no synchronous reads). */
export async function read(...ts: { data(): Promise<unknown> }[]): Promise<Float32Array[]> {
  return Promise.all(ts.map(async (t) => Float32Array.from(await t.data() as ArrayLike<number>)));
}

/** max |got - ref| / max |ref| */
export function relMax(ref: ArrayLike<number>, got: ArrayLike<number>): number {
  if (ref.length !== got.length) return Infinity;
  let d = 0, s = 1e-30;
  for (let i = 0; i < ref.length; i++) {
    d = Math.max(d, Math.abs(ref[i] - got[i]));
    s = Math.max(s, Math.abs(ref[i]));
  }
  return d / s;
}

// tfjs' webgpu backend on Dawn's device (device.ts), with exp's kernels registered for it
// (kernels.ts). Loaded by src/model/backend.ts for the backends `webgpu` (a GPU) and
// `webgpu-software` (Mesa's llvmpipe, for tests).
import { tf } from '../tf.ts';
import { openDevice, packageVersion, type AdapterInfo, type WebgpuMode } from './device.ts';
import { registerWebgpuKernels } from './kernels.ts';

export { WebgpuUnavailable, type AdapterInfo, type WebgpuMode } from './device.ts';

export interface WebgpuLoaded {
  version: string;
  adapter: AdapterInfo;
  detail: string;
}

type WebGPUBackendClass = new (device: unknown, adapterInfo: unknown) => tf.KernelBackend & {
  readSync(dataId: object): unknown;
  read(dataId: object): Promise<unknown>;
  tensorMap: { get(dataId: object): { values: unknown } | undefined };
};

let loaded: WebgpuLoaded | undefined;

export async function loadWebgpu(mode: WebgpuMode): Promise<WebgpuLoaded> {
  if (loaded) {
    if (!(await tf.setBackend('webgpu'))) throw new Error('the webgpu backend failed to re-activate');
    return loaded;
  }
  // imported before navigator.gpu exists, so the package registers no factory of its own (see device.ts)
  const pkg = await import('@tensorflow/tfjs-backend-webgpu') as unknown as { WebGPUBackend: WebGPUBackendClass };
  const opened = await openDevice(mode);
  if (!tf.findBackendFactory('webgpu')) {
    tf.registerBackend('webgpu', () => {
      const backend = new pkg.WebGPUBackend(opened.device, opened.adapterInfo);
      guardReads(backend, opened.errors);
      return backend;
    }, 0);
  }
  if (!(await tf.setBackend('webgpu'))) throw new Error('the webgpu backend failed to initialise');
  registerWebgpuKernels();
  const a = opened.adapter;
  const name = [a.vendor, a.architecture, a.device].filter(Boolean).join(' ') || a.description || 'unknown adapter';
  const version = `@tensorflow/tfjs-backend-webgpu ${packageVersion('@tensorflow/tfjs-backend-webgpu')}, Dawn (webgpu ${packageVersion('webgpu')})`;
  loaded = { version, adapter: a,
    detail: a.software ? `WebGPU on a software adapter (${name}: ${a.description}; slow, for tests)` : `WebGPU on ${name}` };
  return loaded;
}

/**
 * Reads from the GPU, made safe:
 * - Node has no synchronous GPU readback (tfjs reads synchronously through an OffscreenCanvas,
 *   which Node lacks: "OffscreenCanvas is not defined"). exp reads with `await data()`; a
 *   synchronous read of a value already on the host (read before, or never uploaded) still works;
 *   anything else is a bug in exp, and the error says so.
 * - A kernel the device rejected (a shader that fails validation) only raises an event, and the
 *   command buffer it was in is dropped: results would silently be stale. A read after such an
 *   event throws it instead.
 */
function guardReads(backend: InstanceType<WebGPUBackendClass>, errors: string[]): void {
  const readSync = backend.readSync.bind(backend);
  backend.readSync = (dataId: object) => {
    if (backend.tensorMap.get(dataId)?.values != null) return readSync(dataId);
    throw new Error('internal: a synchronous read (dataSync/arraySync) of a tensor on the GPU; Node has no ' +
      'synchronous GPU readback, so exp must read it with `await tensor.data()` (or readHost() before the synchronous code)');
  };
  const read = backend.read.bind(backend);
  backend.read = async (dataId: object) => {
    const values = await read(dataId);
    if (errors.length) {
      const all = errors.splice(0).map((e) => e.split('\n')[0]);
      throw new Error(`the GPU rejected ${all.length} command(s); results are invalid: ${all.join('; ')}`);
    }
    return values;
  };
}

/** After this, dataSync() of these tensors works on webgpu too (their values are kept on the host). */
export async function readHost(tensors: tf.Tensor[]): Promise<void> {
  await Promise.all(tensors.map((t) => t.data()));
}

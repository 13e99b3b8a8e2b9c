// Backend selection. `auto` takes the fastest backend that loads on this machine:
//   tensorflow (libtensorflow through @tensorflow/tfjs-node-gpu, then @tensorflow/tfjs-node),
//   webgpu (tfjs' WebGPU backend on Dawn, when the adapter is a real GPU), native (our Node-API
//   addon on oneDNN, registered on top of wasm), wasm (XNNPACK, in every install), cpu (pure JS,
//   the reference). `webgpu-software` (WebGPU on Mesa's llvmpipe, for tests) loads only when asked
//   for by name. Each candidate that does not load says why, and a forced one that does not load
//   is a UserError saying how to get it.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError } from '../errors.ts';
import { Registry } from '../registry.ts';
import type { RegisteredBackendName } from '../registry-names.gen.ts';
import { registerWasmGradKernels } from './kernels/index.ts';
import { meanGradConfig } from './kernels/mean-grad.ts';
import { minMaxGradConfigs } from './kernels/max-grad.ts';
import { reluGradConfig } from './kernels/relu-grad.ts';
import { tf } from './tf.ts';
import { loadWebgpu, readHost, WebgpuUnavailable, type AdapterInfo, type WebgpuMode } from './webgpu/index.ts';

/** `auto` or a registered backend (the names come from the registry below, through npm run gen). */
export type BackendName = 'auto' | RegisteredBackendName;

export interface BackendInfo {
  /** the exp backend: tensorflow | webgpu | native | wasm | cpu | webgpu-software */
  name: Exclude<BackendName, 'auto'>;
  /** version of the package that provides it, e.g. "@tensorflow/tfjs-backend-wasm 4.22.0" */
  version: string;
  /** the same inputs give bit-identical results (single-threaded, fixed reduction order) */
  deterministic: boolean;
  /** one line for people: what runs, and for `auto` why faster candidates were skipped */
  detail: string;
  /** candidates `auto` tried before this one and why each did not load */
  skipped: { name: string; reason: string }[];
  /** webgpu: the adapter the device runs on */
  adapter?: AdapterInfo;
}

/** Thrown by a loader when its backend cannot load here; `reason` says why, `fix` what to do. */
class NotAvailable extends Error {
  constructor(readonly reason: string, readonly fix: string) {
    super(reason);
  }
}

type Loaded = Omit<BackendInfo, 'skipped'> & { tfName: string };
type Loader = () => Promise<Loaded>;

const require = createRequire(import.meta.url);
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

function packageVersion(pkg: string): string {
  try {
    return (require(`${pkg}/package.json`) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

function firstLine(e: unknown): string {
  return String(e instanceof Error ? e.message : e).split('\n')[0];
}

async function loadTfjsNode(pkg: string, what: string): Promise<Loaded> {
  try {
    // a variable specifier: these are optionalDependencies, usually absent
    await import(pkg);
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
      throw new NotAvailable(`${pkg} is not installed`,
        `npm install ${pkg} (it downloads libtensorflow${pkg.endsWith('gpu') ? ' for CUDA' : ''}, so it needs network access)`);
    }
    throw new NotAvailable(`${pkg} is installed but did not load: ${firstLine(e)}`,
      `npm rebuild ${pkg}, or reinstall it (npm install ${pkg})`);
  }
  // it registers on the engine shared by every tfjs-core copy; check it really did
  if (!tf.findBackendFactory('tensorflow')) {
    throw new NotAvailable(`${pkg} loaded but registered no 'tensorflow' backend`,
      `make sure ${pkg} and @tensorflow/tfjs have the same version`);
  }
  if (!(await tf.setBackend('tensorflow'))) {
    throw new NotAvailable(`${pkg} loaded but its backend failed to initialise`, `npm rebuild ${pkg}`);
  }
  const version = `${pkg} ${packageVersion(pkg)}`;
  return { name: 'tensorflow', tfName: 'tensorflow', version, deterministic: false, detail: `libtensorflow (${what}) via ${version}` };
}

const wasmDist = () => join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist');

async function loadWasm(): Promise<Loaded> {
  const dist = wasmDist();
  if (!existsSync(join(dist, 'tfjs-backend-wasm-simd.wasm'))) {
    throw new NotAvailable(`the wasm binaries are missing from ${dist}`, 'reinstall dependencies: npm ci');
  }
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  if (!tf.findBackend('wasm')) {
    // Node has no web workers for wasm threads, and one thread keeps results deterministic
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
    // a file-path prefix: the emscripten loader reads the .wasm with fs in Node
    wasm.setWasmPaths(dist + '/');
  }
  // emscripten's loader adds process handlers that rethrow any uncaught error, printing a page of
  // minified wasm glue instead of the error; keep Node's own handling
  const events = ['uncaughtException', 'unhandledRejection'];
  const listeners = (ev: string) => process.listeners(ev as 'uncaughtException') as unknown[];
  const before = events.map((ev) => new Set(listeners(ev)));
  try {
    if (!(await tf.setBackend('wasm'))) throw new Error('initialisation failed');
  } catch (e) {
    throw new NotAvailable(`the wasm backend did not initialise: ${firstLine(e)}`, 'use Node 20 or newer, then npm ci');
  } finally {
    events.forEach((ev, i) => {
      for (const l of listeners(ev)) if (!before[i].has(l)) process.removeListener(ev, l as () => void);
    });
  }
  registerWasmGradKernels();
  const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
  const version = `@tensorflow/tfjs-backend-wasm ${wasm.version_wasm}`;
  return { name: 'wasm', tfName: 'wasm', version, deterministic: true,
    detail: `XNNPACK on WebAssembly (${simd ? 'SIMD' : 'no SIMD: slow'}, 1 thread) with exp's gradient kernels` };
}

interface NativeModule {
  registerNativeKernels?: () => boolean;
  /** Why the addon did not load (missing, broken, or built from other sources). */
  unavailableReason?: string;
  unregisterNativeKernels?: () => void;
  deterministic?: boolean;
}
/** Set once the native kernel module loaded: native and wasm share tfjs' 'wasm' backend, so
 * switching between them swaps the kernels registered on it (see ensureBackend). */
let nativeModule: NativeModule | undefined;

/** The native addon (built by the speed work, see issue 9) adds kernels on top of wasm. */
async function loadNative(): Promise<Loaded> {
  const addon = join(root, 'build', 'Release', 'exp_native.node');
  // beside this module: kernels/native.ts in the sources, kernels/native.js in the compiled dist/
  const modulePath = fileURLToPath(new URL(`./kernels/native${import.meta.url.slice(import.meta.url.lastIndexOf('.'))}`, import.meta.url));
  const fix = 'install oneDNN and rebuild the addon: apt-get install libdnnl-dev && npm rebuild';
  if (!existsSync(addon)) throw new NotAvailable(`not built (${addon} does not exist)`, fix);
  if (!existsSync(modulePath)) throw new NotAvailable(`not built (no kernel module ${modulePath})`, fix);
  const wasm = await loadWasm();
  let mod: NativeModule;
  try {
    mod = await import(modulePath);
    nativeModule = mod;
  } catch (e) {
    throw new NotAvailable(`the addon did not load: ${firstLine(e)}`, fix);
  }
  if (typeof mod.registerNativeKernels !== 'function' || !mod.registerNativeKernels()) {
    const why = mod.unavailableReason; // missing, broken, or built from other sources
    if (why?.includes('built from other sources')) {
      throw new NotAvailable(why.replace(/; run npm rebuild$/, ''), 'rebuild the addon from these sources: npm rebuild');
    }
    throw new NotAvailable(why ?? 'the addon loaded but registered no kernels', fix);
  }
  return { name: 'native', tfName: 'wasm', version: `exp_native (on ${wasm.version})`,
    deterministic: mod.deterministic === true, detail: 'oneDNN kernels (Node-API addon) on top of wasm' };
}

/** tfjs' webgpu backend on a Dawn device: a GPU, or Mesa's llvmpipe ('software'). Not
 * deterministic: tfjs' webgpu kernels sum with atomics in places (e.g. the gather gradient). */
async function loadWebgpuBackend(mode: WebgpuMode): Promise<Loaded> {
  try {
    const l = await loadWebgpu(mode);
    return { name: mode === 'gpu' ? 'webgpu' : 'webgpu-software', tfName: 'webgpu', version: l.version,
      deterministic: false, detail: l.detail, adapter: l.adapter };
  } catch (e) {
    if (e instanceof WebgpuUnavailable) throw new NotAvailable(e.reason, e.fix);
    throw new NotAvailable(`WebGPU did not initialise: ${firstLine(e)}`,
      'check the GPU driver (vulkaninfo --summary), or run with EXP_DEBUG=1 for details');
  }
}

async function loadCpu(): Promise<Loaded> {
  await tf.setBackend('cpu');
  return { name: 'cpu', tfName: 'cpu', version: `@tensorflow/tfjs-backend-cpu ${tf.version_cpu}`,
    deterministic: true, detail: 'pure JavaScript reference backend (slow)' };
}

/** Backends in the order `auto` tries them. */
export const backends = new Registry<Loader>('backend');
backends.register('tensorflow', 'libtensorflow: @tensorflow/tfjs-node-gpu, else @tensorflow/tfjs-node', async () => {
  try {
    return await loadTfjsNode('@tensorflow/tfjs-node-gpu', 'CUDA');
  } catch (gpu) {
    try {
      return await loadTfjsNode('@tensorflow/tfjs-node', 'CPU');
    } catch (cpu) {
      const [g, c] = [gpu, cpu] as NotAvailable[];
      throw new NotAvailable(`${g.reason}; ${c.reason}`, `${c.fix}; on a CUDA machine: ${g.fix}`);
    }
  }
});
backends.register('webgpu', 'tfjs\' WebGPU backend on a GPU, through Dawn (the webgpu npm package): Vulkan on Linux', () => loadWebgpuBackend('gpu'));
backends.register('native', 'oneDNN kernels from the exp_native addon, on top of wasm', loadNative);
backends.register('wasm', 'WebAssembly (XNNPACK), shipped in the npm package', loadWasm);
backends.register('cpu', 'pure JavaScript', loadCpu);
backends.register('webgpu-software', 'WebGPU on Mesa\'s llvmpipe (a CPU) through Dawn\'s OpenGL backend: slow, for tests; only when asked for by name',
  () => loadWebgpuBackend('software'));

/** Backends `auto` never picks: they load only when asked for by name. */
const BY_NAME_ONLY = new Set(['webgpu-software']);
/** The backends `auto` tries, in order. */
export const autoOrder = (): string[] => backends.names().filter((n) => !BY_NAME_ONLY.has(n));

/** Load and activate a backend; `auto` takes the first in `backends` order that loads. */
export async function selectBackend(name: BackendName): Promise<BackendInfo> {
  if (name !== 'auto' && !backends.has(name)) {
    throw new UserError(`unknown backend '${name}'. Available: auto, ${backends.names().join(', ')}`);
  }
  const skipped: BackendInfo['skipped'] = [];
  for (const candidate of name === 'auto' ? autoOrder() : [name]) {
    try {
      const loaded = await backends.get(candidate)();
      const { tfName, ...info } = loaded;
      tfNames.set(info.name, tfName);
      const why = skipped.map((s) => `${s.name}: ${s.reason}`).join('; ');
      return { ...info, detail: why ? `${info.detail} (skipped ${why})` : info.detail, skipped };
    } catch (e) {
      if (!(e instanceof NotAvailable)) throw e;
      if (name !== 'auto') {
        throw new UserError(`backend '${name}' cannot load: ${e.reason}. To fix: ${e.fix}; ` +
          `or choose another with --backend (auto picks the fastest that loads).`);
      }
      skipped.push({ name: candidate, reason: e.reason });
    }
  }
  throw new Error('no backend loaded, not even cpu'); // cpu always loads
}

const loaded = new Map<BackendName, BackendInfo>();
/** The tfjs backend under each exp backend (native runs on 'wasm', webgpu-software on 'webgpu'). */
const tfNames = new Map<string, string>();
let current: BackendInfo | undefined;

/**
 * exp's gradients in tfjs' registry in place of its own, for every backend; each gives tfjs'
 * values: Mean's without full-size intermediates, Max/Min's in one pass where the backend has the
 * kernel, Relu's from y instead of x (one activation fewer kept per residual block).
 */
const gradientOverrides: tf.GradConfig[] = [meanGradConfig, ...minMaxGradConfigs, reluGradConfig];
let gradientsRegistered = false;

/** Idempotent selectBackend for tests and stages: loads once per name, then just re-activates. */
export async function ensureBackend(name: BackendName = 'auto'): Promise<BackendInfo> {
  if (!gradientsRegistered) {
    for (const g of gradientOverrides) tf.registerGradient(g);
    gradientsRegistered = true;
  }
  let info = loaded.get(name);
  if (!info) {
    info = await selectBackend(name);
    loaded.set(name, info);
    loaded.set(info.name, info);
  } else {
    await tf.setBackend(tfNames.get(info.name) ?? info.name);
  }
  // native and wasm are one tfjs backend with different kernels: make the active set match.
  if (info.name === 'wasm') {
    nativeModule?.unregisterNativeKernels?.();
    registerWasmGradKernels();
  } else if (info.name === 'native') {
    nativeModule?.registerNativeKernels?.();
  }
  current = info;
  return info;
}

/** The backend in use, for run.json. */
export function backendInfo(): BackendInfo {
  if (!current) throw new Error('no backend selected yet: call ensureBackend() first');
  return current;
}

/** Whether reading a tensor waits for a device (webgpu): read such values late, and with
 * `await data()`, never dataSync() (Node has no synchronous GPU readback). */
export function readsAreAsync(): boolean {
  return tf.getBackend() === 'webgpu';
}

/**
 * Where reads are asynchronous, copy every variable's current value to the host, so that code
 * reading them synchronously next (optimizer and EMA state for a checkpoint) works. The copies
 * last until each variable is next assigned. Nothing to do on other backends.
 */
export async function readVariablesToHost(): Promise<void> {
  if (readsAreAsync()) await readHost(Object.values(tf.engine().registeredVariables));
}

// The WebGPU device under tfjs' webgpu backend, from Dawn's Node bindings (the `webgpu` npm
// package: a prebuilt dawn.node, no install-time download). Two ways in:
// - 'gpu': a hardware adapter, through Vulkan on Linux (Metal on macOS, D3D12 on Windows);
// - 'software': Mesa's llvmpipe through Dawn's OpenGL backend in compatibility mode, for tests and
//   CI on machines without a GPU (Dawn refuses Debian 12's lavapipe for Vulkan). Slow; used only
//   when asked for by name (backend `webgpu-software`).
// Each step that can fail here says why and what to install: the platform's Dawn build, glibc
// 2.34 (what dawn.node links against), the Vulkan loader or Mesa's EGL, and an adapter.
// tfjs-backend-webgpu registers its own backend factory only if navigator.gpu exists when it is
// imported, and that factory asks for a default adapter (none in compatibility mode): it is
// imported first, then navigator.gpu is installed and exp registers the backend on the device
// opened here.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export type WebgpuMode = 'gpu' | 'software';

/** What run.json records about the adapter (GPUAdapterInfo's fields, as Dawn fills them). */
export interface AdapterInfo {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** a CPU implementation (llvmpipe, lavapipe, SwiftShader, WARP) rather than a GPU */
  software: boolean;
}

/** Why WebGPU cannot be had here, and what to do about it. */
export class WebgpuUnavailable extends Error {
  constructor(readonly reason: string, readonly fix: string) {
    super(reason);
  }
}

// The few WebGPU types used here (the full set is @webgpu/types; tfjs-core pins an old one).
interface GpuAdapterLike {
  info: Omit<AdapterInfo, 'software'> & { isFallbackAdapter?: boolean };
  limits: Record<string, number>;
  features: Set<string>;
  requestDevice(d: { requiredLimits: Record<string, number>; requiredFeatures: string[] }): Promise<GpuDeviceLike>;
}
export interface GpuDeviceLike {
  lost: Promise<{ message: string }>;
  destroy(): void;
  addEventListener(type: 'uncapturederror', f: (e: { error: { message: string } }) => void): void;
}
interface GpuLike {
  requestAdapter(o: { powerPreference: string; featureLevel: string }): Promise<GpuAdapterLike | null>;
}
interface DawnModule {
  create(flags: string[]): GpuLike;
  globals: Record<string, unknown>;
}

const require = createRequire(import.meta.url);
const MIN_GLIBC = [2, 34];

export const packageVersion = (pkg: string): string => {
  try {
    return (require(`${pkg}/package.json`) as { version: string }).version;
  } catch {
    return 'unknown';
  }
};

/** glibc's version on Linux ('2.36'), null on musl; undefined off Linux. */
export function glibcVersion(): string | null | undefined {
  if (process.platform !== 'linux') return undefined;
  const header = (process.report.getReport() as { header?: { glibcVersionRuntime?: string } }).header;
  return header?.glibcVersionRuntime ?? null;
}

export function olderThan(version: string, min: number[]): boolean {
  const v = version.split('.').map(Number);
  for (let i = 0; i < min.length; i++) {
    if ((v[i] ?? 0) !== min[i]) return (v[i] ?? 0) < min[i];
  }
  return false;
}

/** Whether the dynamic linker can find `soname` (its cache, LD_LIBRARY_PATH, the usual folders). */
export function hasSharedLibrary(soname: string, env: NodeJS.ProcessEnv = process.env): boolean {
  try {
    if (readFileSync('/etc/ld.so.cache').includes(soname)) return true;
  } catch { /* no cache: look in the folders */ }
  const dirs = [...(env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean),
    '/lib/x86_64-linux-gnu', '/usr/lib/x86_64-linux-gnu', '/lib/aarch64-linux-gnu', '/usr/lib/aarch64-linux-gnu',
    '/lib64', '/usr/lib64', '/lib', '/usr/lib', '/usr/local/lib'];
  return dirs.some((d) => existsSync(join(d, soname)));
}

const SOFTWARE = /llvmpipe|lavapipe|softpipe|swiftshader|microsoft basic render|\bwarp\b|software/i;

export function isSoftwareAdapter(info: Omit<AdapterInfo, 'software'> & { isFallbackAdapter?: boolean }): boolean {
  return info.isFallbackAdapter === true || SOFTWARE.test(`${info.vendor} ${info.architecture} ${info.device} ${info.description}`);
}

/** What preflight looks at (a parameter, so tests can present other machines). */
export interface HostFacts {
  /** `${platform}-${arch}` as the webgpu package names its builds */
  platform: string;
  /** the package has dawn.node for this platform (true when the package is absent: loadDawn says so) */
  dawnBuild: boolean;
  glibc: string | null | undefined;
  hasLibrary(soname: string): boolean;
}

export function hostFacts(dawnDir: string | null): HostFacts {
  const platform = `${process.platform}-${process.platform === 'darwin' ? 'universal' : process.arch}`;
  return {
    platform,
    dawnBuild: !dawnDir || existsSync(join(dawnDir, 'dist', platform, 'dawn.node')),
    glibc: glibcVersion(),
    hasLibrary: (soname) => hasSharedLibrary(soname),
  };
}

/** What must hold before Dawn is loaded: a build for this platform, glibc >= 2.34 and, on Linux,
 * the Vulkan loader (GPU) or Mesa's EGL (software). Throws WebgpuUnavailable. */
export function preflight(mode: WebgpuMode, host: HostFacts): void {
  if (!host.dawnBuild) {
    throw new WebgpuUnavailable(`the webgpu package has no Dawn build for ${host.platform}`,
      'use Linux (x64, arm64), macOS or Windows; or the tensorflow backend (npm install @tensorflow/tfjs-node-gpu) on this platform');
  }
  if (!host.platform.startsWith('linux-')) return;
  if (host.glibc === null) {
    throw new WebgpuUnavailable('this Linux has no glibc (musl?); Dawn\'s prebuilt dawn.node needs glibc 2.34 or newer',
      'use a glibc distribution (Debian 12, Ubuntu 22.04, RHEL 9 or newer), e.g. the node:20-bookworm image instead of an Alpine one');
  }
  if (host.glibc && olderThan(host.glibc, MIN_GLIBC)) {
    throw new WebgpuUnavailable(`glibc ${host.glibc} is older than 2.34, which Dawn's prebuilt dawn.node needs`,
      'use a newer distribution (Debian 12, Ubuntu 22.04, RHEL 9 or newer); on this machine the GPU route is the tensorflow backend (npm install @tensorflow/tfjs-node-gpu, CUDA 11.2)');
  }
  if (mode === 'gpu' && !host.hasLibrary('libvulkan.so.1')) {
    throw new WebgpuUnavailable('no Vulkan loader (libvulkan.so.1), through which Dawn reaches the GPU on Linux',
      'install it (apt-get install libvulkan1, or dnf install vulkan-loader) beside the GPU driver\'s Vulkan driver; in a container, NVIDIA_DRIVER_CAPABILITIES must include graphics so the driver\'s nvidia_icd.json is mounted');
  }
  if (mode === 'software' && !(host.hasLibrary('libEGL.so.1') && host.hasLibrary('libEGL_mesa.so.0'))) {
    throw new WebgpuUnavailable('Mesa\'s EGL (libEGL.so.1, libEGL_mesa.so.0) is missing; the software adapter is Mesa\'s llvmpipe through EGL',
      'apt-get install libegl1 libegl-mesa0 libgl1-mesa-dri');
  }
}

/** The adapter Dawn offered, or why it will not do: none at all, or (for 'gpu') a software one. */
export function checkAdapter(mode: WebgpuMode, raw: (Omit<AdapterInfo, 'software'> & { isFallbackAdapter?: boolean }) | null,
  platform = process.platform): AdapterInfo {
  if (!raw) {
    throw mode === 'software'
      ? new WebgpuUnavailable('Mesa\'s OpenGL offered Dawn no adapter', 'apt-get install libegl1 libegl-mesa0 libgl1-mesa-dri')
      : new WebgpuUnavailable(`Dawn found no GPU adapter${platform === 'linux' ? ' through Vulkan' : ''}`,
        'check that the GPU driver is loaded and offers Vulkan (vulkaninfo --summary lists the GPU; NVIDIA: the driver\'s nvidia_icd.json, AMD/Intel: mesa-vulkan-drivers); ' +
          'without a GPU, --backend webgpu-software runs on Mesa\'s llvmpipe (slow, for tests)');
  }
  const info: AdapterInfo = { vendor: raw.vendor, architecture: raw.architecture, device: raw.device,
    description: raw.description, software: isSoftwareAdapter(raw) };
  if (mode === 'gpu' && info.software) {
    throw new WebgpuUnavailable(`the only adapter is a software one (${info.device || info.description})`,
      'install the GPU\'s Vulkan driver; or ask for the software adapter by name: --backend webgpu-software');
  }
  return info;
}

async function loadDawn(): Promise<DawnModule> {
  const spec = 'webgpu'; // a variable specifier: an optionalDependency, possibly omitted
  try {
    return await import(spec) as DawnModule;
  } catch (e) {
    const code = (e as { code?: string }).code;
    const msg = String(e instanceof Error ? e.message : e).split('\n')[0];
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
      throw new WebgpuUnavailable('the webgpu package (Dawn) is not installed',
        'npm install (it is an optional dependency: do not pass --omit=optional), or npm install webgpu');
    }
    if (/GLIBC_[0-9.]+/.test(msg)) {
      throw new WebgpuUnavailable(`dawn.node needs a newer glibc: ${msg}`,
        'use a distribution with glibc 2.34 or newer (Debian 12, Ubuntu 22.04, RHEL 9)');
    }
    throw new WebgpuUnavailable(`Dawn (dawn.node) did not load: ${msg}`, 'reinstall it: npm rebuild webgpu, or npm ci');
  }
}

export interface OpenedDevice {
  device: GpuDeviceLike;
  adapter: AdapterInfo;
  /** the raw GPUAdapterInfo, for tfjs' WebGPUBackend */
  adapterInfo: unknown;
  /** uncaptured device errors (a shader that fails validation), newest last */
  errors: string[];
}

let opened: Promise<OpenedDevice> | undefined;
let openedMode: WebgpuMode | undefined;

/** The device (opened once per process: a second adapter would be a second tfjs backend). */
export function openDevice(mode: WebgpuMode): Promise<OpenedDevice> {
  if (opened && openedMode === mode) return opened;
  if (opened) {
    return Promise.reject(new WebgpuUnavailable(`WebGPU is already open on the ${openedMode} adapter in this process`,
      'use one webgpu backend per process'));
  }
  openedMode = mode;
  opened = open(mode);
  opened.catch(() => { opened = undefined; openedMode = undefined; });
  return opened;
}

async function open(mode: WebgpuMode): Promise<OpenedDevice> {
  let dawnDir: string | null = null;
  try {
    dawnDir = dirname(require.resolve('webgpu/package.json'));
  } catch { /* reported by loadDawn */ }
  preflight(mode, hostFacts(dawnDir));
  // Mesa picks its EGL platform from the environment; without a display only surfaceless works
  if (mode === 'software') process.env.EGL_PLATFORM ??= 'surfaceless';
  const dawn = await loadDawn();
  const flags = mode === 'software' ? ['backend=opengl'] : process.platform === 'linux' ? ['backend=vulkan'] : [];
  const gpu = dawn.create(flags);
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance',
    featureLevel: mode === 'software' ? 'compatibility' : 'core' });
  const info = checkAdapter(mode, adapter?.info ?? null);
  const a = adapter as GpuAdapterLike; // checkAdapter threw if there was none
  const l = a.limits;
  const keep = ['maxComputeWorkgroupStorageSize', 'maxComputeWorkgroupsPerDimension', 'maxStorageBufferBindingSize',
    'maxBufferSize', 'maxComputeWorkgroupSizeX', 'maxComputeInvocationsPerWorkgroup',
    // compatibility mode grants 4 storage buffers per stage by default; tfjs' kernels bind more
    'maxStorageBuffersPerShaderStage'];
  const device = await a.requestDevice({
    requiredLimits: Object.fromEntries(keep.filter((k) => typeof l[k] === 'number').map((k) => [k, l[k]])),
    requiredFeatures: a.features.has('timestamp-query') ? ['timestamp-query'] : [],
  });
  const errors: string[] = [];
  device.addEventListener('uncapturederror', (e) => {
    errors.push(e.error.message);
    if (errors.length > 20) errors.shift();
  });
  // a lost device (driver reset, out of memory) fails every later command the same silent way
  void device.lost.then((lost) => errors.push(`the GPU device was lost: ${lost.message}`));
  installGlobals(dawn, gpu);
  return { device, adapter: info, adapterInfo: a.info, errors };
}

/** navigator.gpu and the GPU* classes, where tfjs-backend-webgpu looks for them. */
function installGlobals(dawn: DawnModule, gpu: GpuLike): void {
  const g = globalThis as Record<string, unknown>;
  for (const [k, v] of Object.entries(dawn.globals)) if (!(k in g)) g[k] = v;
  const nav = g.navigator as Record<string, unknown> | undefined;
  if (!nav) {
    g.navigator = { gpu };
  } else if (!nav.gpu) {
    // Node 21+ has a navigator whose properties are getters on its prototype
    Object.defineProperty(nav, 'gpu', { value: gpu, configurable: true });
  }
}

// The webgpu backends: what --backend webgpu / webgpu-software give, where auto puts them, and the
// errors that say what to install when they cannot load. The checks before Dawn loads and of the
// adapter it offers are tested on described machines; loading itself on this one's software
// adapter (skipped, with the reason, where Mesa's EGL is missing).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import AjvModule from 'ajv';
import { tf } from '../../src/model/tf.ts';
import { UserError } from '../../src/errors.ts';
import { autoOrder, backends, readsAreAsync, selectBackend } from '../../src/model/backend.ts';
import {
  checkAdapter, hasSharedLibrary, isSoftwareAdapter, olderThan, preflight, WebgpuUnavailable, type HostFacts,
} from '../../src/model/webgpu/device.ts';
import { webgpuKernels } from '../../src/model/webgpu/kernels.ts';
import { missingKernels, probeNet } from '../../src/model/kernels/probe.ts';
import { read, relMax, tryWebgpu, WEBGPU } from './webgpu-helpers.ts';

const host = (o: Partial<HostFacts> = {}): HostFacts => ({
  platform: 'linux-x64', dawnBuild: true, glibc: '2.36', hasLibrary: () => true, ...o,
});
const unavailable = (re: RegExp, fix: RegExp) => (e: unknown) =>
  e instanceof WebgpuUnavailable && re.test(e.reason) && fix.test(e.fix);

test('auto tries webgpu after tensorflow and before native; the software adapter only by name', () => {
  const order = autoOrder();
  assert.deepEqual(order, ['tensorflow', 'webgpu', 'native', 'wasm', 'cpu']);
  assert.ok(backends.has('webgpu-software') && !order.includes('webgpu-software'));
});

test('before Dawn loads: each missing piece is named with its fix', () => {
  assert.doesNotThrow(() => preflight('gpu', host()));
  assert.throws(() => preflight('gpu', host({ glibc: '2.31' })), unavailable(/glibc 2\.31 is older than 2\.34/, /Debian 12|Ubuntu 22\.04/));
  assert.throws(() => preflight('software', host({ glibc: '2.28' })), unavailable(/older than 2\.34/, /tfjs-node-gpu/));
  assert.throws(() => preflight('gpu', host({ glibc: null })), unavailable(/no glibc \(musl\?\)/, /glibc distribution/));
  assert.throws(() => preflight('gpu', host({ hasLibrary: (s) => s !== 'libvulkan.so.1' })),
    unavailable(/no Vulkan loader \(libvulkan\.so\.1\)/, /apt-get install libvulkan1/));
  // the software adapter needs Mesa's EGL, not Vulkan
  assert.doesNotThrow(() => preflight('software', host({ hasLibrary: (s) => s !== 'libvulkan.so.1' })));
  assert.throws(() => preflight('software', host({ hasLibrary: (s) => s !== 'libEGL_mesa.so.0' })),
    unavailable(/Mesa's EGL/, /apt-get install libegl1 libegl-mesa0 libgl1-mesa-dri/));
  assert.throws(() => preflight('gpu', host({ platform: 'freebsd-x64', dawnBuild: false })), unavailable(/no Dawn build for freebsd-x64/, /Linux/));
  // no glibc or loader checks off Linux (Dawn uses Metal / D3D12 there)
  assert.doesNotThrow(() => preflight('gpu', host({ platform: 'darwin-universal', glibc: undefined, hasLibrary: () => false })));
});

test('glibc versions compare numerically; libraries are found through the linker cache', () => {
  assert.ok(olderThan('2.31', [2, 34]) && olderThan('2.9', [2, 34]) && olderThan('1.99', [2, 34]));
  assert.ok(!olderThan('2.34', [2, 34]) && !olderThan('2.36', [2, 34]) && !olderThan('3.0', [2, 34]));
  assert.equal(hasSharedLibrary('libc.so.6'), true);
  assert.equal(hasSharedLibrary('libexp-no-such-library.so.7'), false);
});

test('the adapter: none, or only a software one for --backend webgpu, say what to do', () => {
  const info = (device: string, description = '', vendor = '') => ({ vendor, architecture: '', device, description });
  assert.throws(() => checkAdapter('gpu', null, 'linux'), unavailable(/no GPU adapter through Vulkan/, /vulkaninfo --summary.*webgpu-software/));
  assert.throws(() => checkAdapter('software', null), unavailable(/Mesa's OpenGL offered Dawn no adapter/, /libegl-mesa0/));
  assert.throws(() => checkAdapter('gpu', info('llvmpipe (LLVM 15.0.6, 256 bits)')), unavailable(/only adapter is a software one/, /--backend webgpu-software/));
  const h200 = checkAdapter('gpu', { ...info('NVIDIA H200', 'NVIDIA: 580.159.03', 'nvidia'), architecture: 'hopper' });
  assert.deepEqual(h200, { vendor: 'nvidia', architecture: 'hopper', device: 'NVIDIA H200', description: 'NVIDIA: 580.159.03', software: false });
  for (const d of ['llvmpipe-llvm-15-0-6-256-bits-', 'Lavapipe', 'SwiftShader Device (Subzero)', 'Microsoft Basic Render Driver']) {
    assert.equal(isSoftwareAdapter(info(d)), true, d);
  }
  assert.equal(isSoftwareAdapter({ ...info('AMD Radeon RX 7900'), isFallbackAdapter: true }), true);
  assert.equal(isSoftwareAdapter(info('Intel(R) Arc(tm) A770 Graphics (DG2)')), false);
});

test('--backend webgpu without a usable GPU is a UserError naming the fix', async (t) => {
  if (hasSharedLibrary('libvulkan.so.1')) return t.skip('this machine has a Vulkan loader; the error path is covered by the preflight test');
  await assert.rejects(selectBackend('webgpu'), (e: unknown) => e instanceof UserError
    && /backend 'webgpu' cannot load: no Vulkan loader/.test(e.message) && /apt-get install libvulkan1/.test(e.message));
  // auto goes on to the next backend, saying why it skipped webgpu
  const info = await selectBackend('auto');
  assert.notEqual(info.name, 'webgpu');
  assert.match(info.skipped.find((s) => s.name === 'webgpu')?.reason ?? '', /no Vulkan loader/);
});

test(`${WEBGPU}: records the adapter, versions and deterministic: false, and runs exp's kernels`, async (t) => {
  const { info, skip } = await tryWebgpu();
  if (!info) return t.skip(skip);
  assert.equal(info.name, WEBGPU);
  assert.equal(tf.getBackend(), 'webgpu');
  assert.equal(readsAreAsync(), true);
  assert.equal(info.deterministic, false);
  assert.match(info.version, /^@tensorflow\/tfjs-backend-webgpu 4\.22\.\d+, Dawn \(webgpu \d+\.\d+\.\d+\)$/);
  assert.ok(info.adapter && typeof info.adapter.device === 'string' && info.adapter.software === (WEBGPU === 'webgpu-software'));
  if (WEBGPU === 'webgpu-software') assert.match(info.detail, /software adapter .*llvmpipe.*slow, for tests/);
  for (const k of webgpuKernels) assert.ok(tf.getKernel(k.kernelName, 'webgpu') === k, k.kernelName);
});

test(`${WEBGPU}: the probe net (conv, depthwise, batch norm, pooling, SE, dropout, softmax CE) and its gradients match cpu`, async (t) => {
  const { info, skip } = await tryWebgpu();
  if (!info) return t.skip(skip);
  await selectBackend('cpu');
  const ref = (probeNet(5) as tf.Tensor[]).map((x) => x.dataSync().slice());
  await selectBackend(WEBGPU);
  const out = probeNet(5) as tf.Tensor[];
  const got = await read(...out);
  tf.dispose(out);
  got.forEach((g, i) => assert.ok(relMax(ref[i], g) < 1e-5, `output ${i}: ${relMax(ref[i], g)}`));
});

test(`${WEBGPU}: has every kernel the probe net's training uses (no fallback needed)`, async (t) => {
  const { info, skip } = await tryWebgpu();
  if (!info) return t.skip(skip);
  assert.deepEqual(await missingKernels(() => probeNet(), 'webgpu'), []);
});

test(`${WEBGPU}: a synchronous read of a GPU tensor says why it cannot work; after data() it can`, async (t) => {
  const { info, skip } = await tryWebgpu();
  if (!info) return t.skip(skip);
  const x = tf.tidy(() => tf.square(tf.range(0, 4096)));
  assert.throws(() => x.dataSync(), /synchronous read .* Node has no synchronous GPU readback.*await tensor\.data\(\)/);
  const v = await x.data();
  assert.equal(v[3], 9);
  assert.equal(x.dataSync()[4095], 4095 * 4095); // now on the host
  x.dispose();
});

test(`${WEBGPU}: a kernel the device rejects makes the next read fail instead of returning stale values`, async (t) => {
  const { info, skip } = await tryWebgpu();
  if (!info) return t.skip(skip);
  const backend = tf.backend() as unknown as { runWebGPUProgram(...a: unknown[]): tf.TensorInfo };
  const x = tf.tidy(() => tf.add(tf.range(0, 64), 1));
  const bad = {
    outputShape: [64], shaderKey: 'expTestInvalid', dispatchLayout: { x: [0] }, dispatch: [1, 1, 1], variableNames: ['x'],
    variableComponents: [1], outputComponent: 1, workgroupSize: [64, 1, 1], size: true, uniforms: '',
    getUserCode: () => 'fn main(index : i32) { result[index] = x[index] + undefinedName; }',
  };
  const out = backend.runWebGPUProgram(bad, [x], 'float32', []);
  const y = tf.engine().makeTensorFromTensorInfo(out);
  await assert.rejects(y.data(), /the GPU rejected \d+ command\(s\); results are invalid/);
  tf.dispose([x, y]);
  // and the device still works afterwards
  const z = tf.tidy(() => tf.mul(tf.range(0, 8), 2));
  assert.deepEqual(Array.from(await z.data()), [0, 2, 4, 6, 8, 10, 12, 14]);
  z.dispose();
});

test('run.json records the adapter under backend.adapter (webgpu backends only), and its schema checks it', () => {
  const schema = JSON.parse(readFileSync('schemas/run/run.schema.json', 'utf8'));
  // ajv is CommonJS: its class is the default export's default
  const Ajv = ((AjvModule as unknown as { default?: unknown }).default ?? AjvModule) as typeof AjvModule.default;
  const check = new Ajv({ strict: false }).compile(schema.properties.backend.anyOf[0]);
  const adapter = { vendor: 'nvidia', architecture: 'hopper', device: 'NVIDIA H200', description: 'NVIDIA: 580.159.03', software: false };
  assert.ok(check({ name: 'webgpu', version: '@tensorflow/tfjs-backend-webgpu 4.22.0, Dawn (webgpu 0.6.2)', deterministic: false, replicas: 1, adapter }));
  assert.ok(check({ name: 'wasm', version: '@tensorflow/tfjs-backend-wasm 4.22.0', deterministic: true }));
  assert.ok(!check({ name: 'webgpu', version: 'x', deterministic: false, adapter: { ...adapter, software: 'no' } }));
  assert.ok(!check({ name: 'webgpu', version: 'x', deterministic: false, adapter: { vendor: 'nvidia' } }));
});

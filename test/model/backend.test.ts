// Backend selection: what a user gets from --backend, and the errors when a backend cannot load.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { UserError } from '../../src/errors.ts';
import { backendInfo, backends, ensureBackend, selectBackend } from '../../src/model/backend.ts';
import { tf } from '../../src/model/tf.ts';

const require = createRequire(import.meta.url);
const installed = (pkg: string) => {
  try { require.resolve(pkg); return true; } catch { return false; }
};

test('wasm: deterministic, versioned, SIMD, and its gradient kernels are registered', async () => {
  const info = await selectBackend('wasm');
  assert.equal(info.name, 'wasm');
  assert.equal(tf.getBackend(), 'wasm');
  assert.equal(info.deterministic, true);
  assert.match(info.version, /^@tensorflow\/tfjs-backend-wasm \d+\.\d+\.\d+$/);
  assert.match(info.detail, /SIMD, 1 thread/);
  for (const k of ['Conv2DBackpropFilter', 'DepthwiseConv2dNativeBackpropFilter', 'DepthwiseConv2dNativeBackpropInput']) {
    assert.ok(tf.getKernel(k, 'wasm'), `${k} registered`);
  }
});

test('cpu always loads and is deterministic', async () => {
  const info = await selectBackend('cpu');
  assert.deepEqual([info.name, info.deterministic, tf.getBackend()], ['cpu', true, 'cpu']);
});

test('auto takes the first backend that loads and says why it skipped the others', async () => {
  const info = await selectBackend('auto');
  const order = backends.names();
  assert.deepEqual(info.skipped.map((s) => s.name), order.slice(0, order.indexOf(info.name)));
  for (const s of info.skipped) assert.ok(s.reason.length > 0 && info.detail.includes(s.reason));
  if (!installed('@tensorflow/tfjs-node') && !installed('@tensorflow/tfjs-node-gpu')) {
    assert.notEqual(info.name, 'tensorflow');
    assert.match(info.skipped[0].reason, /@tensorflow\/tfjs-node-gpu is not installed/);
  }
});

test('forcing an unavailable backend is a UserError that says how to fix it', async (t) => {
  if (installed('@tensorflow/tfjs-node') || installed('@tensorflow/tfjs-node-gpu')) {
    t.skip('tfjs-node is installed here');
  } else {
    await assert.rejects(selectBackend('tensorflow'),
      (e: unknown) => e instanceof UserError && /npm install @tensorflow\/tfjs-node/.test(e.message));
  }
  if (existsSync('build/Release/exp_native.node')) return;
  await assert.rejects(selectBackend('native'),
    (e: unknown) => e instanceof UserError && /not built/.test(e.message) && /libdnnl-dev/.test(e.message));
});

test('an unknown backend name lists the choices', async () => {
  await assert.rejects(selectBackend('gpu' as 'cpu'),
    (e: unknown) => e instanceof UserError && /auto, tensorflow, webgpu, native, wasm, cpu, webgpu-software/.test(e.message));
});

test('ensureBackend is idempotent and backendInfo reports the active backend', async () => {
  const a = await ensureBackend('wasm');
  const b = await ensureBackend('wasm');
  assert.equal(a, b);
  await ensureBackend('cpu');
  assert.equal(backendInfo().name, 'cpu');
  assert.equal(tf.getBackend(), 'cpu');
  await ensureBackend('wasm');
  assert.equal(backendInfo().name, 'wasm');
  assert.equal(tf.getBackend(), 'wasm');
  // still trains after switching back and forth
  const g = tf.grad((w: tf.Tensor) => tf.conv2d(tf.ones([1, 4, 4, 2]) as tf.Tensor4D, w as tf.Tensor4D, 1, 'same').sum());
  assert.deepEqual(g(tf.ones([3, 3, 2, 1])).shape, [3, 3, 2, 1]);
});

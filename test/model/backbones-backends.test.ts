// Registry-driven: every registered backbone, in an exp model (the step of webgpu-parity.ts:
// hierarchical head with dropout, focal loss, SGD with momentum and weight decay), trains one
// step on each available CPU backend (native when its addon is built, wasm) and matches the same
// step on the reference backend: losses, gradients and the weights after the update.
//
// The reference is tfjs' cpu backend for the tiny backbone and wasm for the others (the kernels
// wasm runs are checked against cpu one by one in kernels.test.ts): cpu's naive filter gradient
// needs minutes per ResNet-50-sized backbone. EXP_TEST_PARITY_REFERENCE=cpu compares every
// backbone with cpu where there is time. Tolerances: TOLERANCE of webgpu-parity.ts (float32 sums
// in another order through up to 50 batch-normalised layers at 32 px); a wrong kernel gives
// errors of order 1.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ensureBackend } from '../../src/model/backend.ts';
import { backbones } from '../../src/model/backbones/index.ts';
import { loadAddon, unavailableReason } from '../../src/model/kernels/native.ts';
import { compareSteps, TOLERANCE, trainStep } from './webgpu-parity.ts';

const SIZE = 32, BATCH = 4; // at batch 2 the last stages normalise 2 values per channel (1x1 maps): rounding is amplified to order 1
const forceCpu = process.env.EXP_TEST_PARITY_REFERENCE === 'cpu';
const nativeSkip = loadAddon() ? false : `native addon not available: ${unavailableReason}`;
if (nativeSkip) console.log(`# skipping the native backbone steps: ${nativeSkip}`);

for (const { name } of backbones.list()) {
  const reference = forceCpu || name === 'tiny' ? 'cpu' : 'wasm';
  for (const backend of ['native', 'wasm'] as const) {
    if (backend === reference) continue;
    test(`backbone ${name}: one training step on ${backend} matches ${reference} (losses, gradients, updated weights)`,
      { skip: backend === 'native' ? nativeSkip : false }, async (t) => {
        await ensureBackend(reference);
        const ref = await trainStep(name, SIZE, BATCH);
        await ensureBackend(backend);
        const got = await trainStep(name, SIZE, BATCH);
        const p = compareSteps(ref, got);
        const msg = `${name} on ${backend}: ${JSON.stringify(p)}`;
        assert.ok(p.loss <= TOLERANCE.loss, msg);
        assert.ok(p.grads <= TOLERANCE.grads, msg);
        assert.ok(p.worstGrad.err <= TOLERANCE.worstGrad, msg);
        assert.ok(p.weights <= TOLERANCE.weights, msg);
        t.diagnostic(msg);
      });
  }
}

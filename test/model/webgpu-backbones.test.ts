// Registry-driven: every registered backbone, in an exp model (hierarchical head with dropout,
// focal loss with class-balanced alpha and label smoothing, SGD with momentum and weight decay),
// trains one step on webgpu and matches the same step on the reference backend: the losses, the
// gradients and the weights after the update (batch-norm moving statistics included).
//
// The reference is wasm, exp's deterministic CPU backend, whose kernels test/model/kernels.test.ts
// checks against tfjs' cpu backend; cpu itself needs minutes per ResNet-50-sized backbone for the
// filter gradients alone (see test/model/backbones.test.ts). EXP_TEST_PARITY_REFERENCE=cpu runs
// against cpu where there is time.
//
// Tolerances (TOLERANCE in webgpu-parity.ts): the losses within 1e-2 (relative), all gradients as
// one vector within 0.1 (relative Euclidean distance), the worst single gradient within 0.25, the
// weights after the step within 0.1. Measured here on the software adapter at 32 px, batch 4 (all
// 7 backbones): losses within 2e-3, gradients within 3e-2, the worst single one 4.2e-2, weights
// within 2.7e-2, while the kernels alone agree to 1e-5 (webgpu-kernels.test.ts). The gap is
// float32 rounding in another order, grown through up to 50 batch-normalised layers whose last
// stages see 1x1 feature maps at this size (4 values per channel): at 64 px resnet18's gradients
// agree to 6e-6. A wrong kernel, or a layer falling back to something else, gives errors of order 1.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ensureBackend } from '../../src/model/backend.ts';
import { backbones } from '../../src/model/backbones/index.ts';
import { compareSteps, TOLERANCE, trainStep } from './webgpu-parity.ts';
import { tryWebgpu, WEBGPU } from './webgpu-helpers.ts';

const { info, skip } = await tryWebgpu();
const REFERENCE = (process.env.EXP_TEST_PARITY_REFERENCE ?? 'wasm') as 'wasm' | 'cpu';
const SIZE = 32, BATCH = 4; // the smallest input exp builds; a batch whose statistics are not degenerate

for (const { name } of backbones.list()) {
  test(`backbone ${name}: one training step on ${WEBGPU} matches ${REFERENCE} (losses, gradients, updated weights)`, async (t) => {
    if (!info) return t.skip(skip);
    await ensureBackend(REFERENCE);
    const ref = await trainStep(name, SIZE, BATCH);
    await ensureBackend(WEBGPU);
    const got = await trainStep(name, SIZE, BATCH);
    const p = compareSteps(ref, got);
    const msg = `${name}: ${JSON.stringify(p)}`;
    assert.ok(p.loss <= TOLERANCE.loss, msg);
    assert.ok(p.grads <= TOLERANCE.grads, msg);
    assert.ok(p.worstGrad.err <= TOLERANCE.worstGrad, msg);
    assert.ok(p.weights <= TOLERANCE.weights, msg);
    t.diagnostic(msg);
  });
}

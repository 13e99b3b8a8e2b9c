// Batch norm's moving-average update in one kernel (kernels/moving-average.ts): on wasm and native
// the same values as tfjs' Sub/Multiply/Sub bit for bit, in one call per layer; FreezableBatchNorm's
// moving statistics after training calls equal those of tfjs' own update.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../src/model/tf.ts';
import { ensureBackend, type BackendName } from '../../src/model/backend.ts';
import { loadAddon } from '../../src/model/kernels/native.ts';
import { MOVING_AVERAGE, movingAverages } from '../../src/model/kernels/moving-average.ts';
import { FreezableBatchNorm } from '../../src/model/layers/index.ts';
import { Rng } from '../../src/util/rng.ts';

const backends: BackendName[] = ['wasm', ...(loadAddon() ? ['native' as const] : [])];

function bits(t: tf.Tensor): number[] {
  const v = t.dataSync() as Float32Array;
  return Array.from(new Uint32Array(v.buffer, v.byteOffset, v.length));
}

for (const backend of backends) {
  test(`movingAverages on ${backend} equals moving - (moving - value) * (1 - momentum) in float32 bit for bit, in one kernel`, async () => {
    await ensureBackend(backend);
    const rng = new Rng(8);
    const n = 257;
    const vec = (lo: number, hi: number) => tf.tensor(Float32Array.from({ length: n }, () => rng.uniform(lo, hi) * 10 ** rng.uniform(-3, 3)));
    const [mm, m, mv, v] = [vec(-1, 1), vec(-1, 1), vec(0, 1), vec(0, 1)];
    for (const momentum of [0.99, 0.9, 0.1]) {
      const [gm, gv] = movingAverages(mm, m, mv, v, momentum);
      const rm = tf.sub(mm, tf.mul(tf.sub(mm, m), 1 - momentum)), rv = tf.sub(mv, tf.mul(tf.sub(mv, v), 1 - momentum));
      assert.deepEqual(bits(gm), bits(rm), `mean, momentum ${momentum}`);
      assert.deepEqual(bits(gv), bits(rv), `variance, momentum ${momentum}`);
      tf.dispose([gm, gv, rm, rv]);
    }
    const p = await tf.profile(() => tf.dispose(movingAverages(mm, m, mv, v, 0.99)));
    assert.deepEqual(p.kernels.map((k) => k.name), [MOVING_AVERAGE]);
    tf.dispose([mm, m, mv, v]);
  });
}

for (const backend of backends) {
  test(`FreezableBatchNorm's moving statistics after training calls on ${backend} are those of tfjs' own update bit for bit`, async () => {
    await ensureBackend(backend);
    const run = () => {
      const rng = new Rng(12);
      const bn = new FreezableBatchNorm({ momentum: 0.99, epsilon: 1e-3 });
      for (let step = 0; step < 3; step++) {
        const x = tf.tensor(Float32Array.from({ length: 4 * 3 * 3 * 8 }, () => rng.uniform(-2, 5)), [4, 3, 3, 8]);
        tf.dispose(bn.apply(x, { training: true }) as tf.Tensor);
        x.dispose();
      }
      const stats = bn.getWeights().slice(2).map(bits); // moving mean, moving variance
      bn.dispose();
      return stats;
    };
    const bn = new FreezableBatchNorm({ momentum: 0.99 });
    const x = tf.ones([2, 2, 2, 4]);
    const p = await tf.profile(() => tf.dispose(bn.apply(x, { training: true }) as tf.Tensor));
    const names = p.kernels.map((k) => k.name);
    assert.ok(names.includes(MOVING_AVERAGE) && !names.includes('Sub'), `the layer's update is the one kernel (ran ${names.join(', ')})`);
    tf.dispose(x);
    bn.dispose();
    const fused = run();
    const kernel = tf.getKernel(MOVING_AVERAGE, 'wasm')!;
    tf.unregisterKernel(MOVING_AVERAGE, 'wasm'); // movingAverages falls back to tfjs' Sub/Multiply/Sub
    try {
      assert.deepEqual(fused, run());
    } finally {
      tf.registerKernel(kernel);
    }
  });
}

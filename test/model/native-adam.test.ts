// exp's fused Adam/AdamW kernel on native (kernels/adam.ts) against the optimizer's op chain:
// the same weights and slots after several steps, with and without either weight decay, and
// against the op chain on cpu. Skips, saying why, when the addon is not built.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../src/model/tf.ts';
import { ensureBackend } from '../../src/model/backend.ts';
import { loadAddon, registerNativeKernels, unavailableReason } from '../../src/model/kernels/native.ts';
import { ADAM_UPDATE, fusedAdamAvailable } from '../../src/model/kernels/adam.ts';
import { createOptimizer, type OptimizerConfig } from '../../src/model/optimizers.ts';
import { Rng } from '../../src/util/rng.ts';
import { relError } from './kernel-helpers.ts';

const skip = loadAddon() ? false : `native addon not available: ${unavailableReason}`;
if (skip) console.log(`# skipping the native Adam tests: ${skip}`);

const SHAPES = [[3, 3, 8, 16], [1000], [7]];

/** Weights and slots after 4 steps of `cfg` on the active backend; the kernels that ran. */
async function steps(cfg: OptimizerConfig): Promise<{ values: Float32Array[]; kernels: Set<string> }> {
  const rng = new Rng(5);
  const rand = (s: number[]) => Float32Array.from({ length: s.reduce((a, b) => a * b, 1) }, () => rng.uniform(-1, 1));
  const params = SHAPES.map((s, i) => ({ key: `w${i}`, variable: tf.variable(tf.tensor(rand(s), s)) }));
  const grads = Array.from({ length: 4 }, () => SHAPES.map((s) => rand(s)));
  const opt = createOptimizer(cfg);
  const kernels = new Set<string>();
  for (const [k, gs] of grads.entries()) {
    const g = gs.map((d, i) => tf.tensor(d, SHAPES[i]));
    if (k === 0) {
      const profile = await tf.profile(() => opt.apply(params, g));
      for (const e of profile.kernels) kernels.add(e.name);
    } else {
      opt.apply(params, g);
    }
    tf.dispose(g);
  }
  const state = opt.getState();
  const values = [...params.map((p) => p.variable.dataSync() as Float32Array),
    ...Object.keys(state.slots).sort().map((k) => state.slots[k])];
  opt.dispose();
  params.forEach((p) => p.variable.dispose());
  return { values, kernels };
}

const CONFIGS: OptimizerConfig[] = [
  { name: 'adam', lr: 1e-3 },
  { name: 'adam', lr: 1e-2, weight_decay: 1e-2, beta1: 0.8, beta2: 0.99, epsilon: 1e-6 },
  { name: 'adamw', lr: 1e-2, weight_decay: 0.05 },
];

for (const cfg of CONFIGS) {
  test(`native fused ${JSON.stringify(cfg)}: one kernel per parameter, the op chain's weights and slots (cpu and native)`, { skip }, async () => {
    await ensureBackend('cpu');
    assert.equal(fusedAdamAvailable(), false);
    const ref = await steps(cfg);
    await ensureBackend('native');
    registerNativeKernels();
    assert.equal(fusedAdamAvailable(), true);
    const got = await steps(cfg);
    assert.deepEqual([...got.kernels].filter((k) => !['Identity', 'ZerosLike'].includes(k)), [ADAM_UPDATE], 'besides creating the slots');
    // the op chain on the same backend: unregister the fused kernel for one run
    const k = tf.getKernel(ADAM_UPDATE, 'wasm')!;
    tf.unregisterKernel(ADAM_UPDATE, 'wasm');
    let chain;
    try {
      chain = await steps(cfg);
    } finally {
      tf.registerKernel(k);
    }
    assert.ok(chain.kernels.has('RealDiv') && !chain.kernels.has(ADAM_UPDATE));
    got.values.forEach((g, i) => {
      assert.ok(relError(ref.values[i], g) < 1e-6, `tensor ${i}: vs cpu ${relError(ref.values[i], g)}`);
      assert.ok(relError(chain.values[i], g) < 1e-6, `tensor ${i}: vs native's op chain ${relError(chain.values[i], g)}`);
    });
    // bitwise repeatable
    const again = await steps(cfg);
    assert.deepEqual(again.values.map((a) => Array.from(a)), got.values.map((a) => Array.from(a)));
  });
}

// Shared by the kernel tests (wasm gradient kernels, native kernels): run one kernel on the
// active backend, compare outputs with a relative error, and compare a batch-norm layer's
// training on a backend with tfjs' own on cpu.
import assert from 'node:assert/strict';
import { tf } from '../../src/model/tf.ts';
import { ensureBackend } from '../../src/model/backend.ts';
import { FreezableBatchNorm } from '../../src/model/layers/index.ts';
import { Rng } from '../../src/util/rng.ts';
import type { BatchNormActivation } from '../../src/model/kernels/batch-norm-names.ts';

/** Runs `kernel` on the active backend and returns its (first) output's values (inputs: [data, shape]). */
export function runKernel(kernel: string, inputs: Record<string, [Float32Array, number[]]>, attrs: object): Float32Array {
  const ts = Object.fromEntries(Object.entries(inputs).map(([k, [d, s]]) => [k, tf.tensor(d, s)]));
  const outs = tf.engine().runKernel(kernel, ts, attrs as tf.NamedAttrMap) as tf.Tensor | tf.Tensor[];
  const all = Array.isArray(outs) ? outs : [outs];
  const data = all[0].dataSync() as Float32Array; // the first output of a multi-output kernel
  tf.dispose([...all, ...Object.values(ts)]);
  return data;
}

/** max |got - ref| / max |ref| */
export function relError(ref: Float32Array, got: Float32Array): number {
  assert.equal(got.length, ref.length);
  let diff = 0, scale = 1e-30;
  for (let i = 0; i < ref.length; i++) {
    diff = Math.max(diff, Math.abs(ref[i] - got[i]));
    scale = Math.max(scale, Math.abs(ref[i]));
  }
  return diff / scale;
}

/** A FreezableBatchNorm in training (batch statistics) on the backend `activate` selects: its
 * output, the moving statistics it leaves, the gradients of sum(y * r) for x, gamma and beta, and
 * the kernels it ran. */
async function batchNormTraining(activate: () => Promise<unknown>, shape: number[], seed: number, activation?: BatchNormActivation) {
  await activate();
  const rng = new Rng(seed);
  const uniform = (s: number[]) => Float32Array.from({ length: s.reduce((a, b) => a * b, 1) }, () => rng.uniform(-1, 1));
  const c = shape[shape.length - 1];
  // an offset mean and uneven scales, as activations have
  const x = tf.tensor(uniform(shape).map((v, i) => 3 + v * (1 + (i % c))), shape);
  const r = tf.tensor(uniform(shape), shape);
  const bn = new FreezableBatchNorm({ momentum: 0.9, epsilon: 1e-5, activation });
  bn.build(x.shape);
  // gamma 1-5 and beta around 0.5: the normalised values cross relu's 0 and relu6's 6
  bn.setWeights([tf.tensor(uniform([c]).map((v) => 2 * v + 3)), tf.tensor(uniform([c]).map((v) => v + 0.5)),
    tf.tensor(uniform([c])), tf.tensor(uniform([c]).map((v) => v + 2))]);
  const [gamma, beta] = bn.trainableWeights.map((w) => w.read() as tf.Variable);
  const loss = (t: tf.Tensor) => tf.sum(tf.mul(bn.apply(t, { training: true }) as tf.Tensor, r)) as tf.Scalar;
  const profile = await tf.profile(() => {
    const { value, grads } = tf.variableGrads(() => loss(x), [gamma, beta]);
    tf.dispose([value, ...Object.values(grads)]);
  });
  const y = bn.apply(x, { training: true }) as tf.Tensor; // each call updates the statistics again
  const gx = tf.grad(loss)(x);
  const { value, grads } = tf.variableGrads(() => loss(x), [gamma, beta]);
  const out = {
    y: y.dataSync() as Float32Array, gx: gx.dataSync() as Float32Array,
    gGamma: grads[gamma.name].dataSync() as Float32Array, gBeta: grads[beta.name].dataSync() as Float32Array,
    moving: bn.getWeights().slice(2).map((w) => w.dataSync() as Float32Array),
    kernels: new Set(profile.kernels.map((k) => k.name)),
  };
  tf.dispose([x, r, y, gx, value, ...Object.values(grads)]);
  bn.weights.forEach((w) => w.dispose());
  return out;
}

/** Batch norm in training on the backend `activate` selects runs exp's fused kernels and equals
 * tfjs' own code on cpu (relative error < 1e-4), bit-identically when repeated. With an
 * activation, the fused kernels apply it where `fused` (no separate activation kernel runs; else
 * one does), and cpu applies tfjs' own after tfjs' batch norm. */
export async function compareBatchNormTraining(activate: () => Promise<unknown>, shape: number[], seed: number,
  activation?: BatchNormActivation, fused = true): Promise<void> {
  const ref = await batchNormTraining(() => ensureBackend('cpu'), shape, seed, activation);
  const got = await batchNormTraining(activate, shape, seed, activation);
  assert.ok(got.kernels.has('ExpBatchNormTrain') && got.kernels.has('ExpBatchNormTrainGrad'), [...got.kernels].join(' '));
  assert.ok(!got.kernels.has('FusedBatchNorm') && !ref.kernels.has('ExpBatchNormTrain'));
  const separate = ['Relu', 'ExpRelu6', 'ExpSwish', 'Sigmoid', 'Minimum'].filter((k) => got.kernels.has(k));
  if (activation) assert.equal(separate.length === 0, fused, `separate activation kernels: ${separate.join(' ')}`);
  for (const k of ['y', 'gx', 'gGamma', 'gBeta'] as const) {
    const err = relError(ref[k], got[k]);
    assert.ok(err < 1e-4, `${k}: relative error ${err.toExponential(2)}`);
  }
  ref.moving.forEach((m, i) => assert.ok(relError(m, got.moving[i]) < 1e-5, `moving ${i ? 'variance' : 'mean'}`));
  const again = await batchNormTraining(activate, shape, seed, activation);
  for (const k of ['y', 'gx', 'gGamma', 'gBeta'] as const) assert.deepEqual(again[k], got[k], `${k} not bit-identical`);
}

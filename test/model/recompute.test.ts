// Activation recomputation (src/model/recompute.ts, train.recompute): a training step that keeps
// only each segment's input and recomputes the rest in the backward pass gives model.apply's loss,
// gradients and batch-norm moving statistics bit for bit (the registry's residual backbones on
// every backend here, and a hand-made graph with dropout and a tensor read by three layers), leaks
// nothing, and holds much less at its peak.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../src/model/tf.ts';
import { ensureBackend, type BackendName } from '../../src/model/backend.ts';
import { loadAddon } from '../../src/model/kernels/native.ts';
import { variableGrads } from '../../src/model/backprop.ts';
import { buildModel } from '../../src/model/build.ts';
import { batchNorm } from '../../src/model/layers/batch-norm.ts';
import { SeededDropout, setDropoutStep } from '../../src/model/layers/dropout.ts';
import { applyRecomputing, planRecompute } from '../../src/model/recompute.ts';
import { buildLevelLosses, hierarchicalLoss } from '../../src/model/losses.ts';
import { Rng } from '../../src/util/rng.ts';

const levels = [
  { name: 'species', numClasses: 5, counts: [3, 1, 4, 1, 5] },
  { name: 'genus', numClasses: 3, counts: [4, 5, 5] },
  { name: 'family', numClasses: 2, counts: [9, 5] },
];
const losses = buildLevelLosses({ type: 'focal', gamma: 2, class_balance: { beta: 0.9 }, weights: { species: 1.5 } }, levels);

function bits(t: tf.Tensor): Uint32Array {
  const v = Float32Array.from(t.dataSync() as Float32Array);
  return new Uint32Array(v.buffer);
}

function input(n: number, size: number, seed: number): tf.Tensor {
  const rng = new Rng(seed);
  return tf.tensor(Float32Array.from({ length: n * size * size * 3 }, () => rng.uniform(-1, 1)), [n, size, size, 3]);
}

function labelsFor(n: number): Int32Array[] {
  return levels.map((l) => Int32Array.from({ length: n }, (_v, i) => (i * 7 + 3) % l.numClasses));
}

interface Step { loss: Uint32Array; grads: Map<string, Uint32Array>; state: Uint32Array[]; peakBytes: number; leaked: number }

/** One training step's loss and gradients (exp's variableGrads or tfjs'), and the moving statistics after it. */
async function step(model: tf.LayersModel, x: tf.Tensor, recompute: boolean, vg: typeof variableGrads = variableGrads): Promise<Step> {
  const labels = labelsFor(x.shape[0]);
  const params = model.trainableWeights.map((w) => w.read() as tf.Variable);
  setDropoutStep(model, 0);
  const before = tf.memory().numTensors;
  let out: ReturnType<typeof variableGrads> | undefined;
  const profile = await tf.profile(() => {
    out = vg(() => {
      const outs = (recompute ? applyRecomputing(model, x) : model.apply(x, { training: true })) as tf.Tensor[];
      return hierarchicalLoss(losses, outs as tf.Tensor2D[], labels).total;
    }, params);
  });
  const grads = new Map(Object.entries(out!.grads).map(([k, g]) => [k, bits(g)]));
  const loss = bits(out!.value);
  tf.dispose([out!.value, ...Object.values(out!.grads)]);
  return {
    loss, grads, peakBytes: profile.peakBytes, leaked: tf.memory().numTensors - before,
    state: model.weights.filter((w) => !w.trainable).map((w) => bits(w.read())),
  };
}

/** The step with and without recomputation, from the same moving statistics. */
async function compare(model: tf.LayersModel, x: tf.Tensor, vg: typeof variableGrads = variableGrads): Promise<{ ref: Step; got: Step }> {
  const state = model.weights.filter((w) => !w.trainable);
  const initial = state.map((w) => w.read().clone());
  const ref = await step(model, x, false, vg);
  state.forEach((w, i) => w.write(initial[i]));
  const got = await step(model, x, true, vg);
  tf.dispose(initial);
  return { ref, got };
}

function assertSameStep(ref: Step, got: Step): void {
  assert.deepEqual(got.loss, ref.loss, 'loss');
  assert.deepEqual([...got.grads.keys()].sort(), [...ref.grads.keys()].sort(), 'the same variables have gradients');
  for (const [k, g] of ref.grads) assert.deepEqual(got.grads.get(k), g, `gradient of ${k}`);
  assert.equal(got.state.length, ref.state.length);
  got.state.forEach((s, i) => assert.deepEqual(s, ref.state[i], `moving statistic ${i} moved once, as without recomputation`));
  assert.equal(got.leaked, 0, 'no tensor left behind with recomputation');
  assert.equal(ref.leaked, 0, 'no tensor left behind without');
}

// the registry's backbones with residual blocks, squeeze-excitation, grouped and depthwise
// convolutions, each with exp's own kernels and gradients on native
const cases: [BackendName, string][] = [
  ['wasm', 'se_resnext50_32x4d'],
  ...(loadAddon()
    ? (['se_resnext50_32x4d', 'efficientnet_b0', 'mobilenet_v2', 'resnet18'] as const).map((b) => ['native', b] as [BackendName, string])
    : []),
];
if (!loadAddon()) console.log('# recompute: native cases skipped: the exp_native addon is not built (npm ci builds it with g++ and libdnnl-dev)');

for (const [backend, backbone] of cases) {
  test(`recompute on ${backend} (${backbone}, concat head, focal loss): model.apply's loss, gradients and moving statistics bit for bit`, async () => {
    await ensureBackend(backend);
    const model = buildModel({ backbone: { name: backbone }, head: { pool: 'concat', hidden: 0, dropout: 0.2 }, inputSize: 32, levels, seed: 3 });
    const plan = planRecompute(model);
    const blocks = { se_resnext50_32x4d: 16, efficientnet_b0: 16, mobilenet_v2: 17, resnet18: 8 }[backbone]!;
    const segments = plan.steps.filter((s) => s.kind === 'recompute').length;
    assert.ok(segments >= blocks, `${segments} segments recomputed, at least one per block (${blocks})`);
    const x = input(2, 32, 5);
    const { ref, got } = await compare(model, x);
    assertSameStep(ref, got);
    x.dispose();
    model.dispose();
  });
}

/**
 * Residual blocks of conv-bn-relu pairs (one with dropout inside, one whose input is read by
 * three layers) and a head of three outputs: a graph exercising what the planner has to respect.
 */
function handMade(blocks: number, channels: number, size: number): tf.LayersModel {
  const rng = new Rng(11);
  const init = () => tf.initializers.randomUniform({ minval: -0.2, maxval: 0.2, seed: rng.int(1 << 30) });
  const conv = (x: tf.SymbolicTensor, name: string, filters = channels) =>
    tf.layers.conv2d({ name, filters, kernelSize: 3, padding: 'same', useBias: false, kernelInitializer: init() }).apply(x) as tf.SymbolicTensor;
  const bnRelu = (x: tf.SymbolicTensor, name: string) => batchNorm(name, 1e-5, 'relu').apply(x) as tf.SymbolicTensor;
  const inp = tf.input({ shape: [size, size, 3], name: 'input' });
  let x = bnRelu(conv(inp, 'stem'), 'stem_bn');
  for (let b = 0; b < blocks; b++) {
    let y = bnRelu(conv(x, `b${b}_conv1`), `b${b}_bn1`);
    if (b === 1) y = new SeededDropout({ rate: 0.3, seed: 4, name: `b${b}_drop` }).apply(y) as tf.SymbolicTensor;
    y = conv(y, `b${b}_conv2`);
    if (b === 2) {
      // three readers of x: conv2's sum, a 1x1 projection and the residual add
      const p = tf.layers.conv2d({ name: `b${b}_proj`, filters: channels, kernelSize: 1, kernelInitializer: init() }).apply(x) as tf.SymbolicTensor;
      y = tf.layers.add({ name: `b${b}_mix` }).apply([y, p]) as tf.SymbolicTensor;
    }
    x = tf.layers.reLU({ name: `b${b}_out` }).apply(tf.layers.add({ name: `b${b}_add` }).apply([y, x]) as tf.SymbolicTensor) as tf.SymbolicTensor;
  }
  const pooled = tf.layers.globalAveragePooling2d({ name: 'pool' }).apply(x) as tf.SymbolicTensor;
  const outputs = levels.map((l) => tf.layers.dense({ name: `logits_${l.name}`, units: l.numClasses, kernelInitializer: init() }).apply(pooled) as tf.SymbolicTensor);
  return tf.model({ inputs: inp, outputs });
}

test('recompute on cpu (residual blocks, dropout in a block, a tensor read three times): the same step, with exp\'s and tfjs\' variableGrads', async () => {
  await ensureBackend('cpu');
  const model = handMade(4, 8, 12);
  const plan = planRecompute(model);
  const recomputed = plan.steps.filter((s) => s.kind === 'recompute');
  const layersOf = (s: { start: number; end: number }) => plan.sorted.slice(s.start, s.end + 1).map((t) => t.sourceLayer.name);
  assert.ok(!recomputed.some((s) => layersOf(s).includes('b1_drop')), 'the block with dropout is not recomputed (its mask would change)');
  assert.ok(recomputed.some((s) => layersOf(s).includes('b2_proj')), 'the block with three readers is');
  assert.ok(!recomputed.some((s) => layersOf(s).some((n) => n.startsWith('logits_'))), 'the head is not');
  assert.ok(!recomputed[0].inputGrad, 'no gradient is taken for the image input');
  const x = input(3, 12, 6);
  for (const vg of [variableGrads, tf.variableGrads as typeof variableGrads]) {
    const { ref, got } = await compare(model, x, vg);
    assertSameStep(ref, got);
  }
  x.dispose();
  model.dispose();
});

test('recompute holds a fraction of the activations at the step\'s peak', async () => {
  await ensureBackend('cpu');
  // activations dominate: 8 blocks at 16x16x8, batch 2 (16 kB a tensor), 576 weights a conv
  const model = handMade(8, 8, 16);
  const x = input(2, 16, 7);
  const { ref, got } = await compare(model, x);
  assertSameStep(ref, got);
  const activation = 2 * 16 * 16 * 8 * 4;
  assert.ok(ref.peakBytes > 40 * activation, `without: peak ${ref.peakBytes} bytes (the test's premise: every block's activations kept)`);
  assert.ok(got.peakBytes < ref.peakBytes / 2, `with recomputation: peak ${got.peakBytes} bytes, without ${ref.peakBytes}`);
  x.dispose();
  model.dispose();
});

test('a model without a cut to recompute at (one conv feeding the outputs) runs as usual', async () => {
  await ensureBackend('cpu');
  const inp = tf.input({ shape: [4, 4, 3] });
  const y = tf.layers.flatten().apply(tf.layers.conv2d({ filters: 2, kernelSize: 1 }).apply(inp) as tf.SymbolicTensor) as tf.SymbolicTensor;
  const model = tf.model({ inputs: inp, outputs: levels.map((l) => tf.layers.dense({ units: l.numClasses }).apply(y) as tf.SymbolicTensor) });
  assert.equal(planRecompute(model).steps.filter((s) => s.kind === 'recompute').length, 0);
  const x = input(2, 4, 8);
  const { ref, got } = await compare(model, x);
  assertSameStep(ref, got);
  x.dispose();
  model.dispose();
});

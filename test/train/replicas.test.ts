// Data-parallel training replicas (train.replicas) on the wasm backend: the combined gradient is
// the full-batch gradient where it should be, shards draw their own dropout masks, training is
// bit-identical for a seed and replica count, resume continues exactly, worker threads end on
// every exit path, and `exp run` records the count it used.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf } from '../../src/model/tf.ts';
import { ensureBackend } from '../../src/model/backend.ts';
import { outputOrder, train, type EpochResult, type TrainOptions, type TrainState } from '../../src/train/loop.ts';
import {
  createGradientEngine, dropoutKey, liveReplicaWorkers, resolveReplicas, shardSizes, type BatchGrads, type GradientEngine,
} from '../../src/train/replicas.ts';
import { loadCheckpoint } from '../../src/train/checkpoint.ts';
import { epochOrder } from '../../src/train/sampler.ts';
import { InterruptedError, RunError } from '../../src/errors.ts';
import { batches, quadrantData, tinyConvNet, weightsOf } from './helpers.ts';
import { exp, SMOKE, assertSchema } from '../cli/helpers.ts';

await ensureBackend('wasm');

const levels = [
  { name: 'fine', numClasses: 4, counts: [3, 1, 2, 1] },
  { name: 'coarse', numClasses: 2, counts: [4, 3] },
];
const lossSpec = { type: 'focal', gamma: 2, class_balance: { beta: 0.9 }, label_smoothing: 0.1, weights: { fine: 1.5, coarse: 1 } };

function oneBatch(n: number, seed: number) {
  const data = quadrantData(n, seed);
  return [...batches(data, [...Array(n).keys()], n)][0];
}

/** max over weights of |a - b| / |a| (L2 norms). */
function relErr(a: tf.Tensor[], b: tf.Tensor[]): number {
  assert.equal(a.length, b.length);
  return Math.max(...a.map((t, i) => tf.tidy(() => tf.norm(tf.sub(t, b[i])).dataSync()[0] / Math.max(tf.norm(t).dataSync()[0], 1e-30))));
}
const free = (g: BatchGrads) => g.grads.forEach((t) => t.dispose());

async function engines(model: tf.LayersModel): Promise<{ local: GradientEngine; two: GradientEngine }> {
  const order = outputOrder(model, levels);
  const local = await createGradientEngine({ model, levels, lossSpec, order, replicas: 1 });
  const two = await createGradientEngine({ model, levels, lossSpec, order, replicas: 2 });
  return { local, two };
}

test('shards are contiguous, cover the batch, and differ in size by at most 1', () => {
  assert.deepEqual(shardSizes(15, 2), [8, 7]);
  assert.deepEqual(shardSizes(32, 3), [11, 11, 10]);
  assert.deepEqual(shardSizes(1, 2), [1, 0]);
});

test('train.replicas: auto is the core count on wasm; other backends train with 1 and say why; capped at the batch size', () => {
  assert.deepEqual(resolveReplicas(1, 'wasm', 32, 2), { count: 1, note: null });
  assert.equal(resolveReplicas('auto', 'wasm', 32, 2).count, 2);
  assert.equal(resolveReplicas('auto', 'wasm', 32, 1).count, 1);
  const native = resolveReplicas(2, 'native', 32, 2);
  assert.equal(native.count, 1);
  assert.match(native.note!, /using 1 on the native backend/);
  assert.equal(resolveReplicas('auto', 'tensorflow', 32, 8).count, 1);
  const capped = resolveReplicas(8, 'wasm', 4, 8);
  assert.equal(capped.count, 4);
  assert.match(capped.note!, /batch size/);
});

test('2 replicas give the single-process gradient on a model without batch norm, also after an update is synced', async () => {
  const model = tinyConvNet();
  model.getLayer('logits_coarse').trainable = false; // the workers' copies keep frozen layers frozen
  const { local, two } = await engines(model);
  try {
    assert.equal(liveReplicaWorkers(), 1);
    const batch = oneBatch(15, 3); // shards of 8 and 7: the n-weighted mean, not the plain one
    for (let round = 0; round < 2; round++) {
      const a = await local.grads(batch, 0);
      const b = await two.grads(batch, 0);
      assert.equal(b.grads.length, model.trainableWeights.length);
      const err = relErr(a.grads, b.grads);
      assert.ok(err < 1e-4, `round ${round}: relative error ${err}`);
      a.vals.forEach((v, i) => assert.ok(Math.abs(v - b.vals[i]) <= 1e-5 * Math.abs(v), `loss ${i}: ${v} vs ${b.vals[i]}`));
      // an optimizer-like update on the main model: the worker must train the new weights
      tf.tidy(() => model.trainableWeights.forEach((w, i) => (w.read() as tf.Variable).assign(tf.sub(w.read(), tf.mul(a.grads[i], 0.5)))));
      two.syncWeights();
      free(a);
      free(b);
    }
  } finally {
    await two.dispose();
  }
  assert.equal(liveReplicaWorkers(), 0);
});

test('replica shards draw their own dropout masks (keyed by step and replica)', async () => {
  const model = tinyConvNet({ dropout: 0.5 });
  const { local, two } = await engines(model);
  try {
    const half = oneBatch(6, 4);
    // the same six images twice: shard 1 sees shard 0's images and must not get its masks
    const twice = { n: 12, x: new Float32Array([...half.x, ...half.x]), labels: half.labels.map((l) => Int32Array.from([...l, ...l])) };
    const step = 7;
    const own = await local.grads(half, dropoutKey(step, 0));
    const other = await local.grads(half, dropoutKey(step, 1));
    const both = await two.grads(twice, step);
    const expected = own.grads.map((g, i) => tf.tidy(() => tf.mul(tf.add(g, other.grads[i]), 0.5)));
    const err = relErr(expected, both.grads);
    assert.ok(err < 1e-4, `relative error ${err}`);
    assert.ok(relErr(own.grads, both.grads) > 1e-3, 'shard 1 used shard 0\'s masks');
    [own, other, both].forEach(free);
    tf.dispose(expected);
  } finally {
    await two.dispose();
  }
});

const data = quadrantData(36, 8);
function options(model: tf.LayersModel, extra: Partial<TrainOptions> = {}): TrainOptions {
  return {
    model, levels, lossSpec, epochs: 2, stepsPerEpoch: 3, seed: 11, replicas: 2, accumulate: 2, ema: { decay: 0.8 },
    optimizerSpec: { cycle: { every: 1, optimizers: [{ name: 'adam', lr: 0.01 }, { name: 'sgd', lr: 0.05, momentum: 0.8 }] } },
    scheduleSpec: { type: 'cosine', warmup_epochs: 1, min_lr: 1e-4 },
    batchesFor: (epoch) => batches(data, epochOrder('sqrt', data.fine, 11, epoch), 12),
    ...extra,
  };
}
const strip = (r: EpochResult) => ({ epoch: r.epoch, lr: r.lr, optimizer: r.optimizer, train_loss: r.train_loss });

test('training with 2 replicas is bit-identical for a seed (batch norm and dropout included) and differs from 1 replica', async () => {
  const net = () => tinyConvNet({ batchNorm: true, dropout: 0.3 });
  const [m1, m2, m3] = [net(), net(), net()];
  const a = await train(options(m1));
  const b = await train(options(m2));
  assert.equal(liveReplicaWorkers(), 0, 'workers end with the run');
  assert.deepEqual(weightsOf(m1), weightsOf(m2), 'weights, batch-norm statistics included');
  assert.deepEqual(b.history.map(strip), a.history.map(strip));
  assert.deepEqual(b.state.optimizers, a.state.optimizers);
  await train(options(m3, { replicas: 1 }));
  assert.notDeepEqual(weightsOf(m3), weightsOf(m1), 'the replicas took part');
});

test('resume with 2 replicas ends bit-identical to an uninterrupted run', async () => {
  const net = () => tinyConvNet({ batchNorm: true, dropout: 0.3 });
  const tmp = () => mkdtempSync(join(tmpdir(), 'exp-replicas-'));
  const dirA = tmp();
  const modelA = net();
  const a = await train(options(modelA, { epochs: 3, checkpointDir: dirA }));

  const dirB = tmp();
  const stop = new AbortController();
  const rowsB: EpochResult[] = [];
  await assert.rejects(
    train(options(net(), { epochs: 3, checkpointDir: dirB, signal: stop.signal,
      onEpoch: (r) => { rowsB.push(r); if (r.epoch === 1) stop.abort('SIGINT'); } })),
    InterruptedError,
  );
  assert.equal(liveReplicaWorkers(), 0, 'an interrupt ends the workers');
  const ck = await loadCheckpoint<TrainState>(join(dirB, 'last'));
  assert.equal(ck.state!.epoch, 2);
  const b = await train(options(ck.model, { epochs: 3, checkpointDir: dirB, resume: { state: ck.state!, emaWeights: ck.emaWeights },
    onEpoch: (r) => rowsB.push(r) }));
  assert.deepEqual(weightsOf(ck.model), weightsOf(modelA));
  for (const f of ['weights.bin', 'ema/weights.bin']) {
    assert.ok(readFileSync(join(dirA, 'last', f)).equals(readFileSync(join(dirB, 'last', f))), `last/${f}`);
  }
  assert.deepEqual(b.state.optimizers, a.state.optimizers);
  assert.deepEqual(rowsB.map(strip), a.history.map(strip));
  rmSync(dirA, { recursive: true });
  rmSync(dirB, { recursive: true });
});

test('a NaN loss in a worker\'s shard stops the run naming the step, and the workers end', async () => {
  const bad = quadrantData(24, 9);
  // only the second half of the second batch (shard 1, computed in the worker) is broken
  bad.x.fill(NaN, 18 * 8 * 8 * 3);
  await assert.rejects(
    train(options(tinyConvNet(), { accumulate: 1, ema: null, batchesFor: () => batches(bad, [...Array(24).keys()], 12) })),
    (e: Error) => e instanceof RunError && /diverged.*epoch 0, step 1/.test(e.message),
  );
  assert.equal(liveReplicaWorkers(), 0);
});

test('a replica that cannot start (a layer class registered only in the main thread) fails the run with the reason; no worker is left', async () => {
  class MainOnlyScale extends tf.layers.Layer {
    static className = 'MainOnlyScale';
    override call(x: tf.Tensor | tf.Tensor[]): tf.Tensor {
      return tf.mul(Array.isArray(x) ? x[0] : x, 2);
    }
  }
  tf.serialization.registerClass(MainOnlyScale);
  const input = tf.input({ shape: [4] });
  const hidden = new MainOnlyScale({}).apply(input) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: [
    tf.layers.dense({ units: 4, name: 'logits_fine' }).apply(hidden) as tf.SymbolicTensor,
    tf.layers.dense({ units: 2, name: 'logits_coarse' }).apply(hidden) as tf.SymbolicTensor,
  ] });
  await assert.rejects(
    createGradientEngine({ model, levels, lossSpec, order: outputOrder(model, levels), replicas: 2 }),
    (e: Error) => e instanceof RunError && /replica 1 .*failed: .*MainOnlyScale/.test(e.message),
  );
  assert.equal(liveReplicaWorkers(), 0);
});

test('exp run --set train.replicas=2 --backend wasm trains with 2 replicas and records it', async () => {
  const runs = mkdtempSync(join(tmpdir(), 'exp-runs-'));
  const r = await exp(['run', 'experiments/quickstart.yaml', ...SMOKE, '--set', 'train.replicas=2', '--runs-dir', runs, '--backend', 'wasm']);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const dir = join(runs, readdirSync(runs)[0]);
  const run = JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8'));
  await assertSchema('run', run);
  assert.equal(run.status, 'completed');
  assert.equal(run.backend.name, 'wasm');
  assert.equal(run.backend.replicas, 2);
  assert.match(readFileSync(join(dir, 'log.txt'), 'utf8'), /2 training replicas/);
  assert.match(r.stdout, /COMPLETED\] Train .*, 2 replicas/);
  rmSync(runs, { recursive: true });
});

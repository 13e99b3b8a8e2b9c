import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf } from '../../src/model/tf.ts';
import { train, type EpochResult, type TrainOptions, type TrainState } from '../../src/train/loop.ts';
import { loadCheckpoint } from '../../src/train/checkpoint.ts';
import { epochOrder } from '../../src/train/sampler.ts';
import { InterruptedError, RunError } from '../../src/errors.ts';
import { batches, fineAccuracy, quadrantData, residualNet, tinyConvNet, weightsOf } from './helpers.ts';

await tf.setBackend('cpu');

const levels = [
  { name: 'fine', numClasses: 4, counts: [1, 1, 1, 1] },
  { name: 'coarse', numClasses: 2, counts: [1, 1] },
];
const base = {
  levels,
  lossSpec: { type: 'focal', gamma: 2, weights: { fine: 1.5, coarse: 1 } },
  scheduleSpec: { type: 'constant' },
};

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'exp-loop-'));
}

test('a small model overfits one batch', async () => {
  const model = tinyConvNet();
  const one = quadrantData(8, 5, 1.0);
  // noisy images with shuffled labels: only memorisation can fit them
  one.fine.reverse();
  const { history } = await train({
    ...base, model, epochs: 40, stepsPerEpoch: 1,
    lossSpec: { type: 'cross_entropy' },
    optimizerSpec: { name: 'adam', lr: 0.03 },
    batchesFor: () => batches(one, [...one.fine.keys()], 8),
  });
  const first = history[0].train_loss.total;
  const last = history[history.length - 1].train_loss.total;
  assert.ok(last < first / 10, `loss ${first} -> ${last}`);
  assert.equal(fineAccuracy(model, one), 1);
});

test('a short run on separable data beats chance (25 %) by a wide margin; history rows are complete', async () => {
  const model = tinyConvNet();
  const trainData = quadrantData(96, 1);
  const valData = quadrantData(48, 2);
  const rows: EpochResult[] = [];
  const steps: number[] = [];
  await train({
    ...base, model, epochs: 4, stepsPerEpoch: 6,
    optimizerSpec: { name: 'adam', lr: 0.02 },
    scheduleSpec: { type: 'step', milestones: [3], factor: 0.5 },
    batchesFor: (epoch) => batches(trainData, epochOrder('uniform', trainData.fine, 1, epoch), 16),
    evaluate: () => ({ fine: { accuracy: fineAccuracy(model, valData) } }),
    onStep: (p) => steps.push(p.step),
    onEpoch: (r) => rows.push(r),
  });
  const acc = fineAccuracy(model, valData);
  assert.ok(acc >= 0.9, `val accuracy ${acc}`);
  assert.deepEqual(rows.map((r) => r.epoch), [0, 1, 2, 3]);
  assert.deepEqual(rows.map((r) => r.lr), [0.02, 0.02, 0.02, 0.01]);
  assert.deepEqual(steps.slice(0, 6), [1, 2, 3, 4, 5, 6]);
  for (const r of rows) {
    assert.deepEqual(Object.keys(r.train_loss).sort(), ['coarse', 'fine', 'total']);
    assert.ok(Math.abs(r.train_loss.total - (1.5 * r.train_loss.fine + r.train_loss.coarse)) < 1e-5);
    assert.ok(r.images_per_s > 0 && r.seconds > 0);
    assert.equal(r.optimizer, 'adam');
  }
  assert.ok(rows[3].train_loss.total < rows[0].train_loss.total / 2, 'training loss falls');
});

test('a NaN loss stops the run naming epoch and step, with a hint', async () => {
  const data = quadrantData(32, 3);
  await assert.rejects(
    train({
      ...base, model: tinyConvNet(), epochs: 3, stepsPerEpoch: 4,
      optimizerSpec: { name: 'sgd', lr: 0.01 },
      batchesFor: function* (epoch) {
        let s = 0;
        for (const b of batches(data, [...data.fine.keys()], 8)) {
          if (epoch === 1 && s === 2) b.x[5] = NaN;
          s++;
          yield b;
        }
      },
    }),
    (e: Error) => e instanceof RunError && /epoch 1, step 2/.test(e.message) && /lower optimizer\.lr/i.test(e.message),
  );
});

test('memory stays flat across epochs (EMA, accumulation, AdamEva, evaluation, checkpoints)', async () => {
  const dir = tmp();
  const data = quadrantData(24, 4);
  const model = tinyConvNet({ batchNorm: true });
  const before = tf.memory().numTensors;
  const counts: number[] = [];
  await train({
    ...base, model, epochs: 3, stepsPerEpoch: 3, accumulate: 2, ema: { decay: 0.9 },
    optimizerSpec: { cycle: { every: 1, optimizers: [{ name: 'adamw', lr: 0.01, weight_decay: 0.01 }, { name: 'sgd', lr: 0.01, momentum: 0.8 }] } },
    batchesFor: () => batches(data, [...data.fine.keys()], 8),
    evaluate: () => ({ fine: { macro_f1: fineAccuracy(model, data) } }),
    onEpoch: () => counts.push(tf.memory().numTensors),
    checkpointDir: dir,
  });
  // epoch 0 creates Adam's slots, epoch 1 SGD's; from then on nothing may grow
  assert.equal(counts[2], counts[1], `tensors per epoch ${counts}`);
  assert.equal(tf.memory().numTensors, before, 'optimizer slots and EMA are freed at the end');
  rmSync(dir, { recursive: true });
});

test('train.recompute trains to the same weights bit for bit, and memory stays flat across its epochs', async () => {
  const data = quadrantData(24, 7);
  const run = async (recompute: boolean) => {
    const model = residualNet();
    const counts: number[] = [];
    const conv = model.getLayer('b0_conv1');
    const call = conv.call.bind(conv);
    let calls = 0;
    conv.call = (...args) => { calls++; return call(...args); };
    await train({
      ...base, model, epochs: 3, stepsPerEpoch: 3, recompute,
      optimizerSpec: { name: 'adam', lr: 0.01 },
      batchesFor: (epoch) => batches(data, epochOrder('uniform', data.fine, 1, epoch), 8),
      onEpoch: () => counts.push(tf.memory().numTensors),
    });
    const w = weightsOf(model); // moving statistics included: they must move once a step
    model.dispose();
    return { w, counts, calls };
  };
  const ref = await run(false);
  const got = await run(true);
  assert.equal(ref.calls, 9, 'one forward a step without recomputation');
  assert.equal(got.calls, 18, 'a block\'s forward runs again in each backward pass');
  assert.equal(got.w.length, ref.w.length);
  got.w.forEach((w, i) => assert.deepEqual(new Uint32Array(w.buffer), new Uint32Array(ref.w[i].buffer), `weight ${i}`));
  assert.equal(got.counts[2], got.counts[1], `tensors per epoch ${got.counts}`);
});

test('gradient accumulation over 4 batches equals one batch of their union (linear model)', async () => {
  const data = quadrantData(29, 6);
  const linear = () => {
    const input = tf.input({ shape: [8, 8, 3] });
    const flat = tf.layers.flatten().apply(input) as tf.SymbolicTensor;
    const out = (name: string, units: number, seed: number) =>
      tf.layers.dense({ units, name, kernelInitializer: tf.initializers.randomNormal({ seed, stddev: 0.05 }) }).apply(flat) as tf.SymbolicTensor;
    return tf.model({ inputs: input, outputs: [out('logits_fine', 4, 1), out('logits_coarse', 2, 2)] });
  };
  const run = async (batchSize: number, accumulate: number) => {
    const model = linear();
    await train({
      ...base, model, epochs: 2, stepsPerEpoch: Math.ceil(29 / batchSize), accumulate,
      optimizerSpec: { name: 'sgd', lr: 0.1, momentum: 0.9 },
      batchesFor: () => batches(data, [...data.fine.keys()], batchSize),
    });
    return weightsOf(model);
  };
  const big = await run(29, 1); // one update per epoch
  const small = await run(8, 4); // 8 + 8 + 8 + 5 rows, one update per epoch
  big.forEach((w, i) => w.forEach((x, j) => assert.ok(Math.abs(x - small[i][j]) < 1e-5, `weight ${i}[${j}]: ${x} vs ${small[i][j]}`)));
  const noAcc = await run(8, 1);
  assert.ok(noAcc[0].some((x, j) => Math.abs(x - big[0][j]) > 1e-3), 'without accumulation the result differs');
});

test('best checkpoint follows the target level\'s macro-F1; last has state', async () => {
  const dir = tmp();
  const data = quadrantData(16, 7);
  const model = tinyConvNet();
  const f1 = [0.2, 0.5, 0.4];
  const snapshots: Float32Array[][] = [];
  const written: string[] = [];
  const { state } = await train({
    ...base, model, epochs: 3, stepsPerEpoch: 2,
    optimizerSpec: { name: 'adam', lr: 0.01 },
    batchesFor: () => batches(data, [...data.fine.keys()], 8),
    evaluate: (epoch) => ({ fine: { macro_f1: f1[epoch] }, coarse: { macro_f1: 1 - f1[epoch] } }),
    onEpoch: () => snapshots.push(weightsOf(model)),
    onCheckpoint: (kind, _dir, epoch) => written.push(`${kind}@${epoch}`),
    checkpointDir: dir,
  });
  assert.deepEqual(written, ['best@0', 'last@0', 'best@1', 'last@1', 'last@2']);
  assert.deepEqual(state.best, { metric: 0.5, epoch: 1 });
  const best = await loadCheckpoint(join(dir, 'best'));
  assert.equal(best.state, undefined);
  assert.deepEqual(weightsOf(best.model), snapshots[1]);
  const last = await loadCheckpoint<TrainState>(join(dir, 'last'));
  assert.deepEqual(weightsOf(last.model), snapshots[2]);
  assert.equal(last.state!.epoch, 3);
  assert.deepEqual(last.state!.best, { metric: 0.5, epoch: 1 });
  assert.equal(last.state!.optimizers[0].name, 'adam');
  rmSync(dir, { recursive: true });
});

test('resume from model/last gives bit-identical weights, EMA and history to an uninterrupted run (dropout included)', async () => {
  const data = quadrantData(24, 8);
  const common = (model: tf.LayersModel): TrainOptions => ({
    ...base, model, epochs: 3, stepsPerEpoch: 3, accumulate: 2, ema: { decay: 0.8 }, seed: 11,
    lossSpec: { type: 'focal', gamma: 2, class_balance: { beta: 0.9 }, label_smoothing: 0.1, weights: { fine: 1.5 } },
    // AdamEva in miniature: epoch 2 needs Adam's moments from epoch 0
    optimizerSpec: { cycle: { every: 1, optimizers: [{ name: 'adam', lr: 0.01 }, { name: 'sgd', lr: 0.05, momentum: 0.8, nesterov: true }] } },
    scheduleSpec: { type: 'cosine', warmup_epochs: 1, min_lr: 1e-4 },
    batchesFor: (epoch) => batches(data, epochOrder('sqrt', data.fine, 11, epoch), 8),
  });
  const dirA = tmp();
  const modelA = tinyConvNet({ batchNorm: true, dropout: 0.3 });
  const a = await train({ ...common(modelA), checkpointDir: dirA });

  const dirB = tmp();
  const stop = new AbortController();
  const rowsB: EpochResult[] = [];
  await assert.rejects(
    train({ ...common(tinyConvNet({ batchNorm: true, dropout: 0.3 })), checkpointDir: dirB, signal: stop.signal,
      onEpoch: (r) => { rowsB.push(r); if (r.epoch === 1) stop.abort('SIGINT'); } }),
    InterruptedError,
  );
  const ck = await loadCheckpoint<TrainState>(join(dirB, 'last'));
  assert.equal(ck.state!.epoch, 2);
  const b = await train({ ...common(ck.model), checkpointDir: dirB, resume: { state: ck.state!, emaWeights: ck.emaWeights },
    onEpoch: (r) => rowsB.push(r) });

  assert.deepEqual(weightsOf(ck.model), weightsOf(modelA), 'raw weights (incl. batch-norm statistics)');
  for (const f of ['weights.bin', 'ema/weights.bin']) {
    assert.ok(readFileSync(join(dirA, 'last', f)).equals(readFileSync(join(dirB, 'last', f))), `last/${f}`);
  }
  assert.deepEqual(b.state.optimizers, a.state.optimizers, 'optimizer slots');
  const strip = (r: EpochResult) => ({ epoch: r.epoch, lr: r.lr, optimizer: r.optimizer, train_loss: r.train_loss });
  assert.deepEqual(rowsB.map(strip), a.history.map(strip));
  rmSync(dirA, { recursive: true });
  rmSync(dirB, { recursive: true });
});

test('preempted mid-epoch (SIGUSR2): model/last at the end of the accumulation group reached; the resume skips those batches and ends bit-identical', async () => {
  const data = quadrantData(48, 9);
  const common = (model: tf.LayersModel): TrainOptions => ({
    ...base, model, epochs: 2, stepsPerEpoch: 6, accumulate: 2, ema: { decay: 0.8 }, seed: 5,
    optimizerSpec: { name: 'adam', lr: 0.01 },
    scheduleSpec: { type: 'cosine', warmup_epochs: 1, min_lr: 1e-4 }, // the lr moves inside the epoch
    batchesFor: (epoch, skip) => batches(data, epochOrder('uniform', data.fine, 5, epoch).subarray(skip * 8), 8),
  });
  const dirA = tmp();
  const a = await train({ ...common(tinyConvNet({ batchNorm: true, dropout: 0.3 })), checkpointDir: dirA });

  const dirB = tmp();
  const stop = new AbortController();
  const rowsB: EpochResult[] = [];
  await assert.rejects(
    train({ ...common(tinyConvNet({ batchNorm: true, dropout: 0.3 })), checkpointDir: dirB, signal: stop.signal,
      onEpoch: (r) => rowsB.push(r),
      // after 3 batches of epoch 1 the group of batches 3-4 is half done: the checkpoint waits for it
      onStep: (s) => { if (s.epoch === 1 && s.step === 3) stop.abort('SIGUSR2'); } }),
    (e) => e instanceof InterruptedError && e.signal === 'SIGUSR2' && e.exitCode === 140,
  );
  const ck = await loadCheckpoint<TrainState>(join(dirB, 'last'));
  assert.equal(ck.state!.epoch, 1);
  assert.equal(ck.state!.in_epoch?.step, 4);
  assert.equal(ck.state!.in_epoch?.images, 32);
  assert.deepEqual(rowsB.map((r) => r.epoch), [0], 'no row for the interrupted epoch');
  const skipped: number[] = [];
  await train({ ...common(ck.model), checkpointDir: dirB, resume: { state: ck.state!, emaWeights: ck.emaWeights },
    onEpoch: (r) => rowsB.push(r), onStep: (s) => skipped.push(s.step) });
  assert.deepEqual(skipped, [5, 6], 'the resumed epoch starts at its fifth batch');
  for (const f of ['weights.bin', 'ema/weights.bin']) {
    assert.ok(readFileSync(join(dirA, 'last', f)).equals(readFileSync(join(dirB, 'last', f))), `last/${f}`);
  }
  const strip = (r: EpochResult) => ({ epoch: r.epoch, lr: r.lr, optimizer: r.optimizer, train_loss: r.train_loss });
  assert.deepEqual(rowsB.map(strip), a.history.map(strip), 'the interrupted epoch\'s row has every batch\'s loss');
  rmSync(dirA, { recursive: true });
  rmSync(dirB, { recursive: true });
});

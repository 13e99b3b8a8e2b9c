// The training loop on webgpu: losses read a few steps late (LOSS_LAG), the same history as on
// cpu with EMA, accumulation, optimizer phases and checkpoints, memory flat over many steps, a
// diverged loss still named by its own step; and `exp run` / `exp predict` (TTA) / `exp ensemble`
// end to end. Skipped, with the reason, where no WebGPU adapter can be had.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf } from '../../src/model/tf.ts';
import { ensureBackend } from '../../src/model/backend.ts';
import { LOSS_LAG, train, type StepProgress, type TrainOptions, type TrainState } from '../../src/train/loop.ts';
import { loadCheckpoint } from '../../src/train/checkpoint.ts';
import { RunError } from '../../src/errors.ts';
import { batches, H, C, quadrantData, tinyConvNet } from '../train/helpers.ts';
import { assertSchema, exp, SMOKE } from '../cli/helpers.ts';
import { tryWebgpu, WEBGPU } from './webgpu-helpers.ts';

const { info, skip } = await tryWebgpu();

const levels = [
  { name: 'fine', numClasses: 4, counts: [1, 1, 1, 1] },
  { name: 'coarse', numClasses: 2, counts: [1, 1] },
];
const data = quadrantData(48, 4);

/** Accuracy of the fine head, read asynchronously (the loop's evaluate callback). */
async function accuracy(model: tf.LayersModel): Promise<number> {
  const n = data.fine.length;
  const pred = tf.tidy(() => (model.predict(tf.tensor(data.x, [n, H, H, C])) as tf.Tensor[])[0].argMax(1));
  const p = Int32Array.from(await pred.data() as ArrayLike<number>);
  pred.dispose();
  return p.reduce((a, v, i) => a + (v === data.fine[i] ? 1 : 0), 0) / n;
}

function options(model: tf.LayersModel, dir: string, extra: Partial<TrainOptions> = {}): TrainOptions {
  return {
    model, levels, epochs: 4, stepsPerEpoch: 6, accumulate: 2, ema: { decay: 0.8 },
    lossSpec: { type: 'focal', gamma: 2, class_balance: { beta: 0.5 }, weights: { fine: 1.5, coarse: 1 } },
    scheduleSpec: { type: 'cosine', warmup_epochs: 1 },
    optimizerSpec: { cycle: { every: 1, optimizers: [{ name: 'adamw', lr: 0.01, weight_decay: 0.01 }, { name: 'sgd', lr: 0.02, momentum: 0.8 }] } },
    batchesFor: () => batches(data, [...data.fine.keys()], 8),
    evaluate: async () => ({ fine: { macro_f1: await accuracy(model) } }),
    checkpointDir: dir,
    ...extra,
  };
}

test(`${WEBGPU}: the loop (EMA, accumulation, phases, checkpoints) gives cpu's history; memory is flat over 24 steps`, async (t) => {
  if (!info) return t.skip(skip);
  const run = async (backend: 'cpu' | typeof WEBGPU) => {
    await ensureBackend(backend);
    const dir = mkdtempSync(join(tmpdir(), 'exp-webgpu-loop-'));
    const model = tinyConvNet({ batchNorm: true, dropout: 0.2 });
    const steps: StepProgress[] = [];
    const memory: { tensors: number; bytes: number; gpu: number }[] = [];
    const result = await train(options(model, dir, {
      onStep: (p) => {
        steps.push(p);
        const m = tf.memory() as tf.MemoryInfo & { numBytesAllocatedInGPU?: number };
        memory.push({ tensors: m.numTensors, bytes: m.numBytes, gpu: m.numBytesAllocatedInGPU ?? 0 });
      },
    }));
    const last = await loadCheckpoint(join(dir, 'last'));
    const weights = await Promise.all(last.model.weights.map((w) => w.read().data()));
    last.model.dispose();
    model.dispose();
    rmSync(dir, { recursive: true });
    return { result, steps, memory, weights, ema: last.emaWeights };
  };
  const ref = await run('cpu');
  const got = await run(WEBGPU);
  // every step reported once, in order, with its own loss
  assert.deepEqual(got.steps.map((s) => `${s.epoch}:${s.step}`), ref.steps.map((s) => `${s.epoch}:${s.step}`));
  got.steps.forEach((s, i) => assert.ok(Math.abs(s.loss - ref.steps[i].loss) < 1e-4 * Math.abs(ref.steps[i].loss) + 1e-6,
    `step ${i}: loss ${s.loss} vs cpu ${ref.steps[i].loss}`));
  got.result.history.forEach((row, e) => {
    const r = ref.result.history[e];
    for (const k of Object.keys(r.train_loss)) assert.ok(Math.abs(row.train_loss[k] - r.train_loss[k]) < 1e-4 * r.train_loss[k], `epoch ${e} ${k}`);
    assert.equal(row.optimizer, r.optimizer);
    assert.equal(row.lr, r.lr);
  });
  assert.deepEqual(got.result.state.optimizers.map((o) => o.step), ref.result.state.optimizers.map((o) => o.step));
  got.weights.forEach((w, i) => {
    let d = 0, s = 1e-2;
    w.forEach((v, k) => { d = Math.max(d, Math.abs(v - ref.weights[i][k])); s = Math.max(s, Math.abs(ref.weights[i][k])); });
    assert.ok(d / s < 1e-3, `checkpointed weight ${i}: ${d / s}`);
  });
  assert.ok(got.ema && Object.keys(got.ema).length === Object.keys(ref.ema!).length);
  // epoch 0 creates AdamW's slots, epoch 1 SGD's; from then on each step holds the tensors the
  // same step of the epoch before held (within an epoch they vary with the accumulation group and
  // the steps still queued), and the GPU buffer pool stops growing: its size varies only by the
  // upload staging buffers alive at the moment (one batch of input, 8x8x8x3 floats, each)
  const m = got.memory;
  for (let i = 2 * 6; i < m.length; i++) {
    assert.deepEqual([m[i].tensors, m[i].bytes], [m[i - 6].tensors, m[i - 6].bytes], `step ${i}: ${JSON.stringify(m.map((x) => x.tensors))}`);
  }
  const peak = (e: number) => Math.max(...m.slice(e * 6, (e + 1) * 6).map((x) => x.gpu));
  assert.ok(peak(1) > 0 && peak(3) <= peak(2) + 8 * H * H * C * 4, `GPU bytes allocated per step ${m.map((x) => x.gpu)}`);
});

test(`${WEBGPU}: a NaN loss read ${LOSS_LAG} steps late still stops the run naming its own epoch and step`, async (t) => {
  if (!info) return t.skip(skip);
  await ensureBackend(WEBGPU);
  const model = tinyConvNet();
  const before = tf.memory().numTensors;
  await assert.rejects(train({
    ...options(model, ''), checkpointDir: undefined, evaluate: undefined, ema: null, accumulate: 1, epochs: 3, stepsPerEpoch: 6,
    batchesFor: function* (epoch) {
      let s = 0;
      for (const b of batches(data, [...data.fine.keys()], 8)) {
        // a NaN bias from this step on (a NaN pixel would not do: the GPU's max(), hence ReLU, drops NaN)
        if (epoch === 1 && s === 2) {
          const head = model.getLayer('logits_fine');
          const [k, bias] = head.getWeights();
          head.setWeights([k, tf.fill(bias.shape, NaN)]);
        }
        s++;
        yield b;
      }
    },
  }), (e: Error) => e instanceof RunError && /epoch 1, step 2/.test(e.message));
  // let the steps still queued when it stopped finish and release their losses
  await new Promise((r) => setTimeout(r, 200));
  model.dispose();
  assert.ok(tf.memory().numTensors <= before, `${tf.memory().numTensors} tensors left, ${before} before`);
});

test(`${WEBGPU}: preempted (SIGUSR2) with steps in flight, the checkpoint counts every queued step; the resume continues that epoch`, async (t) => {
  if (!info) return t.skip(skip);
  await ensureBackend(WEBGPU);
  const opts = (model: tf.LayersModel, dir: string, extra: Partial<TrainOptions> = {}) => options(model, dir, {
    epochs: 2, evaluate: undefined, batchesFor: (_e, skip) => batches(data, [...data.fine.keys()].slice(skip * 8), 8), ...extra,
  });
  const dirA = mkdtempSync(join(tmpdir(), 'exp-webgpu-pre-'));
  const a = await train(opts(tinyConvNet(), dirA));
  const dirB = mkdtempSync(join(tmpdir(), 'exp-webgpu-pre-'));
  const stop = new AbortController();
  const rows: typeof a.history = [];
  await assert.rejects(train(opts(tinyConvNet(), dirB, {
    signal: stop.signal, onEpoch: (r) => rows.push(r),
    onStep: (p) => { if (p.epoch === 1 && p.step === 1) stop.abort('SIGUSR2'); }, // reported LOSS_LAG steps late
  })), (e: Error) => e.message === 'interrupted by SIGUSR2');
  const ck = await loadCheckpoint<TrainState>(join(dirB, 'last'));
  const at = ck.state!.in_epoch!;
  assert.equal(ck.state!.epoch, 1);
  assert.ok(at.step >= 2 && at.step % 2 === 0 && at.step < 6, `saved at step ${at.step}: after a whole accumulation group`);
  assert.equal(at.images, at.step * 8, 'the losses of the steps in flight were read before saving');
  const b = await train(opts(ck.model, dirB, { resume: { state: ck.state!, emaWeights: ck.emaWeights }, onEpoch: (r) => rows.push(r) }));
  assert.deepEqual(rows.map((r) => r.epoch), [0, 1]);
  rows.forEach((row, e) => {
    for (const k of Object.keys(row.train_loss)) {
      const r = a.history[e].train_loss[k];
      assert.ok(Math.abs(row.train_loss[k] - r) < 1e-4 * r, `epoch ${e} ${k}: ${row.train_loss[k]} vs ${r}`);
    }
  });
  assert.deepEqual(b.state.optimizers.map((o) => o.step), a.state.optimizers.map((o) => o.step));
  ck.model.dispose();
  rmSync(dirA, { recursive: true });
  rmSync(dirB, { recursive: true });
});

test(`${WEBGPU}: exp run (TTA predictions, submission), exp show, exp predict --tta and exp ensemble`, async (t) => {
  if (!info) return t.skip(skip);
  const runs = mkdtempSync(join(tmpdir(), 'exp-webgpu-runs-'));
  try {
    const ids: string[] = [];
    for (const seed of [1, 2]) {
      const r = await exp(['run', 'experiments/quickstart.yaml', ...SMOKE, '--set', `seed=${seed}`, '--name', `w${seed}`,
        '--runs-dir', runs, '--backend', WEBGPU]);
      assert.equal(r.code, 0, r.stderr + r.stdout);
      const id = readdirSync(runs).find((d) => !ids.includes(d) && d.includes(`w${seed}`))!;
      ids.push(id);
      const run = JSON.parse(readFileSync(join(runs, id, 'run.json'), 'utf8'));
      await assertSchema('run', run);
      assert.equal(run.status, 'completed');
      assert.equal(run.backend.name, WEBGPU);
      assert.equal(run.backend.deterministic, false);
      assert.equal(run.backend.adapter.software, WEBGPU === 'webgpu-software');
      assert.match(run.backend.version, /tfjs-backend-webgpu 4\.22\.\d+, Dawn \(webgpu /);
      assert.ok(readdirSync(join(runs, id, 'predictions')).length > 0);
    }
    const show = await exp(['show', ids[0], '--runs-dir', runs]);
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, new RegExp(`backend    ${WEBGPU} \\(@tensorflow/tfjs-backend-webgpu`));
    assert.match(show.stdout, /adapter    .+/);
    const pred = await exp(['predict', ids[0], '--split', 'val', '--tta', '2', '--runs-dir', runs, '--backend', WEBGPU]);
    assert.equal(pred.code, 0, pred.stderr + pred.stdout);
    const ens = await exp(['ensemble', ...ids.map((id) => join(runs, id)), '--logits', '--runs-dir', runs, '--name', 'blend']);
    assert.equal(ens.code, 0, ens.stderr + ens.stdout);
    const blend = readdirSync(runs).find((d) => d.includes('blend'))!;
    assert.equal(JSON.parse(readFileSync(join(runs, blend, 'run.json'), 'utf8')).status, 'completed');
  } finally {
    rmSync(runs, { recursive: true, force: true });
  }
});

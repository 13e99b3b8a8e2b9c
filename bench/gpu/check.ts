// Node half of the GPU check (run.sh runs it, bundled, on the device machine). One mode per call,
// one JSON object on the last line of stdout (and in --out):
//   probe                  the adapter Dawn offers through Vulkan, its limits and features
//   parity                 test/model/webgpu-backbones.test.ts's comparison on this adapter:
//                          every backbone, one training step on webgpu against wasm
//   time --backbone B --batch N --size S
//                          exp's training loop (train(), losses read LOSS_LAG steps late) on
//                          batches already in memory: seconds per step after warm-up; then one
//                          step under tf.profile (GPU timestamps, where the adapter has them):
//                          the kernels that take the most time
// --backend picks the webgpu backend (default webgpu; webgpu-software for a dry run without a GPU).
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { tf } from '../../src/model/tf.ts';
import { ensureBackend, type BackendName } from '../../src/model/backend.ts';
import { backbones } from '../../src/model/backbones/index.ts';
import { buildModel } from '../../src/model/build.ts';
import { train, type Batch } from '../../src/train/loop.ts';
import { compareSteps, TOLERANCE, trainStep, withinTolerance } from '../../test/model/webgpu-parity.ts';

const { values: o, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    backend: { type: 'string', default: 'webgpu' },
    backbone: { type: 'string', default: 'se_resnext50_32x4d' },
    backbones: { type: 'string' },
    batch: { type: 'string', default: '32' },
    size: { type: 'string', default: '224' },
    steps: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '3' }, // at least 1: the first step compiles the shaders
    budget: { type: 'string', default: '40' },
    'parity-size': { type: 'string', default: '32' },
    'parity-batch': { type: 'string', default: '4' },
    out: { type: 'string' },
  },
});
const backend = o.backend as BackendName;
const mode = positionals[0];

function emit(result: object): void {
  const text = JSON.stringify(result);
  if (o.out) writeFileSync(o.out, `${text}\n`);
  process.stdout.write(`${text}\n`);
}

const errorText = (e: unknown) => String(e instanceof Error ? e.message : e).split('\n')[0];

async function probe(): Promise<object> {
  const t0 = performance.now();
  const info = await ensureBackend(backend);
  const b = tf.backend() as unknown as { device: { limits: Record<string, number>; features: Set<string> } };
  const limits: Record<string, number> = {};
  for (const k in b.device.limits) limits[k] = b.device.limits[k];
  return { mode, backend: info.name, version: info.version, deterministic: info.deterministic, adapter: info.adapter,
    detail: info.detail, features: [...b.device.features].sort(), limits, seconds: (performance.now() - t0) / 1000 };
}

async function parity(): Promise<object> {
  const size = Number(o['parity-size']), batch = Number(o['parity-batch']);
  const names = o.backbones ? o.backbones.split(',') : backbones.names();
  const rows = [];
  for (const name of names) {
    const row: Record<string, unknown> = { backbone: name };
    try {
      await ensureBackend('wasm');
      let t = performance.now();
      const ref = await trainStep(name, size, batch);
      row.reference_seconds = (performance.now() - t) / 1000;
      await ensureBackend(backend);
      t = performance.now();
      const got = await trainStep(name, size, batch);
      row.webgpu_seconds = (performance.now() - t) / 1000; // the first step: shader compilation included
      const p = compareSteps(ref, got);
      Object.assign(row, p, { pass: withinTolerance(p) });
    } catch (e) {
      Object.assign(row, { pass: false, error: errorText(e) });
    }
    rows.push(row);
    process.stderr.write(`${JSON.stringify(row)}\n`);
  }
  return { mode, backend, reference: 'wasm', size, batch, tolerance: TOLERANCE, pass: rows.every((r) => r.pass), backbones: rows };
}

/** Seconds per training step of exp's loop, and the kernels that take the most GPU time. */
async function time(): Promise<object> {
  const info = await ensureBackend(backend);
  const size = Number(o.size), batch = Number(o.batch), warmup = Number(o.warmup), steps = Number(o.steps);
  const budget = Number(o.budget);
  const levels = [{ name: 'species', numClasses: 1000, counts: new Array(1000).fill(1) }];
  const model = buildModel({ backbone: { name: o.backbone! }, head: { pool: 'avg', hidden: 0, dropout: 0 }, inputSize: size,
    levels: levels.map((l) => ({ name: l.name, numClasses: l.numClasses })), seed: 1 });
  // two batches in memory, alternated: the data pipeline is not what is measured here
  const ready: Batch[] = [0, 1].map((k) => {
    const x = new Float32Array(batch * size * size * 3);
    for (let i = 0; i < x.length; i++) x[i] = Math.sin(i * 0.37 + k) * 1.5;
    return { x, n: batch, labels: [Int32Array.from({ length: batch }, (_v, i) => (i * 37 + k) % 1000)] };
  });
  const stamps: number[] = [];
  const t0 = performance.now();
  const total = warmup + steps;
  let stopAt = total;
  await train({
    model, levels, lossSpec: { type: 'cross_entropy' }, optimizerSpec: { name: 'sgd', lr: 0.01, momentum: 0.9 },
    scheduleSpec: { type: 'constant' }, epochs: 1, stepsPerEpoch: total,
    batchesFor: function* () {
      for (let s = 0; s < stopAt; s++) yield ready[s % 2];
    },
    onStep: (p) => {
      stamps.push(performance.now());
      // past the time budget: stop feeding batches (the steps queued still finish)
      if (p.step > warmup && (performance.now() - t0) / 1000 > budget) stopAt = Math.min(stopAt, p.step + 1);
    },
  });
  // Step k is reported when its losses are read, LOSS_LAG steps after it was queued, and the last
  // LOSS_LAG reports come together when the epoch ends: so the rate is the steps after warm-up
  // over the time from the warm-up's last report to the last one (by then its step has run).
  const timedSteps = stamps.length - warmup;
  const perStep = (stamps[stamps.length - 1] - stamps[warmup - 1]) / timedSteps / 1000;
  const result: Record<string, unknown> = {
    mode, backend: info.name, adapter: info.adapter, backbone: o.backbone, batch, size, warmup, steps_timed: timedSteps,
    first_step_seconds: (stamps[0] - t0) / 1000, seconds_per_step: perStep, images_per_s: batch / perStep,
    report_intervals: stamps.slice(1).map((t, i) => (t - stamps[i]) / 1000),
    gpu_bytes_allocated: (tf.memory() as tf.MemoryInfo & { numBytesAllocatedInGPU?: number }).numBytesAllocatedInGPU,
  };
  try {
    result.profile = await profileStep(model, ready[0], size);
  } catch (e) {
    result.profile = { error: errorText(e) };
  }
  model.dispose();
  return result;
}

/** One forward + backward under tf.profile: GPU time per kernel name, largest first. */
async function profileStep(model: tf.LayersModel, b: Batch, size: number): Promise<object> {
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const info = await tf.profile(async () => {
    const { value, grads } = tf.variableGrads(() => {
      const x = tf.tensor(b.x, [b.n, size, size, 3]);
      const y = model.apply(x, { training: true }) as tf.Tensor;
      return tf.losses.softmaxCrossEntropy(tf.oneHot(tf.tensor1d(b.labels[0], 'int32'), 1000), y) as tf.Scalar;
    }, vars);
    await value.data();
    tf.dispose([value, ...Object.values(grads)]);
  });
  const byName = new Map<string, { ms: number; calls: number }>();
  let totalMs = 0;
  for (const k of info.kernels) {
    const ms = typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
    const e = byName.get(k.name) ?? { ms: 0, calls: 0 };
    e.ms += ms;
    e.calls += 1;
    byName.set(k.name, e);
    totalMs += ms;
  }
  const top = [...byName.entries()].sort((a, c) => c[1].ms - a[1].ms).slice(0, 15)
    .map(([name, e]) => ({ name, ms: e.ms, calls: e.calls, share: totalMs ? e.ms / totalMs : null }));
  return { kernels: info.kernels.length, gpu_ms: totalMs, timestamps: totalMs > 0, top };
}

const modes: Record<string, () => Promise<object>> = { probe, parity, time };
if (!modes[mode]) {
  process.stderr.write(`usage: check.ts probe|parity|time [--backend webgpu|webgpu-software] ...\n`);
  process.exit(2);
}
try {
  emit(await modes[mode]());
} catch (e) {
  emit({ mode, backend, error: errorText(e) });
  process.exitCode = 1;
}

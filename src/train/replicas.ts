// Where the training loop gets its gradients: a GradientEngine. The local engine computes them on
// the model in this thread. The replica engine (train.replicas > 1) is data parallelism for the
// single-threaded wasm backend: the main thread is replica 0, and R-1 worker threads
// (replicas-worker.ts) each hold a copy of the model. Every step splits the batch into R contiguous
// shards (sizes differing by at most 1, larger first), every replica computes the gradient of its
// shard's mean loss, and the main thread combines them as the n-weighted mean in replica order
// (0, 1, ...). Each replica is deterministic and the combination order is fixed, so a run is
// bit-identical for a given seed and replica count, whatever the thread timing. Where the loss is
// a per-example mean and the model has no batch norm in training mode, the combined gradient is
// the full-batch gradient (up to float rounding). Batch norm normalises each shard with that
// shard's statistics (as PyTorch DDP without SyncBatchNorm), and its moving statistics come from
// replica 0's shard: after every optimizer update the main model's weights, trainable and not,
// are copied to the workers before their next step (DDP's buffer broadcast).
// Transfers go through SharedArrayBuffers: one for the weights (main writes, workers read), one per
// worker for its gradients (worker writes, main reads); messages only say when.
import { availableParallelism } from 'node:os';
import type { Worker } from 'node:worker_threads';
import { tf } from '../model/tf.ts';
import { variableGrads } from '../model/backprop.ts';
import { applyRecomputing } from '../model/recompute.ts';
import { buildLevelLosses, hierarchicalLoss, type LevelInfo, type LossSpec } from '../model/losses.ts';
import { setDropoutStep } from '../model/layers/dropout.ts';
import { f32, type BackendWasm } from '../model/kernels/wasm-util.ts';
import { RunError, UserError } from '../errors.ts';
import { deserializeError, startWorker, type SerializedError } from '../util/worker.ts';
import type { Batch } from './batch.ts';

/** The gradients of one batch, and its losses. */
export interface BatchGrads {
  /** Per-level losses (label levels in order) then the weighted total: means over the batch. */
  vals: Float32Array;
  /** The gradient of the batch's mean total loss for each trainable weight (model.trainableWeights order). The caller disposes them. */
  grads: tf.Tensor[];
}

/** Gradients whose losses are still on the device: `vals` resolves once the step has run there. */
export interface PendingGrads {
  vals: Promise<Float32Array>;
  grads: tf.Tensor[];
}

export interface GradientEngine {
  /** Replicas computing each step (1: the local engine). */
  readonly replicas: number;
  /**
   * Gradients of `batch`. `dropoutStep` keys the dropout masks (SeededDropout): the global index
   * of this training call, so a resumed run draws the same masks.
   */
  grads(batch: Batch, dropoutStep: number): Promise<BatchGrads>;
  /**
   * grads() without waiting for the losses (the local engine): on a GPU backend the step is then
   * only queued, and the caller reads the losses later (see the training loop's lag).
   */
  gradsDeferred?(batch: Batch, dropoutStep: number): PendingGrads;
  /** Tell the engine the model's weights changed (after an optimizer update); replicas copy them before their next step. */
  syncWeights(): void;
  /** Release everything: workers are terminated. Safe to call more than once. */
  dispose(): Promise<void>;
}

/** Dropout key of replica r > 0: the step in the low 32 bits, r above (mixKeys mixes both halves), so shards never share masks. */
export const dropoutKey = (step: number, replica: number): number => step + replica * 4294967296;

/** R contiguous shard sizes for n examples: floor(n/R), the first n mod R one larger. */
export function shardSizes(n: number, replicas: number): number[] {
  const base = Math.floor(n / replicas);
  const extra = n % replicas;
  return Array.from({ length: replicas }, (_x, r) => base + (r < extra ? 1 : 0));
}

/** What a replica needs to compute gradients on its model. */
export interface ReplicaModel {
  model: tf.LayersModel;
  /** The trainable variables, in model.trainableWeights order. */
  params: tf.Variable[];
  levelLosses: ReturnType<typeof buildLevelLosses>;
  /** Model output index per label level (outputOrder). */
  order: number[];
  /** Input shape without the batch dimension. */
  inShape: number[];
  /** Recompute activations in the backward pass instead of keeping them (train.recompute). */
  recompute: boolean;
}

export function replicaModel(model: tf.LayersModel, levels: LevelInfo[], lossSpec: LossSpec, order: number[], recompute = false): ReplicaModel {
  return {
    model,
    recompute,
    params: model.trainableWeights.map((w) => w.read() as tf.Variable),
    levelLosses: buildLevelLosses(lossSpec, levels),
    order,
    inShape: model.inputs[0].shape.slice(1) as number[],
  };
}

/** Forward + backward of n examples on one model, the losses left on the device (the caller disposes them). */
function batchGradTensors(m: ReplicaModel, x: Float32Array, n: number, labels: Int32Array[], dropoutStep: number): { vals: tf.Tensor1D; grads: tf.Tensor[] } {
  setDropoutStep(m.model, dropoutStep);
  const kept: { t?: tf.Tensor1D } = {};
  const { value, grads } = variableGrads(() => {
    const xt = tf.tensor(x, [n, ...m.inShape], 'float32');
    const out = m.recompute ? applyRecomputing(m.model, xt) : m.model.apply(xt, { training: true }) as tf.Tensor | tf.Tensor[];
    const outs = Array.isArray(out) ? out : [out];
    const { total, perLevel } = hierarchicalLoss(m.levelLosses, m.order.map((i) => outs[i] as tf.Tensor2D), labels);
    kept.t = tf.keep(tf.stack([...perLevel, total]) as tf.Tensor1D);
    return total;
  }, m.params);
  value.dispose();
  return { vals: kept.t!, grads: m.params.map((p) => grads[p.name] ?? tf.zerosLike(p)) };
}

/** Forward + backward of n examples on one model; the same code runs in every replica. */
export function batchGrads(m: ReplicaModel, x: Float32Array, n: number, labels: Int32Array[], dropoutStep: number): BatchGrads {
  const { vals: t, grads } = batchGradTensors(m, x, n, labels, dropoutStep);
  const vals = Float32Array.from(t.dataSync() as Float32Array);
  t.dispose();
  return { vals, grads };
}

/** One replica: the model in this thread. */
export class LocalEngine implements GradientEngine {
  readonly replicas = 1;
  constructor(private readonly m: ReplicaModel) {}

  async grads(batch: Batch, dropoutStep: number): Promise<BatchGrads> {
    return batchGrads(this.m, batch.x, batch.n, batch.labels, dropoutStep);
  }

  gradsDeferred(batch: Batch, dropoutStep: number): PendingGrads {
    const { vals: t, grads } = batchGradTensors(this.m, batch.x, batch.n, batch.labels, dropoutStep);
    const vals = t.data().then((v) => Float32Array.from(v as Float32Array)).finally(() => t.dispose());
    vals.catch(() => undefined); // a failure surfaces where the loop awaits it, not as an unhandled rejection
    return { vals, grads };
  }

  syncWeights(): void {}

  async dispose(): Promise<void> {}
}

// ---- the replica engine ----------------------------------------------------------------------

/** A named weight's place in a flat buffer. */
export interface Slot {
  name: string; // originalName: the same in every copy of the model
  shape: number[];
  offset: number;
  size: number;
}

function layout(weights: tf.LayerVariable[]): Slot[] {
  let offset = 0;
  return weights.map((w) => {
    if (w.dtype !== 'float32') throw new UserError(`train.replicas > 1 needs float32 weights; ${w.originalName} is ${w.dtype}. Set train.replicas: 1.`);
    const shape = w.shape as number[];
    const size = shape.reduce((a, b) => a * b, 1);
    const s = { name: w.originalName, shape, offset, size };
    offset += size;
    return s;
  });
}
const total = (slots: Slot[]) => slots.reduce((a, s) => a + s.size, 0);
const shared = (n: number) => new Float32Array(new SharedArrayBuffer(Math.max(1, n) * 4));

// Copies between tensors and the shared buffers. On wasm they go straight between the wasm heap
// and the buffer: dataSync() and slice() allocate a fresh 47 MB array per copy for resnet18, which
// costs about 200 ms a step in page faults; this costs about 3 ms.
const onWasm = () => tf.getBackend() === 'wasm';

/** Copy a float32 tensor's values into dst at offset. */
export function readInto(t: tf.Tensor, dst: Float32Array, offset: number): void {
  dst.set(onWasm() ? f32(tf.backend() as BackendWasm, t) : (t.dataSync() as Float32Array), offset);
}

/** A new tensor holding a copy of dst[s.offset .. s.offset + s.size). */
export function tensorAt(src: Float32Array, s: Slot): tf.Tensor {
  const view = src.subarray(s.offset, s.offset + s.size);
  // wasm copies the values onto its heap; the cpu backend would keep the view itself
  return tf.tensor(onWasm() ? view : view.slice(), s.shape, 'float32');
}

/** workerData of a replica worker. */
export interface WorkerInit {
  index: number;
  backend: 'wasm' | 'cpu';
  modelTopology: object;
  levels: LevelInfo[];
  lossSpec: LossSpec;
  order: number[];
  recompute: boolean;
  weightSlots: Slot[];
  paramSlots: Slot[];
  weights: Float32Array; // shared: main writes, workers read
  grads: Float32Array; // shared: this worker writes, main reads
}

/** Main -> worker. */
export type ToWorker =
  | { type: 'weights' }
  | { type: 'grads'; x: Float32Array; n: number; labels: Int32Array[]; dropoutStep: number };
/** Worker -> main. */
export type FromWorker =
  | { type: 'ready' }
  | { type: 'grads'; vals: Float32Array }
  | { type: 'error'; error: SerializedError };

/** Worker threads started and not yet exited (tests check that every exit path ends them). */
const live = new Set<Worker>();
export const liveReplicaWorkers = (): number => live.size;

/** The main thread's handle on one worker: one request in flight at a time. */
class Replica {
  readonly worker: Worker;
  private pending: { resolve(m: FromWorker): void; reject(e: Error): void } | null = null;
  private failed: Error | null = null;
  private closing = false;

  constructor(readonly index: number, readonly init: WorkerInit) {
    this.worker = startWorker('train/replicas-worker', { workerData: init });
    live.add(this.worker);
    // idle workers do not keep the process alive; a pending request does (see request)
    this.worker.unref();
    this.worker.on('message', (m: FromWorker) => {
      const p = this.pending;
      this.pending = null;
      this.worker.unref();
      if (!p) return;
      if (m.type === 'error') {
        p.reject(deserializeError(m.error, `training replica ${this.index} (worker thread) failed`));
      } else p.resolve(m);
    });
    this.worker.on('error', (e) => this.fail(new RunError(`training replica ${this.index} (worker thread) failed: ${e.message}`)));
    this.worker.on('exit', (code) => {
      live.delete(this.worker);
      if (!this.closing) this.fail(new RunError(`training replica ${this.index} (worker thread) exited unexpectedly (code ${code})`));
    });
  }

  private fail(e: Error): void {
    this.failed ??= e;
    const p = this.pending;
    this.pending = null;
    p?.reject(e);
  }

  /** The next message from the worker (its answer to `msg`, or 'ready' when msg is undefined). */
  request(msg?: ToWorker, transfer: ArrayBuffer[] = []): Promise<FromWorker> {
    const refuse = this.failed ?? (this.pending ? new Error(`internal: replica ${this.index} already has a request in flight`) : null);
    const p = refuse ? Promise.reject(refuse) : new Promise<FromWorker>((resolve, reject) => (this.pending = { resolve, reject }));
    // a rejection nobody awaits (replica 0 or another worker failed first) is not unhandled
    p.catch(() => undefined);
    if (!refuse) {
      this.worker.ref();
      if (msg) this.worker.postMessage(msg, transfer);
    }
    return p;
  }

  /** Fire-and-forget (the worker answers nothing; a failure shows at the next request). */
  post(msg: ToWorker): void {
    if (!this.failed) this.worker.postMessage(msg);
  }

  async terminate(): Promise<void> {
    this.closing = true;
    this.fail(new RunError(`training replica ${this.index} was stopped`));
    await this.worker.terminate();
    live.delete(this.worker);
  }
}

export interface ReplicaEngineOptions {
  model: tf.LayersModel;
  levels: LevelInfo[];
  lossSpec: LossSpec;
  order: number[];
  replicas: number;
  /** train.recompute (default false). */
  recompute?: boolean;
  /** The backend the workers load: the one the main thread trains on. */
  backend: 'wasm' | 'cpu';
}

export class ReplicaEngine implements GradientEngine {
  private dirty = false;
  private closed = false;

  private constructor(
    readonly replicas: number,
    private readonly local: ReplicaModel,
    private readonly weights: tf.LayerVariable[],
    private readonly weightSlots: Slot[],
    private readonly paramSlots: Slot[],
    private readonly weightBuf: Float32Array,
    private readonly workers: Replica[],
  ) {}

  /** Starts R-1 workers with copies of the model (its current weights) and waits until each is ready. */
  static async start(o: ReplicaEngineOptions): Promise<ReplicaEngine> {
    if (!(Number.isInteger(o.replicas) && o.replicas >= 2)) throw new Error(`internal: ReplicaEngine needs >= 2 replicas (got ${o.replicas})`);
    const weights = o.model.weights;
    const weightSlots = layout(weights);
    const paramSlots = layout(o.model.trainableWeights);
    const weightBuf = shared(total(weightSlots));
    const modelTopology = o.model.toJSON(undefined, false) as object;
    const local = replicaModel(o.model, o.levels, o.lossSpec, o.order, o.recompute);
    const engine = new ReplicaEngine(o.replicas, local, weights, weightSlots, paramSlots, weightBuf, []);
    engine.writeWeights();
    try {
      for (let r = 1; r < o.replicas; r++) {
        engine.workers.push(new Replica(r, {
          index: r, backend: o.backend, modelTopology, levels: o.levels, lossSpec: o.lossSpec, order: o.order,
          recompute: o.recompute ?? false, weightSlots, paramSlots, weights: weightBuf, grads: shared(total(paramSlots)),
        }));
      }
      await Promise.all(engine.workers.map((w) => w.request()));
    } catch (e) {
      await engine.dispose();
      throw e;
    }
    return engine;
  }

  private writeWeights(): void {
    this.weights.forEach((w, i) => readInto(w.read(), this.weightBuf, this.weightSlots[i].offset));
  }

  syncWeights(): void {
    this.dirty = true;
  }

  async grads(batch: Batch, dropoutStep: number): Promise<BatchGrads> {
    if (this.closed) throw new Error('internal: the replica engine was disposed');
    // Workers read the weight buffer before their next step; none is reading now (every request
    // has been answered), so it can be rewritten.
    if (this.dirty) {
      this.writeWeights();
      for (const w of this.workers) w.post({ type: 'weights' });
      this.dirty = false;
    }
    const sizes = shardSizes(batch.n, this.replicas);
    const per = batch.x.length / batch.n;
    const starts = sizes.map((_s, r) => sizes.slice(0, r).reduce((a, b) => a + b, 0));
    const pending: (Promise<FromWorker> | null)[] = this.workers.map((w, k) => {
      const r = k + 1;
      if (sizes[r] === 0) return null;
      const [a, b] = [starts[r], starts[r] + sizes[r]];
      const x = batch.x.slice(a * per, b * per);
      const labels = batch.labels.map((l) => l.slice(a, b));
      return w.request({ type: 'grads', x, n: sizes[r], labels, dropoutStep: dropoutKey(dropoutStep, r) },
        [x.buffer as ArrayBuffer, ...labels.map((l) => l.buffer as ArrayBuffer)]);
    });
    // replica 0 (this thread) works while the workers do
    const n0 = sizes[0];
    const own = batchGrads(this.local, batch.x.subarray(0, n0 * per), n0, batch.labels.map((l) => l.subarray(0, n0)), dropoutStep);
    let answers: (FromWorker | null)[];
    try {
      answers = await Promise.all(pending);
    } catch (e) {
      own.grads.forEach((g) => g.dispose());
      throw e;
    }
    // the n-weighted mean, in replica order
    const vals = new Float64Array(own.vals.length);
    const w0 = n0 / batch.n;
    own.vals.forEach((v, i) => (vals[i] = w0 * v));
    const active: { k: number; weight: number }[] = [];
    answers.forEach((m, k) => {
      if (!m) return;
      if (m.type !== 'grads') throw new Error(`internal: replica ${k + 1} answered ${m.type}`);
      const wr = sizes[k + 1] / batch.n;
      m.vals.forEach((v, i) => (vals[i] += wr * v));
      active.push({ k, weight: wr });
    });
    const grads = own.grads.map((g0, i) => {
      const s = this.paramSlots[i];
      const g = tf.tidy(() => {
        let acc = active.length ? tf.mul(g0, w0) : g0.clone();
        for (const { k, weight } of active) {
          acc = tf.add(acc, tf.mul(tensorAt(this.workers[k].init.grads, s), weight));
        }
        return acc;
      });
      g0.dispose();
      return g;
    });
    return { vals: Float32Array.from(vals), grads };
  }

  async dispose(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

/** The local engine for 1 replica, else the replica engine (its workers started and ready). */
export async function createGradientEngine(o: Omit<ReplicaEngineOptions, 'backend'> & { backend?: 'wasm' | 'cpu' }): Promise<GradientEngine> {
  if (!(Number.isInteger(o.replicas) && o.replicas >= 1)) {
    throw new UserError(`train.replicas must be a positive integer or "auto" (got ${o.replicas}).`);
  }
  if (o.replicas === 1) return new LocalEngine(replicaModel(o.model, o.levels, o.lossSpec, o.order, o.recompute));
  const backend = o.backend ?? tf.getBackend();
  if (backend !== 'wasm' && backend !== 'cpu') {
    throw new UserError(`train.replicas > 1 runs on the wasm backend (this process uses ${backend}); set train.replicas: 1.`);
  }
  return ReplicaEngine.start({ ...o, backend });
}

/** train.replicas as the train stage applies it: the count used and, when it differs from the setting, why. */
export function resolveReplicas(
  setting: number | 'auto' | undefined,
  backend: string,
  batchSize: number,
  cores: number = availableParallelism(),
): { count: number; note: string | null } {
  const asked = setting ?? 1;
  if (backend !== 'wasm') {
    return { count: 1, note: asked === 1 ? null : `train.replicas=${asked}: using 1 on the ${backend} backend, whose kernels already use every core (replicas are for the single-threaded wasm backend)` };
  }
  let count = asked === 'auto' ? cores : asked;
  let note = asked === 'auto' ? `train.replicas=auto: ${count} (available cores)` : null;
  if (count > batchSize) {
    note = `train.replicas=${asked}: using ${batchSize}, the batch size (a replica needs at least one image per step)`;
    count = batchSize;
  }
  return { count, note };
}

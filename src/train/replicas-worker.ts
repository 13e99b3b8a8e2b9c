// A training replica in a worker thread (see replicas.ts): loads the main thread's backend and a
// copy of the model (exp's custom layers registered by build.ts), then answers 'grads' requests
// with the gradients of its shard, written into its shared gradient buffer, and copies the main
// model's weights from the shared weight buffer on 'weights'.
import { parentPort, workerData } from 'node:worker_threads';
import { tf } from '../model/tf.ts';
import { ensureBackend } from '../model/backend.ts';
import '../model/build.ts'; // registers exp's custom layer classes before the model is rebuilt
import { serializeError } from '../util/worker.ts';
import { batchGrads, readInto, replicaModel, tensorAt, type FromWorker, type ReplicaModel, type Slot, type ToWorker, type WorkerInit } from './replicas.ts';

const init = workerData as WorkerInit;
const port = parentPort!;
const send = (m: FromWorker) => port.postMessage(m);
const errorOf = (e: unknown): FromWorker => ({ type: 'error', error: serializeError(e) });

function check(what: string, slots: Slot[], weights: tf.LayerVariable[]): void {
  const mine = weights.map((w) => `${w.originalName} [${w.shape.join(',')}]`);
  const theirs = slots.map((s) => `${s.name} [${s.shape.join(',')}]`);
  if (mine.join('\n') !== theirs.join('\n')) {
    const i = mine.findIndex((m, k) => m !== theirs[k]);
    throw new Error(`the rebuilt model's ${what} differ from the main thread's (first at #${i}: ${mine[i]} vs ${theirs[i]})`);
  }
}

let model: tf.LayersModel;
let weights: tf.LayerVariable[];
let pendingError: unknown = null;

function readWeights(): void {
  tf.tidy(() => {
    weights.forEach((w, i) => (w.read() as tf.Variable).assign(tensorAt(init.weights, init.weightSlots[i])));
  });
}

async function start(): Promise<ReplicaModel> {
  await ensureBackend(init.backend);
  model = await tf.models.modelFromJSON({ modelTopology: init.modelTopology } as tf.io.ModelJSON);
  weights = model.weights;
  check('weights', init.weightSlots, weights);
  check('trainable weights', init.paramSlots, model.trainableWeights);
  readWeights();
  return replicaModel(model, init.levels, init.lossSpec, init.order, init.recompute);
}

// A worker that failed to start says why and stays up (answering any request with the same
// failure) until the main thread terminates it, so the reason always arrives.
let m: ReplicaModel | null = null;
let failure: FromWorker | null = null;
try {
  m = await start();
} catch (e) {
  failure = errorOf(e);
}

port.on('message', (msg: ToWorker) => {
  if (failure || !m) {
    if (msg.type === 'grads') send(failure ?? errorOf(new Error('the replica did not start')));
    return;
  }
  if (msg.type === 'weights') {
    try {
      readWeights();
    } catch (e) {
      pendingError ??= e;
    }
    return;
  }
  try {
    if (pendingError) throw pendingError;
    const { vals, grads } = batchGrads(m, msg.x, msg.n, msg.labels, msg.dropoutStep);
    grads.forEach((g, i) => {
      readInto(g, init.grads, init.paramSlots[i].offset);
      g.dispose();
    });
    send({ type: 'grads', vals });
  } catch (e) {
    send(errorOf(e));
  }
});
send(failure ?? { type: 'ready' });

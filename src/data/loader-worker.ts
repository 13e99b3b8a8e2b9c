// The image loader's worker thread (see loader-thread.ts): decodes the batches it is sent with
// batch-decode.ts, several at once, each loader's images through that loader's decoder slots, and
// sends each batch's pixels back without copying them (the buffer is transferred).
import { parentPort } from 'node:worker_threads';
import { serializeError } from '../util/worker.ts';
import { decodeBatch, envOf, type DecodeEnv } from './batch-decode.ts';
import type { FromLoader, ToLoader } from './loader-thread.ts';

const port = parentPort!;
const envs = new Map<number, DecodeEnv>();

port.on('message', (m: ToLoader) => {
  if (m.type === 'done') {
    envs.delete(m.loader);
    return;
  }
  const { id } = m;
  let env: DecodeEnv;
  try {
    env = envs.get(m.loader) ?? envOf(m.spec);
  } catch (e) {
    port.postMessage({ type: 'error', id, error: serializeError(e) } satisfies FromLoader);
    return;
  }
  envs.set(m.loader, env);
  decodeBatch(m.spec, m.job, env).then(
    (batch) => port.postMessage({ type: 'batch', id, batch } satisfies FromLoader, [batch.x.buffer as ArrayBuffer]),
    (e: unknown) => port.postMessage({ type: 'error', id, error: serializeError(e) } satisfies FromLoader),
  );
});

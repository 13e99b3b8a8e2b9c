// Registry-driven: every registered backend either loads, names itself, reports a version and
// computes a small convolution + matmul as the pure-JS reference does, or refuses with a
// UserError that says why and how to fix it (never a crash). Adding a backend adds this test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../src/model/tf.ts';
import { backends, selectBackend, type BackendName } from '../../src/model/backend.ts';
import { UserError } from '../../src/errors.ts';

/** conv2d (3x3, 2 -> 3 channels, same padding) then a dense layer, on fixed inputs; read
 * asynchronously, as exp reads every result (a GPU backend has no synchronous readback). */
async function compute(): Promise<number[]> {
  const out = tf.tidy(() => {
    const x = tf.tensor4d(Array.from({ length: 2 * 5 * 5 * 2 }, (_, i) => Math.sin(i)), [2, 5, 5, 2]);
    const k = tf.tensor4d(Array.from({ length: 3 * 3 * 2 * 3 }, (_, i) => Math.cos(i) / 4), [3, 3, 2, 3]);
    const y = tf.relu(tf.conv2d(x, k, 1, 'same'));
    const w = tf.tensor2d(Array.from({ length: 75 * 4 }, (_, i) => Math.sin(i * 0.7) / 8), [75, 4]);
    return tf.matMul(y.reshape([2, 75]), w);
  });
  const values = Array.from(await out.data());
  out.dispose();
  return values;
}

await selectBackend('cpu');
const reference = await compute();

for (const name of backends.names()) {
  test(`backend ${name}: loads and computes as the reference does, or says why not and how to fix it`, async (t) => {
    let info;
    try {
      info = await selectBackend(name as BackendName);
    } catch (e) {
      assert.ok(e instanceof UserError, `${name}: ${(e as Error).stack}`);
      assert.match(e.message, new RegExp(`^backend '${name}' cannot load: .+\\. To fix: .+`));
      t.diagnostic(`backend ${name} not available here: ${e.message}`);
      return;
    }
    assert.equal(info.name, name);
    assert.ok(info.version.length > 0 && typeof info.deterministic === 'boolean');
    const got = await compute();
    assert.equal(got.length, reference.length);
    got.forEach((v, i) => assert.ok(Math.abs(v - reference[i]) <= 1e-4 * (1 + Math.abs(reference[i])), `${name} [${i}]: ${v} vs ${reference[i]}`));
  });
}

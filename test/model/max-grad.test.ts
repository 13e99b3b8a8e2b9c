// exp's gradient of Max and Min (kernels/max-grad.ts): tfjs' dy * cast(equal(x, y)) bit for bit
// (ties all receive dy, dy * 0 keeps its sign, NaN stays NaN) on cpu, wasm and native where the
// addon is built, and on wasm/native in one kernel instead of the broadcasting Equal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../src/model/tf.ts';
import { ensureBackend, type BackendName } from '../../src/model/backend.ts';
import { loadAddon } from '../../src/model/kernels/native.ts';
import { REDUCE_MAX_GRAD } from '../../src/model/kernels/max-grad.ts';
import { Rng } from '../../src/util/rng.ts';

const backends: BackendName[] = ['cpu', 'wasm', ...(loadAddon() ? ['native' as const] : [])];

const cases: [number[], number[], boolean][] = [
  [[2, 3, 5, 7], [1, 2], false], // global max pooling (the concat head)
  [[2, 3, 5, 7], [1, 2], true],
  [[4, 6], [0], false],
  [[3, 4, 5], [2], true],
  [[3, 4, 5], [0, 2], false],
  [[3, 4, 5], [0, 1, 2], false],
  [[5], [0], false],
];

/** Values on a coarse grid, so that a reduction often has ties; one NaN, some -0 gradients. */
function inputs(shape: number[], outShape: number[], seed: number): { x: tf.Tensor; dy: tf.Tensor } {
  const rng = new Rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const xv = Float32Array.from({ length: n }, () => Math.round(rng.uniform(-2, 2)));
  if (n > 8) xv[7] = NaN;
  const m = tf.util.sizeFromShape(outShape);
  const dv = Float32Array.from({ length: m }, (_v, i) => (i % 5 === 0 ? -0 : rng.uniform(-3, 3)));
  return { x: tf.tensor(xv, shape), dy: tf.tensor(dv, outShape) };
}

for (const backend of backends) {
  for (const op of ['max', 'min'] as const) {
    for (const [shape, axes, keepDims] of cases) {
      test(`the ${op} gradient on ${backend} [${shape}] over ${axes}${keepDims ? ' (keepDims)' : ''} equals tfjs' dy * (x == y) bit for bit`, async () => {
        await ensureBackend(backend);
        const f = (t: tf.Tensor) => (op === 'max' ? tf.max(t, axes, keepDims) : tf.min(t, axes, keepDims));
        const outShape = tf.tidy(() => f(tf.zeros(shape)).shape);
        const { x, dy } = inputs(shape, outShape, shape.length * 10 + axes.length);
        const got = tf.grad(f)(x, dy);
        const kept = shape.map((d, i) => (axes.includes(i) ? 1 : d));
        const ref = tf.mul(tf.reshape(dy, kept), tf.cast(tf.equal(x, tf.reshape(f(x), kept)), 'float32'));
        assert.deepEqual(got.shape, shape);
        const g = got.dataSync() as Float32Array, r = ref.dataSync() as Float32Array;
        assert.deepEqual(new Uint32Array(g.buffer, g.byteOffset, g.length), new Uint32Array(r.buffer, r.byteOffset, r.length),
          'same bits (signed zeros and NaN included)');
        assert.ok(g.some((v) => Object.is(v, -0)), 'the -0 case is exercised');
        const profile = await tf.profile(() => tf.dispose(tf.grad(f)(x, dy)));
        const names = profile.kernels.map((k) => k.name);
        if (backend === 'cpu') assert.ok(names.includes('Equal'), 'cpu keeps tfjs\' formula');
        else {
          assert.ok(names.includes(REDUCE_MAX_GRAD), `one ${REDUCE_MAX_GRAD} kernel (got ${names.join(', ')})`);
          assert.ok(!names.includes('Equal'), 'no broadcasting Equal');
        }
        tf.dispose([x, dy, got, ref]);
      });
    }
  }
}

test('the concat head\'s global max pooling trains through the one-pass gradient on wasm with the same gradients as cpu', async () => {
  const grads: Float32Array[] = [];
  for (const backend of ['cpu', 'wasm'] as const) {
    await ensureBackend(backend);
    const rng = new Rng(3);
    const x = tf.tensor(Float32Array.from({ length: 2 * 4 * 4 * 6 }, () => rng.uniform(-1, 1)), [2, 4, 4, 6]);
    const layer = tf.layers.globalMaxPooling2d({});
    const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(layer.apply(t) as tf.Tensor, tf.range(1, 7))))(x);
    grads.push(g.dataSync() as Float32Array);
    tf.dispose([x, g]);
  }
  assert.deepEqual(grads[1], grads[0]);
  assert.equal(grads[0].filter((v) => v !== 0).length, 2 * 6, 'one position per (example, channel) receives the gradient');
});


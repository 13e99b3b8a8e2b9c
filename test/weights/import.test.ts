// The importer without PyTorch: a checkpoint of exp's `tiny` backbone is written here as
// safetensors in PyTorch's layout (OIHW kernels, BatchNorm weight/bias/running_*), imported,
// and checked weight by weight; then the strict/partial reports, the model directory that
// model.backbone.weights loads, resolveWeights' content cache and the CLI command.
// (Equivalence with PyTorch itself: equivalence.test.ts.)
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { tf } from '../../src/model/tf.ts';
import { ensureBackend } from '../../src/model/backend.ts';
import { buildModel, loadBackboneWeights } from '../../src/model/build.ts';
import { buildImportModel, importCheckpoint, importToDir, resolveWeights } from '../../src/weights/import.ts';
import { exp } from '../cli/helpers.ts';
import { UserError } from '../../src/errors.ts';

await ensureBackend('cpu');
const tmp = mkdtempSync(join(tmpdir(), 'exp-weights-import-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

type Tensors = Map<string, { shape: number[]; data: Float32Array; dtype?: 'F32' | 'I64' }>;

function writeSafetensors(path: string, tensors: Tensors): void {
  const header: Record<string, unknown> = {};
  const blobs: Buffer[] = [];
  let off = 0;
  for (const [name, t] of tensors) {
    const raw = t.dtype === 'I64'
      ? Buffer.from(new BigInt64Array(Array.from(t.data, (v) => BigInt(v))).buffer)
      : Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    header[name] = { dtype: t.dtype ?? 'F32', shape: t.shape, data_offsets: [off, off + raw.byteLength] };
    blobs.push(raw);
    off += raw.byteLength;
  }
  const h = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(h.byteLength));
  writeFileSync(path, Buffer.concat([len, h, ...blobs]));
}

const TORCH: Record<string, string> = { kernel: 'weight', gamma: 'weight', beta: 'bias', moving_mean: 'running_mean', moving_variance: 'running_var' };

/** A tiny model's weights as a PyTorch state dict would hold them. */
function torchStateDict(model: tf.LayersModel): Tensors {
  const sd: Tensors = new Map();
  for (const layer of model.layers) {
    for (const w of layer.weights) {
      const short = w.originalName.split('/').pop()!;
      let v = w.read();
      // statistics made non-trivial so a gamma/moving_variance mix-up shows
      if (short !== 'kernel') v = tf.tidy(() => tf.add(tf.randomUniform(v.shape, 0.5, 1.5, 'float32', 3), short === 'beta' ? -1 : 0));
      const t = v.rank === 4 ? tf.transpose(v, [3, 2, 0, 1]) : v; // HWIO -> OIHW
      sd.set(`${layer.name}.${TORCH[short]}`, { shape: t.shape, data: t.dataSync() as Float32Array });
    }
    if (layer.getClassName() === 'FreezableBatchNorm') sd.set(`${layer.name}.num_batches_tracked`, { shape: [], data: new Float32Array([100]), dtype: 'I64' });
  }
  return sd;
}

const source = buildImportModel('tiny', 32);
const stateDict = torchStateDict(source);
const ckpt = join(tmp, 'tiny.safetensors');
writeSafetensors(ckpt, stateDict);

test('every tiny weight is imported from its torch name with OIHW -> HWIO conversion; counters ignored', async () => {
  const { model, report } = await importCheckpoint(ckpt, { backbone: 'tiny', inputSize: 32 });
  try {
    assert.deepEqual([report.missing, report.unexpected, report.shapeMismatch], [[], [], []]);
    assert.equal(report.matched.length, model.weights.length);
    assert.equal(report.ignoredBuffers.length, 4);
    for (const layer of model.layers) {
      for (const w of layer.weights) {
        const short = w.originalName.split('/').pop()!;
        const t = stateDict.get(`${layer.name}.${TORCH[short]}`)!;
        const want = t.shape.length === 4 ? tf.transpose(tf.tensor(t.data, t.shape), [2, 3, 1, 0]) : tf.tensor(t.data, t.shape);
        assert.deepEqual(w.shape, want.shape);
        assert.deepEqual(w.read().dataSync(), want.dataSync(), w.originalName);
        want.dispose();
      }
    }
  } finally {
    model.dispose();
  }
});

test('a checkpoint of another architecture is refused, listing what is missing and unexpected; nothing is written', async () => {
  const out = join(tmp, 'wrong');
  await assert.rejects(importToDir(ckpt, out, { backbone: 'resnet18', inputSize: 32 }), (e: unknown) =>
    e instanceof UserError && /does not fit backbone resnet18/.test(e.message) && /layer1\.0\.conv1\.weight/.test(e.message)
    && /unexpected 20/.test(e.message) && /allow-partial/.test(e.message));
  assert.equal(existsSync(out), false);
});

test('allowPartial reports exactly the missing, unexpected and wrong-shape tensors by name', async () => {
  const broken: Tensors = new Map(stateDict);
  broken.delete('block1.bn.running_var');
  broken.set('block2.conv.weight', { shape: [48, 16, 3, 3], data: new Float32Array(48 * 16 * 9) });
  broken.set('extra.weight', { shape: [2], data: new Float32Array(2) });
  const p = join(tmp, 'broken.safetensors');
  writeSafetensors(p, broken);
  await assert.rejects(importCheckpoint(p, { backbone: 'tiny', inputSize: 32 }), UserError);
  const { model, report } = await importCheckpoint(p, { backbone: 'tiny', inputSize: 32, allowPartial: true });
  model.dispose();
  assert.deepEqual(report.missing, [{ weight: 'block1.bn/moving_variance', torch: 'block1.bn.running_var' }]);
  assert.deepEqual(report.unexpected, ['extra.weight']);
  assert.deepEqual(report.shapeMismatch, [{ torch: 'block2.conv.weight', weight: 'block2.conv/kernel', expected: [48, 32, 3, 3], got: [48, 16, 3, 3] }]);
});

test('the written directory loads into a training model: every backbone weight matched, only the head missing', async () => {
  const out = join(tmp, 'out');
  await importToDir(ckpt, out, { backbone: 'tiny', inputSize: 32 });
  assert.ok(existsSync(join(out, 'import-report.json')));
  const model = buildModel({ backbone: { name: 'tiny' }, head: { pool: 'avg', hidden: 0, dropout: 0 }, inputSize: 48, levels: [{ name: 'species', numClasses: 3 }], seed: 5 });
  try {
    const r = await loadBackboneWeights(model, out);
    assert.equal(r.matched.length, source.weights.length);
    assert.deepEqual(r.unexpected, []);
    assert.deepEqual(r.shapeMismatch, []);
    assert.deepEqual(r.missing.sort(), ['logits_species/bias', 'logits_species/kernel']);
    const conv = model.getLayer('block0.conv').getWeights()[0].dataSync();
    assert.deepEqual(conv, source.getLayer('block0.conv').getWeights()[0].dataSync());
  } finally {
    model.dispose();
  }
});

test('resolveWeights: a checkpoint file is imported once into a cache keyed by content; a model directory is used as is', async () => {
  const cache = join(tmp, 'cache');
  const dir = await resolveWeights(ckpt, 'tiny', cache);
  assert.ok(dir.startsWith(join(cache, 'weights')) && existsSync(join(dir, 'model.json')));
  const mtime = statSync(join(dir, 'model.json')).mtimeMs;
  const copy = join(tmp, 'copy-of-tiny.safetensors');
  writeFileSync(copy, readFileSync(ckpt));
  assert.equal(await resolveWeights(copy, 'tiny', cache), dir); // same content, same entry
  assert.equal(statSync(join(dir, 'model.json')).mtimeMs, mtime, 'the cached import was redone');
  assert.equal(await resolveWeights(dir, 'tiny', cache), dir);
  mkdirSync(join(tmp, 'empty'));
  await assert.rejects(resolveWeights(join(tmp, 'empty'), 'tiny', cache), /without model\.json/);
  await assert.rejects(resolveWeights(ckpt, 'resnet18', cache), /does not fit backbone resnet18/);
});

test('exp weights import writes the directory, and says what is missing from the command line', async () => {
  const out = join(tmp, 'cli');
  const r = await exp(['weights', 'import', ckpt, '--backbone', 'tiny', '--out', out, '--input-size', '32']);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(existsSync(join(out, 'model.json')));
  assert.match(r.stdout, /matched 20 weights/);
  const noBackbone = await exp(['weights', 'import', ckpt, '--out', out]);
  assert.equal(noBackbone.code, 2);
  assert.match(noBackbone.stderr, /^error: exp weights import needs --backbone NAME/);
  const unknown = await exp(['weights', 'import', ckpt, '--backbone', 'nope', '--out', join(tmp, 'x')]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown backbone 'nope'|no PyTorch name table/);
});

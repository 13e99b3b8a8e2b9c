// Imported weights compute what PyTorch computes: for each backbone with a reference definition
// available here (torchvision resnet18/34/50, mobilenet_v2, efficientnet_b0; the pretrainedmodels
// SE-ResNeXt-50 written out in reference.py), a randomly initialised model (randomised BatchNorm
// statistics too) is saved by python3-torch, imported, and its feature map on the same input must
// match PyTorch's in eval mode (relative error max|a-b| / max|b| < 1e-4). resnet18 also imports its
// classifier and compares logits. The SE backbones (grouped convolutions, squeeze-excitation,
// depthwise convolutions) are compared again on the native backend where its addon is built.
// Skipped, with the reason, where python3-torch is absent.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { tf } from '../../src/model/tf.ts';
import { ensureBackend } from '../../src/model/backend.ts';
import { importCheckpoint } from '../../src/weights/import.ts';
import { loadAddon, unavailableReason } from '../../src/model/kernels/native.ts';

const PYTHON = '/usr/bin/python3';
const SIZE = 64;
const SPECS = ['resnet18:head', 'resnet34', 'resnet50', 'mobilenet_v2', 'efficientnet_b0', 'se_resnext50_32x4d'];

const probe = spawnSync(PYTHON, ['-c', 'import torch, torchvision'], { encoding: 'utf8' });
const skip = probe.status === 0 ? false
  : `python3-torch/python3-torchvision not importable by ${PYTHON} (${(probe.error?.message ?? probe.stderr.trim().split('\n').pop()) || 'unknown'}); `
    + 'install them (apt-get install python3-torch python3-torchvision) to run the PyTorch equivalence tests';
if (skip) process.stdout.write(`# skipping PyTorch equivalence: ${skip}\n`);

let dir = '';
before(async () => {
  if (skip) return;
  await ensureBackend('wasm');
  dir = mkdtempSync(join(tmpdir(), 'exp-weights-eq-'));
  const r = spawnSync(PYTHON, ['test/weights/reference.py', dir, String(SIZE), ...SPECS], { encoding: 'utf8', timeout: 300_000 });
  assert.equal(r.status, 0, `reference.py failed: ${r.stderr}`);
});
after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function readF32(path: string): Float32Array {
  const b = readFileSync(path);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

const nativeSkip = skip || (loadAddon() ? false : `native addon not available: ${unavailableReason}`);
const runs: { spec: string; backend: 'wasm' | 'native' }[] = [...SPECS.map((spec) => ({ spec, backend: 'wasm' as const })),
  { spec: 'efficientnet_b0', backend: 'native' }, { spec: 'se_resnext50_32x4d', backend: 'native' }];

for (const { spec, backend } of runs) {
  const [name, head] = spec.split(':');
  const on = backend === 'wasm' ? '' : ` on ${backend}`;
  test(`${spec}${on}: imported from a PyTorch state dict, ${head ? 'logits' : 'feature map'} equal PyTorch's (rel. error < 1e-4)`,
    { skip: backend === 'native' ? nativeSkip : skip }, async (t) => {
    await ensureBackend(backend);
    const base = join(dir, spec.replace(':', '-'));
    const { model, report } = await importCheckpoint(`${base}.pth`, { backbone: name, inputSize: SIZE, includeHead: head === 'head' });
    try {
      assert.deepEqual([report.missing, report.unexpected, report.shapeMismatch], [[], [], []]);
      assert.equal(report.skippedHead.length, head ? 0 : 2);
      const shape = (JSON.parse(readFileSync(`${base}.json`, 'utf8')) as { shape: number[] }).shape;
      const got = tf.tidy(() => {
        const x = tf.tensor4d(readF32(`${base}.input.bin`), [1, 3, SIZE, SIZE]).transpose([0, 2, 3, 1]); // NCHW -> NHWC
        const y = model.predict(x) as tf.Tensor;
        return (y.rank === 4 ? y.transpose([0, 3, 1, 2]) : y).dataSync() as Float32Array; // back to torch's NCHW
      });
      const want = readF32(`${base}.output.bin`);
      assert.equal(got.length, want.length, `output size: torch ${shape}`);
      let maxDiff = 0;
      let maxRef = 0;
      for (let i = 0; i < want.length; i++) {
        maxDiff = Math.max(maxDiff, Math.abs(got[i] - want[i]));
        maxRef = Math.max(maxRef, Math.abs(want[i]));
      }
      assert.ok(maxRef > 0, 'reference output is all zeros');
      t.diagnostic(`${spec}: relative error ${(maxDiff / maxRef).toExponential(2)} over ${want.length} values (torch shape [${shape}])`);
      assert.ok(maxDiff / maxRef < 1e-4, `${spec}: max |tfjs - torch| = ${maxDiff}, max |torch| = ${maxRef}, relative ${maxDiff / maxRef}`);
    } finally {
      model.dispose();
    }
  });
}

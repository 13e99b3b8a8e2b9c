// Registry-driven: every registered backbone carries a weight-name table (its registry entry's
// weightNames), and a checkpoint named the way that table says its reference names modules
// imports completely, classifier included. Adding a backbone adds this test. The reference
// naming of exp's backbones is exp's own layer names (they are named after the reference
// modules), with the classifier under the reference's name (table.head[0]).
// (A second naming such as timm's for SE-ResNeXt goes through toLayer: equivalence.test.ts.)
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { ensureBackend } from '../../src/model/backend.ts';
import { backbones } from '../../src/model/backbones/index.ts';
import { buildImportModel, importCheckpoint } from '../../src/weights/import.ts';
import { permute } from '../../src/weights/tensor.ts';

await ensureBackend('wasm');
const tmp = mkdtempSync(join(tmpdir(), 'exp-weight-names-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const SIZE = 32;
const CLASSES = 3;
const TORCH_PARAM: Record<string, string> = {
  kernel: 'weight', depthwise_kernel: 'weight', bias: 'bias', gamma: 'weight', beta: 'bias',
  moving_mean: 'running_mean', moving_variance: 'running_var',
};
/** exp layout -> torch layout (the importer's conversion, inverted). */
function torchPerm(layerClass: string, weight: string, rank: number): number[] {
  if (rank === 1) return [0];
  if (weight === 'depthwise_kernel') return [2, 3, 0, 1]; // [kh, kw, C, 1] -> [C, 1, kh, kw]
  if (rank === 4) return [3, 2, 0, 1]; // conv [kh, kw, in, out] -> [out, in, kh, kw]
  if (layerClass === 'Dense') return [1, 0]; // [in, out] -> [out, in]
  throw new Error(`${layerClass} ${weight} rank ${rank}`);
}

function writeSafetensors(path: string, tensors: Map<string, { shape: number[]; data: Float32Array }>): void {
  const header: Record<string, unknown> = {};
  let off = 0;
  for (const [name, t] of tensors) {
    header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [off, off + t.data.byteLength] };
    off += t.data.byteLength;
  }
  const h = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(h.byteLength));
  writeFileSync(path, Buffer.concat([len, h, ...[...tensors.values()].map((t) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength))]));
}

for (const { name, value: b } of backbones.list()) {
  const table = b.weightNames;
  test(`backbone ${name}: weight-name table (${table.reference}) imports a checkpoint in its reference naming completely`, async () => {
    assert.ok(table.reference.length > 0 && table.headLayer.length > 0);
    const withHead = table.head.length > 0;
    const source = buildImportModel(name, SIZE, withHead ? { layer: table.headLayer, classes: CLASSES } : undefined);
    const sd = new Map<string, { shape: number[]; data: Float32Array }>();
    let probe: { layer: string; weight: string; data: Float32Array } | undefined;
    try {
      for (const layer of source.layers) {
        const module = layer.name === table.headLayer && withHead ? table.head[0] : layer.name;
        for (const w of layer.weights) {
          const short = w.originalName.slice(w.originalName.lastIndexOf('/') + 1);
          const data = w.read().dataSync() as Float32Array;
          const t = permute(data, w.shape as number[], torchPerm(layer.getClassName(), short, w.shape.length));
          sd.set(`${module}.${TORCH_PARAM[short]}`, t);
          if (!probe && short === 'kernel' && w.shape.length === 4) probe = { layer: layer.name, weight: w.originalName, data: data.slice() };
        }
      }
    } finally {
      source.dispose();
    }
    const file = join(tmp, `${name}.safetensors`);
    writeSafetensors(file, sd);
    sd.clear();
    const { model, report } = await importCheckpoint(file, { backbone: name, inputSize: SIZE, includeHead: withHead });
    try {
      assert.deepEqual([report.missing, report.unexpected, report.shapeMismatch, report.skippedHead], [[], [], [], []]);
      assert.equal(report.matched.length, model.weights.length);
      assert.equal(report.reference, table.reference);
      // converted back to exp's layout, the values are the ones written
      assert.ok(probe);
      const w = model.getLayer(probe.layer).weights.find((x) => x.originalName === probe!.weight)!;
      assert.deepEqual(w.read().dataSync(), probe.data);
    } finally {
      model.dispose();
      rmSync(file, { force: true });
    }
  });
}

// Prediction throughput of the quickstart backbone: images/s through the whole predict path
// (cached images -> batches -> model -> TTA reduction -> .npy + top-5 + metrics), on the sample's
// training images, for TTA 1 and 4. Usage: node --import tsx bench/predict.ts [--backend wasm] [--reps 3]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { ensureBackend, type BackendName } from '../src/model/backend.ts';
import { buildModel } from '../src/model/build.ts';
import { loadDataset } from '../src/data/formats/index.ts';
import { ImageCache, warmCache } from '../src/data/cache.ts';
import { predictSplit } from '../src/stages/predict-core.ts';
import { writeJsonAtomic } from '../src/util/fs.ts';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const backend = arg('backend', 'wasm') as BackendName;
const reps = Number(arg('reps', '3'));
const size = Number(arg('size', '32'));
const resize = Math.round(size * 1.25);

const info = await ensureBackend(backend);
const index = await loadDataset('herbarium', 'data/sample/train', ['species', 'genus', 'family'], 'train');
const rows = Int32Array.from(index.files.keys());
const cacheDir = mkdtempSync(join(tmpdir(), 'exp-bench-predict-'));
await warmCache(index, resize, { dir: cacheDir, rows });
const model = buildModel({
  backbone: { name: 'tiny' }, head: { pool: 'concat', hidden: 0, dropout: 0 }, inputSize: size,
  levels: index.levels.map((l) => ({ name: l.name, numClasses: l.ids.length })), seed: 1,
});
console.log(`machine: ${cpus().length} x ${cpus()[0]?.model}, load average ${loadavg()[0].toFixed(1)}; backend ${info.name}; tiny at ${size} px; ${rows.length} images`);
for (const tta of [1, 4]) {
  const times: number[] = [];
  for (let r = 0; r < reps; r++) {
    const out = mkdtempSync(join(tmpdir(), 'exp-bench-out-'));
    const t0 = performance.now();
    await predictSplit({
      model, subset: { index, rows }, split: 'val', ttaCounts: tta === 1 ? [1] : [1, tta], reduce: 'logits',
      image: { resize, size }, augment: { random_crop: true, hflip: true, vflip: true }, normalize: { mean: [0.9, 0.9, 0.85], std: [0.12, 0.12, 0.13] },
      seed: 1, batchSize: 32, concurrency: 4, onBadImage: 'fail', cache: new ImageCache(resize, { dir: cacheDir }), dtype: 'float32',
      dirFor: (n) => join(out, `tta${n}`),
      writeIndex: (ix) => writeJsonAtomic(join(out, `tta${ix.tta}`, 'index.json'), ix),
    });
    times.push((performance.now() - t0) / 1000);
    rmSync(out, { recursive: true, force: true });
  }
  times.sort((a, b) => a - b);
  const med = times[Math.floor(times.length / 2)];
  console.log(`predict, TTA ${tta}: ${(rows.length / med).toFixed(1)} images/s (${(rows.length * tta / med).toFixed(1)} views/s), median of ${reps}`);
}
rmSync(cacheDir, { recursive: true, force: true });

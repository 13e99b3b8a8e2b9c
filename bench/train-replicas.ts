// Training throughput on the wasm backend with data-parallel replicas (train.replicas, see
// src/train/replicas.ts): exp's own training loop (train()), replicas 1 vs 2 (or --replicas),
// for resnet18 (the backbone registry's) + global average pooling + a 1000-way dense layer at
// 112 px, batch 32, Adam (lr 1e-3), cross-entropy, as bench/train.ts; and the quickstart's tiny
// network and head (3 levels, focal loss) at 32 px, batch 32. Synthetic inputs (no data loading).
// Figures are medians of the wall time between consecutive steps after warm-up steps; CPU time
// covers every thread of the process (the workers' too). Each configuration runs in its own child
// process. Load average is printed before and after: on a shared machine, wall time includes
// waiting for cores.
// Run: node --import tsx bench/train-replicas.ts [--replicas 1,2] [--models resnet18,tiny]
//      [--steps 5] [--warmup 2] [--size 112] [--batch 32] (resnet18) [--tiny-steps 30] [--tiny-warmup 5]
import { spawnSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { resnet18Classifier } from './resnet18.ts';
import { ensureBackend } from '../src/model/backend.ts';
import { buildModel } from '../src/model/build.ts';
import { tf } from '../src/model/tf.ts';
import { train } from '../src/train/loop.ts';
import { Rng } from '../src/util/rng.ts';
import type { LevelInfo, LossSpec } from '../src/model/losses.ts';

const argv = process.argv.slice(2);
const opt = (name: string, dflt: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : dflt;
};
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const load = () => loadavg().map((l) => l.toFixed(2)).join(' ');

interface Setup { size: number; batch: number; steps: number; warmup: number }
const SETUPS: Record<string, Setup> = {
  resnet18: { size: Number(opt('size', '112')), batch: Number(opt('batch', '32')), steps: Number(opt('steps', '5')), warmup: Number(opt('warmup', '2')) },
  tiny: { size: 32, batch: 32, steps: Number(opt('tiny-steps', '30')), warmup: Number(opt('tiny-warmup', '5')) },
};

interface Result { model: string; replicas: number; size: number; batch: number; stepS: number[]; cpuS: number[]; imagesPerS: number; loadBefore: string; loadAfter: string }

function modelFor(name: string, size: number): { model: tf.LayersModel; levels: LevelInfo[]; lossSpec: LossSpec } {
  if (name === 'resnet18') {
    return {
      model: resnet18Classifier(size),
      levels: [{ name: 'species', numClasses: 1000, counts: new Array(1000).fill(1) }],
      lossSpec: { type: 'cross_entropy' },
    };
  }
  if (name === 'tiny') {
    const levels = [{ name: 'species', numClasses: 12 }, { name: 'genus', numClasses: 6 }, { name: 'family', numClasses: 3 }];
    return {
      model: buildModel({ backbone: { name: 'tiny' }, head: { pool: 'concat', hidden: 0, dropout: 0 }, inputSize: size, levels, seed: 1 }),
      levels: levels.map((l) => ({ ...l, counts: new Array(l.numClasses).fill(1) })),
      lossSpec: { type: 'focal', gamma: 2, weights: { species: 1.5, genus: 1, family: 1 } },
    };
  }
  throw new Error(`unknown model ${name} (resnet18, tiny)`);
}

/** Child mode: train one configuration and print a JSON line. */
async function child(name: string, replicas: number): Promise<void> {
  await ensureBackend('wasm');
  const { size, batch, steps, warmup } = SETUPS[name];
  const { model, levels, lossSpec } = modelFor(name, size);
  const rng = new Rng(1, 2);
  const x = Float32Array.from({ length: batch * size * size * 3 }, () => rng.normal());
  const labels = levels.map((l) => Int32Array.from({ length: batch }, () => Math.floor(rng.next() * l.numClasses)));
  const total = warmup + steps;
  const stepS: number[] = [], cpuS: number[] = [];
  const loadBefore = load();
  let t = performance.now(), c = process.cpuUsage();
  await train({
    model, levels, lossSpec, optimizerSpec: { name: 'adam', lr: 1e-3 }, scheduleSpec: { type: 'constant' },
    epochs: 1, stepsPerEpoch: total, replicas,
    batchesFor: function* () {
      for (let i = 0; i < total; i++) yield { x, labels, n: batch };
    },
    onStep: (p) => {
      const now = performance.now(), cu = process.cpuUsage(c);
      if (p.step > warmup) {
        stepS.push((now - t) / 1000);
        cpuS.push((cu.user + cu.system) / 1e6);
      }
      t = performance.now();
      c = process.cpuUsage();
    },
  });
  const r: Result = { model: name, replicas, size, batch, stepS, cpuS, imagesPerS: batch / median(stepS), loadBefore, loadAfter: load() };
  console.log(JSON.stringify(r));
}

async function main(): Promise<void> {
  if (opt('child', '')) return child(opt('child', ''), Number(opt('r', '1')));
  const replicaCounts = opt('replicas', '1,2').split(',').map(Number);
  const models = opt('models', 'resnet18,tiny').split(',');
  console.log(`# wasm training with data-parallel replicas (exp's loop, Adam, synthetic batches); ${cpus().length} cores` +
    ` (${cpus()[0]?.model}); load average before: ${load()}`);
  for (const name of models) {
    let base: number | undefined;
    for (const r of replicaCounts) {
      const p = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', name, '--r', String(r), ...argv],
        { encoding: 'utf8', maxBuffer: 1 << 24 });
      let res: Result;
      try {
        res = JSON.parse(p.stdout.trim().split('\n').pop() ?? '') as Result;
      } catch {
        console.log(`${name} replicas ${r}: failed: ${(p.stderr || p.stdout).trim().split('\n').slice(-3).join(' | ')}`);
        continue;
      }
      base ??= r === 1 ? res.imagesPerS : undefined;
      const speedup = base && r !== 1 ? `  ${(res.imagesPerS / base).toFixed(2)}x replicas 1` : '';
      console.log(`${name.padEnd(8)} ${res.size}px batch ${res.batch}  replicas ${r}: ${res.imagesPerS.toFixed(1).padStart(6)} images/s${speedup}` +
        `  (${res.stepS.length} steps: median ${median(res.stepS).toFixed(3)} s, min ${Math.min(...res.stepS).toFixed(3)}, max ${Math.max(...res.stepS).toFixed(3)};` +
        ` ${(res.batch / median(res.cpuS)).toFixed(1)} images per CPU-second;` +
        ` load ${res.loadBefore} -> ${res.loadAfter})`);
    }
  }
  console.log(`# load average after: ${load()}`);
}

await main();

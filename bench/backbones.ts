// Every backbone of the registry, training and inference throughput on exp's CPU backends against
// PyTorch in the same run. Model: backbone + global average pooling + a 1000-way dense layer
// (bench/resnet18.ts), softmax cross-entropy, exp's Adam (lr 1e-3) as `exp run` steps; PyTorch
// (bench/backbones_peer.py) trains torchvision's resnet18/34/50, mobilenet_v2, efficientnet_b0 and
// SE-ResNeXt-50 32x4d in the pretrainedmodels layout with torch.optim.Adam, same size, batch and
// threads. Inference: eval mode, TTA 4 (batch x 4 images per step, the 4 views' logits averaged per
// example), counted in examples/s; the model part of the predict path (no image decoding).
// Figures: medians of timed steps after warm-up steps (oneDNN creates and JIT-compiles a primitive
// per convolution shape: efficientnet_b0's first two steps take 4-5 s each, its later ones ~0.6 s,
// hence 3 warm-up steps); each backend x backbone x size runs in its own child process, right after PyTorch's
// run of the same backbone; --rounds repeats the
// whole table and prints each round (a shared machine's load moves between rounds).
// --pipeline BACKENDS (e.g. native): also train each backbone through `exp run` itself on the bundled
// sample (experiments/quickstart.yaml with the backbone, size, batch and --pipeline-epochs epochs set;
// data loading, augmentation, the concat head with three levels and the focal loss included) and
// print its steady images/s (the mean of the epochs after the first, from the run's history.jsonl)
// against PyTorch's model-only step.
// Run: npx tsx bench/backbones.ts [--backbones resnet18,se_resnext50_32x4d] [--backends native,wasm]
//      [--sizes 112[,224]] [--batch 16] [--steps 3] [--warmup 3] [--rounds 1] [--threads 2] [--tta 4]
//      [--no-peer] [--no-infer] [--pipeline native [--pipeline-epochs 3]] [--recompute]
// --recompute: exp's training steps (and the pipeline's runs) recompute activations in the backward
// pass (train.recompute); PyTorch's do not.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { cpus, loadavg, tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { ensureBackend } from '../src/model/backend.ts';
import { backbones } from '../src/model/backbones/index.ts';
import { tf } from '../src/model/tf.ts';
import { classifier, expAdamStep } from './resnet18.ts';

const argv = process.argv.slice(2);
const opt = (name: string, dflt: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : dflt;
};
const list = (name: string, dflt: string) => (opt(name, dflt) ?? dflt).split(',').filter((v) => v && !v.startsWith('--'));
const batch = Number(opt('batch', '16')), steps = Number(opt('steps', '3')), warmup = Number(opt('warmup', '3'));
const threads = opt('threads', '2'), tta = Number(opt('tta', '4')), rounds = Number(opt('rounds', '1'));
const noInfer = argv.includes('--no-infer');
const recompute = argv.includes('--recompute');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

interface ChildResult { train: number; infer?: number; stepS: number[]; inferS?: number[]; detail: string }

/** Child mode: one backbone on one backend at one size; prints a JSON line. */
async function child(backend: 'native' | 'wasm', name: string, size: number): Promise<void> {
  const info = await ensureBackend(backend);
  const model = classifier(name, size);
  const x = tf.randomNormal([batch, size, size, 3], 0, 1, 'float32', 1);
  const y = tf.oneHot(tf.randomUniform([batch], 0, 1000, 'int32', 2) as tf.Tensor1D, 1000);
  const { step, dispose } = expAdamStep(model, x, y, recompute);
  const stepS: number[] = [];
  for (let i = 0; i < warmup + steps; i++) {
    const t0 = performance.now();
    step();
    if (i >= warmup) stepS.push((performance.now() - t0) / 1000);
  }
  dispose();
  tf.dispose([x, y]);
  const r: ChildResult = { train: batch / median(stepS), stepS, detail: info.version };
  if (!noInfer) {
    const xi = tf.randomNormal([batch * tta, size, size, 3], 0, 1, 'float32', 3);
    const inferS: number[] = [];
    for (let i = 0; i < warmup + steps; i++) {
      const t0 = performance.now();
      const out = tf.tidy(() => tf.mean(tf.reshape(model.predict(xi) as tf.Tensor, [batch, tta, -1]), 1));
      out.dataSync();
      out.dispose();
      if (i >= warmup) inferS.push((performance.now() - t0) / 1000);
    }
    xi.dispose();
    r.infer = batch / median(inferS);
    r.inferS = inferS;
  }
  console.log(JSON.stringify(r));
}

/** glibc's mmap threshold raised for the peer and our children alike (bench/train.ts says why). */
const MALLOC = { MALLOC_MMAP_THRESHOLD_: String(256 << 20), MALLOC_TRIM_THRESHOLD_: String(1 << 30) };

function lastJson(stdout: string): unknown {
  return JSON.parse(stdout.trim().split('\n').pop() ?? '');
}

function runChild(backend: string, name: string, size: number): ChildResult | string {
  const r = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', backend,
    '--backbone', name, '--size', String(size), ...argv],
  { encoding: 'utf8', env: { ...process.env, ...MALLOC, OMP_NUM_THREADS: threads }, maxBuffer: 1 << 24 });
  try {
    return lastJson(r.stdout) as ChildResult;
  } catch {
    return `failed: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ')}`;
  }
}

/** exp run on the bundled sample with this backbone: steady training images/s, or why not. */
function runPipeline(backend: string, name: string, size: number): number | string {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const runsDir = mkdtempSync(join(tmpdir(), 'exp-bench-pipeline-'));
  const epochs = Number(opt('pipeline-epochs', '3'));
  try {
    const r = spawnSync(process.execPath, [join(root, 'bin', 'exp.js'), 'run', join(root, 'experiments', 'quickstart.yaml'),
      '--backend', backend, '--runs-dir', runsDir, '--quiet',
      '--set', `model.backbone.name=${name}`, '--set', `data.image.size=${size}`,
      '--set', `data.image.resize=${Math.round(size * 8 / 7)}`, '--set', `train.batch_size=${batch}`,
      '--set', `train.epochs=${epochs}`, '--set', `schedule.milestones=[${epochs}]`, '--set', 'tta.count=1',
      '--set', 'outputs.predictions=[val]', '--set', 'outputs.submission=false',
      ...(recompute ? ['--set', 'train.recompute=true'] : [])],
    { encoding: 'utf8', cwd: root, env: { ...process.env, ...MALLOC, OMP_NUM_THREADS: threads }, maxBuffer: 1 << 24 });
    if (r.status !== 0) return `failed: ${(r.stderr || r.stdout).trim().split('\n').slice(-2).join(' | ')}`;
    const run = readdirSync(runsDir).find((d) => existsSync(join(runsDir, d, 'history.jsonl')));
    if (!run) return 'failed: no run record with a history.jsonl';
    const rows = readFileSync(join(runsDir, run, 'history.jsonl'), 'utf8').trim().split('\n')
      .map((l) => JSON.parse(l) as { epoch: number; images_per_s: number });
    const steady = rows.filter((row) => row.epoch > 1); // (1-based) the first creates oneDNN's primitives
    if (!steady.length) return 'failed: no epoch after the first (--pipeline-epochs 2 or more)';
    return steady.reduce((a, row) => a + row.images_per_s, 0) / steady.length;
  } finally {
    rmSync(runsDir, { recursive: true, force: true });
  }
}

interface Peer { backbone: string; train_images_per_s?: number; infer_examples_per_s?: number; skipped?: string; torch?: string }

function peer(names: string[], size: number): Map<string, Peer> | string {
  if (argv.includes('--no-peer')) return 'skipped (--no-peer)';
  const py = process.env.EXP_PYTHON ?? '/usr/bin/python3';
  const r = spawnSync(py, [fileURLToPath(new URL('./backbones_peer.py', import.meta.url)), '--backbones', names.join(','),
    '--size', String(size), '--batch', String(batch), '--threads', threads, '--steps', String(steps),
    '--warmup', String(warmup), '--tta', String(tta), ...(noInfer ? ['--no-infer'] : [])],
  { encoding: 'utf8', env: { ...process.env, ...MALLOC }, maxBuffer: 1 << 24 });
  if (r.error) return `skipped: ${r.error.message}`;
  const rows = r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Peer);
  if (rows.length === 1 && rows[0].skipped && !rows[0].backbone) return `skipped: ${rows[0].skipped}`;
  if (r.status !== 0) return `failed: ${r.stderr.trim().split('\n').pop()}`;
  return new Map(rows.map((p) => [p.backbone, p]));
}

const fmt = (v: number | undefined, w = 7) => (v === undefined ? '-' : v.toFixed(1)).padStart(w);
const ratio = (a: number | undefined, b: number | undefined) => (a && b ? `${(a / b).toFixed(2)}x` : '-').padStart(6);

async function main(): Promise<void> {
  const mode = opt('child', '');
  if (mode) return child(mode as 'native' | 'wasm', opt('backbone', 'resnet18'), Number(opt('size', '112')));
  const names = list('backbones', backbones.names().filter((n) => n !== 'tiny').join(','));
  for (const n of names) backbones.get(n); // unknown names list the choices
  const wanted = list('backends', 'native,wasm');
  const pipelines = list('pipeline', '');
  const sizes = list('sizes', '112').map(Number);
  for (let round = 1; round <= rounds; round++) {
    for (const size of sizes) {
      console.log(`# round ${round}/${rounds}: ${size}px batch ${batch}, exp's Adam / torch.optim.Adam, ${steps} steps after ${warmup} warm-up,` +
        ` inference TTA ${tta} (examples/s); ${threads} threads; ${cpus().length} cores (${cpus()[0]?.model}),` +
        ` load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
      const head = ['backbone'.padEnd(20), 'torch train'.padStart(11), ...wanted.flatMap((b) => [`${b} train`.padStart(13), 'ratio'.padStart(6)]),
        'torch infer'.padStart(11), ...wanted.flatMap((b) => [`${b} infer`.padStart(13), 'ratio'.padStart(6)]),
        ...pipelines.flatMap((b) => [`exp run ${b}`.padStart(15), 'ratio'.padStart(6)])];
      console.log(head.join(' '));
      for (const name of names) {
        // PyTorch right before exp's children for the same backbone: a shared machine's load drifts
        const p = peer([name], size);
        if (typeof p === 'string') console.log(`# pytorch ${p}`);
        const ref = typeof p === 'string' ? undefined : p.get(name);
        const results = wanted.map((b) => runChild(b, name, size));
        const cells = [name.padEnd(20), fmt(ref?.train_images_per_s, 11)];
        for (const r of results) cells.push(typeof r === 'string' ? r : `${fmt(r.train, 13)} ${ratio(r.train, ref?.train_images_per_s)}`);
        cells.push(fmt(ref?.infer_examples_per_s, 11));
        for (const r of results) cells.push(typeof r === 'string' ? '-' : `${fmt(r.infer, 13)} ${ratio(r.infer, ref?.infer_examples_per_s)}`);
        for (const b of pipelines) {
          const r = runPipeline(b, name, size);
          cells.push(typeof r === 'string' ? r : `${fmt(r, 15)} ${ratio(r, ref?.train_images_per_s)}`);
        }
        console.log(cells.join(' '));
      }
    }
  }
  console.log(`# load average at the end ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
}

await main();

// Training throughput: resnet18 (the backbone registry's, i.e. torchvision's architecture in NHWC)
// + global average pooling + a 1000-way dense layer, softmax cross-entropy, Adam (lr 1e-3), at
// 112 px and batch 32, on each available backend (native, wasm; cpu, opt-in, at 32 px batch 4), against
// PyTorch (Debian's python3-torch, torchvision resnet18, same batch, size, optimizer and threads)
// in the same run, printing the ratios. Then kernel GFLOP/s (oneDNN vs wasm) against the machine's
// GEMM rate (numpy/OpenBLAS 2048^3 float32). Figures are medians of timed steps after warm-up
// steps (which include oneDNN's primitive creation). Each backend runs in its own child process.
// Run: npx tsx bench/train.ts [--steps 5] [--warmup 2] [--size 112] [--batch 32] [--threads 2]
//      [--backends native,wasm,wasm-replicas[,cpu]] [--no-peer] [--no-kernels] [--binary-min N]
// (wasm-replicas: wasm with train.replicas = --threads, data-parallel worker threads, exp's loop)
// (--binary-min: output size from which native runs element-wise ops in the addon; 1e12 = never, for A/B)
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { ensureBackend } from '../src/model/backend.ts';
import { setBinaryMinElements } from '../src/model/kernels/native.ts';
import { tf } from '../src/model/tf.ts';
import { resnet18Classifier } from './resnet18.ts';
import { train } from '../src/train/loop.ts';
import { Rng } from '../src/util/rng.ts';

const argv = process.argv.slice(2);
const opt = (name: string, dflt: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : dflt;
};
const size = Number(opt('size', '112')), batch = Number(opt('batch', '32'));
const steps = Number(opt('steps', '5')), warmup = Number(opt('warmup', '2'));
const threads = opt('threads', '2');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

interface Result { backend: string; size: number; batch: number; stepS: number[]; cpuS: number[]; imagesPerS: number; detail: string }

/**
 * Child mode, `wasm-replicas`: wasm with one data-parallel replica per thread (train.replicas), so it
 * uses as many cores as PyTorch's threads. Runs exp's own loop (the replicas live there) with the
 * same model, batch, loss (softmax cross-entropy) and optimizer.
 */
async function childReplicas(sz: number, bs: number): Promise<void> {
  const info = await ensureBackend('wasm');
  const model = resnet18Classifier(sz);
  const rng = new Rng(1, 2);
  const x = Float32Array.from({ length: bs * sz * sz * 3 }, () => rng.normal());
  const labels = [Int32Array.from({ length: bs }, () => Math.floor(rng.next() * 1000))];
  const stepS: number[] = [], cpuS: number[] = [];
  let t = performance.now(), c = process.cpuUsage();
  await train({
    model, levels: [{ name: 'species', numClasses: 1000, counts: new Array(1000).fill(1) }],
    lossSpec: { type: 'cross_entropy' }, optimizerSpec: { name: 'adam', lr: 1e-3 }, scheduleSpec: { type: 'constant' },
    epochs: 1, stepsPerEpoch: warmup + steps, replicas: Number(threads),
    batchesFor: function* () {
      for (let i = 0; i < warmup + steps; i++) yield { x, labels, n: bs };
    },
    onStep: (p) => {
      const cu = process.cpuUsage(c); // every thread of the process: the workers' too
      if (p.step > warmup) {
        stepS.push((performance.now() - t) / 1000);
        cpuS.push((cu.user + cu.system) / 1e6);
      }
      t = performance.now();
      c = process.cpuUsage();
    },
  });
  const r: Result = { backend: 'wasm-replicas', size: sz, batch: bs, stepS, cpuS, imagesPerS: bs / median(stepS), detail: `${info.version}, ${threads} replicas` };
  console.log(JSON.stringify(r));
}

/** Child mode: train on one backend and print a JSON line. */
async function child(backend: 'native' | 'wasm' | 'cpu', sz: number, bs: number): Promise<void> {
  const info = await ensureBackend(backend);
  if (argv.includes('--binary-min')) setBinaryMinElements(Number(opt('binary-min', '65536')));
  const model = resnet18Classifier(sz);
  const optimizer = tf.train.adam(1e-3);
  const x = tf.randomNormal([bs, sz, sz, 3], 0, 1, 'float32', 1);
  const y = tf.oneHot(tf.randomUniform([bs], 0, 1000, 'int32', 2) as tf.Tensor1D, 1000);
  const stepS: number[] = [], cpuS: number[] = [];
  const n = backend === 'cpu' ? 1 : steps, w = backend === 'cpu' ? 1 : warmup;
  for (let i = 0; i < w + n; i++) {
    const t0 = performance.now(), c0 = process.cpuUsage();
    const cost = optimizer.minimize(() => tf.losses.softmaxCrossEntropy(y,
      model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar, true);
    cost!.dataSync();
    cost!.dispose();
    const c = process.cpuUsage(c0); // every thread of the process: OpenMP's too
    if (i >= w) {
      stepS.push((performance.now() - t0) / 1000);
      cpuS.push((c.user + c.system) / 1e6);
    }
  }
  const r: Result = { backend, size: sz, batch: bs, stepS, cpuS, imagesPerS: bs / median(stepS), detail: `${info.version}` };
  console.log(JSON.stringify(r));
}

/** Child mode: conv/matmul kernel GFLOP/s on one backend. */
async function kernels(backend: 'native' | 'wasm'): Promise<void> {
  await ensureBackend(backend);
  const time = (f: () => tf.Tensor) => {
    const ts: number[] = [];
    for (let i = 0; i < 4; i++) {
      const t0 = performance.now();
      const o = f();
      ts.push((performance.now() - t0) / 1000);
      o.dispose();
    }
    return median(ts.slice(1));
  };
  const rows: Record<string, number> = {};
  for (const [n, h, ci, co, s] of [[32, 56, 64, 64, 1], [32, 28, 128, 256, 2]]) {
    const x = tf.randomNormal([n, h, h, ci]) as tf.Tensor4D, w = tf.randomNormal([3, 3, ci, co]) as tf.Tensor4D;
    const yv = tf.conv2d(x, w, s, 'same'), dy = tf.randomNormal(yv.shape);
    const flop = 2 * yv.size * 9 * ci;
    const attrs = { strides: s, pad: 'same', dataFormat: 'NHWC' } as unknown as tf.NamedAttrMap;
    const label = `${n}x${h}x${h}x${ci}->${co} 3x3/${s}`;
    rows[`conv forward ${label}`] = flop / time(() => tf.conv2d(x, w, s, 'same')) / 1e9;
    rows[`conv backprop input ${label}`] = flop / time(() => tf.engine().runKernel('Conv2DBackpropInput',
      { dy, filter: w }, { ...attrs, inputShape: x.shape }) as tf.Tensor) / 1e9;
    rows[`conv backprop filter ${label}`] = flop / time(() => tf.engine().runKernel('Conv2DBackpropFilter',
      { x, dy }, { ...attrs, filterShape: w.shape }) as tf.Tensor) / 1e9;
    tf.dispose([x, w, yv, dy]);
  }
  const a = tf.randomNormal([1024, 1024]), b = tf.randomNormal([1024, 1024]);
  rows['matMul 1024^3'] = 2 * 1024 ** 3 / time(() => tf.matMul(a, b)) / 1e9;
  rows['matMul 1024^3 transposeA'] = 2 * 1024 ** 3 / time(() => tf.matMul(a, b, true, false)) / 1e9;
  // element-wise ops of the batch-norm/ReLU gradients (1 FLOP per element), above and below the
  // size from which native.ts sends them to the addon
  for (const shape of [[32, 56, 56, 64], [32, 7, 7, 256], [8, 8, 8, 64]]) {
    const u = tf.randomNormal(shape), v = tf.randomNormal(shape), c = tf.randomNormal([shape[3]]), s = tf.scalar(3);
    const label = shape.join('x');
    rows[`mul ${label}`] = u.size / time(() => tf.mul(u, v)) / 1e9;
    rows[`mul ${label} by [C]`] = u.size / time(() => tf.mul(u, c)) / 1e9;
    rows[`div ${label} by scalar`] = u.size / time(() => tf.div(u, s)) / 1e9;
    tf.dispose([u, v, c, s]);
  }
  console.log(JSON.stringify({ backend, rows }));
}

/**
 * glibc's mmap threshold raised, for the peer and our children alike: PyTorch allocates its
 * activations afresh every step, and on this VM fresh pages cost so much that without it PyTorch
 * trained at 33-39 images/s instead of ~58. (exp's tensors live on the wasm heap, allocated once.)
 */
const MALLOC = { MALLOC_MMAP_THRESHOLD_: String(256 << 20), MALLOC_TRIM_THRESHOLD_: String(1 << 30) };

function runChild(args: string[]): Record<string, unknown> | string {
  const r = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), ...args],
    { encoding: 'utf8', env: { ...process.env, ...MALLOC, OMP_NUM_THREADS: threads }, maxBuffer: 1 << 24 });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return `failed: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ')}`;
  }
}

function python(): string | undefined {
  for (const p of [process.env.EXP_PYTHON, '/usr/bin/python3', 'python3']) {
    if (!p) continue;
    const r = spawnSync(p, ['-c', 'import torch, torchvision'], { encoding: 'utf8' });
    if (r.status === 0) return p;
  }
  return undefined;
}

async function main(): Promise<void> {
  const mode = opt('child', '');
  if (mode === 'train' && opt('backend', 'wasm') === 'wasm-replicas') return childReplicas(size, batch);
  if (mode === 'train') return child(opt('backend', 'wasm') as 'wasm', size, batch);
  if (mode === 'kernels') return kernels(opt('backend', 'wasm') as 'wasm');

  const nativeBuilt = existsSync(fileURLToPath(new URL('../build/Release/exp_native.node', import.meta.url)));
  const wanted = opt('backends', 'native,wasm,wasm-replicas').split(',');
  console.log(`# training throughput: resnet18 ${size}px batch ${batch} Adam, ${steps} steps after ${warmup} warm-up;` +
    ` ${cpus().length} cores (${cpus()[0]?.model}), load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  const py = argv.includes('--no-peer') ? undefined : python();
  let peer: Record<string, unknown> | undefined;
  if (py) {
    const r = spawnSync(py, [fileURLToPath(new URL('./train_peer.py', import.meta.url)), '--size', String(size),
      '--batch', String(batch), '--threads', threads, '--steps', String(steps), '--warmup', String(warmup)],
    { encoding: 'utf8', env: { ...process.env, ...MALLOC } });
    try {
      peer = JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as Record<string, unknown>;
    } catch {
      console.log(`pytorch  failed: ${r.stderr.trim().split('\n').pop()}`);
    }
    if (peer?.train_images_per_s) {
      console.log(`pytorch  ${(peer.train_images_per_s as number).toFixed(1).padStart(6)} images/s train,` +
        ` ${(peer.forward_images_per_s as number).toFixed(1)} forward (torch ${peer.torch}, ${peer.threads} threads;` +
        ` ${(batch / median((peer.cpu_s as number[] | undefined) ?? [NaN])).toFixed(2)} train images per CPU-second)`);
    } else if (peer?.skipped) console.log(`pytorch  skipped: ${peer.skipped}`);
  } else if (argv.includes('--no-peer')) {
    console.log('pytorch  skipped (--no-peer)');
  } else {
    console.log('pytorch  skipped: python3 with torch and torchvision not found (apt-get install python3-torch python3-torchvision)');
  }
  const ref = peer?.train_images_per_s as number | undefined;
  // on a shared machine wall time includes waiting for cores; CPU time per image is steadier
  const refCpu = peer?.cpu_s ? batch / median(peer.cpu_s as number[]) : undefined;
  const cpuRatio = (r: Result) => refCpu && r.size === size && r.batch === batch
    ? `, ${(r.batch / median(r.cpuS) / refCpu).toFixed(2)}x pytorch's` : '';
  for (const backend of wanted) {
    if (backend === 'native' && !nativeBuilt) {
      console.log('native   skipped: addon not built (apt-get install libdnnl-dev && npm rebuild)');
      continue;
    }
    // the pure-JS reference at a tiny size only: at 112 px a step takes many minutes
    const args = ['--child', 'train', '--backend', backend, '--steps', String(steps), '--warmup', String(warmup),
      '--size', backend === 'cpu' ? '32' : String(size), '--batch', backend === 'cpu' ? '4' : String(batch),
      ...(argv.includes('--binary-min') ? ['--binary-min', opt('binary-min', '65536')] : [])];
    const r = runChild(args);
    if (typeof r === 'string') {
      console.log(`${backend.padEnd(13)} ${r}`);
      continue;
    }
    const res = r as unknown as Result;
    const ratio = ref && res.size === size && res.batch === batch ? `  ${(res.imagesPerS / ref).toFixed(2)}x pytorch` : '';
    console.log(`${backend.padEnd(13)} ${res.imagesPerS.toFixed(1).padStart(6)} images/s train at ${res.size}px batch ${res.batch}` +
      `${ratio}  (median of ${res.stepS.map((s) => s.toFixed(2)).join(', ')} s/step;` +
      ` ${(res.batch / median(res.cpuS)).toFixed(2)} images per CPU-second${cpuRatio(res)})`);
  }
  if (argv.includes('--no-kernels')) return;
  const gemm = peer?.gemm_gflops as number | undefined
    ?? (py ? (JSON.parse(spawnSync(py, [fileURLToPath(new URL('./train_peer.py', import.meta.url)), '--gemm-only'],
      { encoding: 'utf8' }).stdout || '{}') as { gemm_gflops?: number }).gemm_gflops : undefined);
  console.log(`# kernels, GFLOP/s${gemm ? `; machine GEMM rate (numpy 2048^3 float32): ${gemm.toFixed(0)} GFLOP/s` : ''}`);
  for (const backend of ['native', 'wasm'].filter((b) => wanted.includes(b) && (b !== 'native' || nativeBuilt))) {
    const r = runChild(['--child', 'kernels', '--backend', backend]);
    if (typeof r === 'string') {
      console.log(`${backend.padEnd(8)} ${r}`);
      continue;
    }
    for (const [what, rate] of Object.entries(r.rows as Record<string, number>)) {
      console.log(`${backend.padEnd(8)} ${what.padEnd(46)} ${rate.toFixed(1).padStart(6)}${gemm ? `  ${(rate / gemm * 100).toFixed(0).padStart(3)}% of GEMM` : ''}`);
    }
  }
  console.log(`# load average after: ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
}

await main();

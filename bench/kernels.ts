// Kernel throughput in GFLOP/s: convolution forward and both gradients for a ResNet-style 3x3 layer
// (32x56x56x64 -> 64, and the stride-2 64 -> 128 downsampling variant), and a 1024^3 matMul, on
// wasm (ours and, for Conv2DBackpropInput, wasm's own kernel that ours replaces) and, at a smaller
// size, on cpu. Run: npx tsx bench/kernels.ts [--reps N] [--wasm-only]
import { performance } from 'node:perf_hooks';
import { ensureBackend } from '../src/model/backend.ts';
import { replacedWasmKernels } from '../src/model/kernels/index.ts';
import { tf } from '../src/model/tf.ts';

const reps = Number(process.argv[process.argv.indexOf('--reps') + 1]) || 3;

interface Conv { n: number; h: number; ci: number; co: number; k: number; s: number }

/** Median wall and CPU seconds of `reps` runs after one warm-up. Everything here runs on one
 * thread, so CPU time is the figure to trust on a busy machine (wall time includes waiting). */
function time(f: () => tf.Tensor): [number, number] {
  const runs: [number, number][] = [];
  for (let i = 0; i <= reps; i++) {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    const out = f();
    out.dataSync();
    const c = process.cpuUsage(c0);
    const dt = (performance.now() - t0) / 1000;
    out.dispose();
    if (i > 0) runs.push([dt, (c.user + c.system) / 1e6]);
  }
  const mid = (k: 0 | 1) => runs.map((r) => r[k]).sort((a, b) => a - b)[Math.floor(runs.length / 2)];
  return [mid(0), mid(1)];
}

function fmt(backend: string, what: string, size: string, flop: number, [wall, cpu]: [number, number]): string {
  const rate = (s: number) => (flop / s / 1e9).toFixed(flop / s < 1e9 ? 3 : 1).padStart(6);
  return `${backend.padEnd(5)} ${what.padEnd(28)} ${size.padEnd(26)} ${rate(cpu)} GFLOP/s per CPU-s` +
    ` ${rate(wall)} GFLOP/s wall ${(wall * 1000).toFixed(0).padStart(6)} ms`;
}

function convRows(backend: string, c: Conv): string[] {
  const x = tf.randomNormal([c.n, c.h, c.h, c.ci]) as tf.Tensor4D;
  const w = tf.randomNormal([c.k, c.k, c.ci, c.co]) as tf.Tensor4D;
  const y = tf.conv2d(x, w, c.s, 'same');
  const dy = tf.randomNormal(y.shape);
  const flop = 2 * y.size * c.k * c.k * c.ci;
  const attrs = { strides: c.s, pad: 'same', dataFormat: 'NHWC', dimRoundingMode: undefined };
  const run = (name: string, inputs: tf.NamedTensorMap, extra: object) => () =>
    tf.engine().runKernel(name, inputs, { ...attrs, ...extra } as unknown as tf.NamedAttrMap) as tf.Tensor;
  const label = `${c.n}x${c.h}x${c.h}x${c.ci} -> ${c.co} ${c.k}x${c.k}/${c.s}`;
  const row = (what: string, t: [number, number]) => fmt(backend, what, label, flop, t);
  const rows = [
    row('conv2d forward', time(() => tf.conv2d(x, w, c.s, 'same'))),
    row('Conv2DBackpropFilter', time(run('Conv2DBackpropFilter', { x, dy }, { filterShape: w.shape }))),
    row('Conv2DBackpropInput', time(run('Conv2DBackpropInput', { dy, filter: w }, { inputShape: x.shape }))),
  ];
  const original = replacedWasmKernels.get('Conv2DBackpropInput');
  if (backend === 'wasm' && original) {
    // wasm's own kernel, for comparison: register it briefly under its name, then restore ours
    const ours = tf.getKernel('Conv2DBackpropInput', 'wasm')!;
    tf.unregisterKernel('Conv2DBackpropInput', 'wasm');
    tf.registerKernel(original);
    rows.push(row("Conv2DBackpropInput (wasm's)", time(run('Conv2DBackpropInput', { dy, filter: w }, { inputShape: x.shape }))));
    tf.unregisterKernel('Conv2DBackpropInput', 'wasm');
    tf.registerKernel(ours);
  }
  tf.dispose([x, w, y, dy]);
  return rows;
}

function matmulRow(backend: string, n: number): string {
  const a = tf.randomNormal([n, n]) as tf.Tensor2D;
  const b = tf.randomNormal([n, n]) as tf.Tensor2D;
  const t = time(() => tf.matMul(a, b));
  tf.dispose([a, b]);
  return fmt(backend, 'matMul', `${n}x${n}x${n}`, 2 * n ** 3, t);
}

const only = process.argv.includes('--wasm-only');
const wasm = await ensureBackend('wasm');
console.log(`# ${wasm.version}: ${wasm.detail}; median of ${reps} runs`);
for (const c of [{ n: 32, h: 56, ci: 64, co: 64, k: 3, s: 1 }, { n: 32, h: 56, ci: 64, co: 128, k: 3, s: 2 }]) {
  for (const r of convRows('wasm', c)) console.log(r);
}
console.log(matmulRow('wasm', 1024));
if (only) process.exit(0);
await ensureBackend('cpu');
for (const r of convRows('cpu', { n: 1, h: 14, ci: 32, co: 32, k: 3, s: 1 })) console.log(r);
console.log(matmulRow('cpu', 256));

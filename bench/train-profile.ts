// Where a training step's time goes: the model and step of bench/train.ts (a registry backbone,
// resnet18 by default, + global average pooling + 1000-way dense, softmax cross-entropy, exp's Adam as `exp run` steps) on one backend, one step under
// tf.profile after warm-up steps, kernels summed by name (calls, ms, share of the step). Kernel
// times are tfjs' own per-kernel timer (wall time around each kernel); what is left of the step
// is tfjs' bookkeeping (tape, tidy, gradient graph) and JS glue.
// Run: npx tsx bench/train-profile.ts [--backbone resnet18] [--backend native] [--size 112] [--batch 32]
//      [--warmup 2] [--top 25] [--stacks Identity,Cast] [--by-shape] [--slowest] [--composite]
// (--composite: without exp's grouped-convolution kernels, i.e. the split/conv/concat graph, for A/B;
//  --infer N: profile inference instead, eval mode on batch x N images as bench/backbones.ts's TTA)
// (--stacks: who calls those kernels, by call site; --by-shape: also sum by kernel and output shape)
import { performance } from 'node:perf_hooks';
import { classifier, expAdamStep } from './resnet18.ts';
import { ensureBackend } from '../src/model/backend.ts';
import { GROUP_CONV, GROUP_CONV_BACKPROP_FILTER, GROUP_CONV_BACKPROP_INPUT } from '../src/model/kernels/group-conv.ts';
import { tf } from '../src/model/tf.ts';

const argv = process.argv.slice(2);
const opt = (name: string, dflt: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : dflt;
};
const backend = opt('backend', 'native') as 'native' | 'wasm';
const size = Number(opt('size', '112')), batch = Number(opt('batch', '32'));
const warmup = Number(opt('warmup', '2')), top = Number(opt('top', '25'));
const stacks = opt('stacks', '').split(',').filter(Boolean);
const backbone = opt('backbone', 'resnet18');

const info = await ensureBackend(backend);
if (argv.includes('--composite')) {
  for (const k of [GROUP_CONV, GROUP_CONV_BACKPROP_INPUT, GROUP_CONV_BACKPROP_FILTER]) {
    if (tf.getKernel(k, 'wasm')) tf.unregisterKernel(k, 'wasm');
  }
}
const model = classifier(backbone, size);
const x = tf.randomNormal([batch, size, size, 3], 0, 1, 'float32', 1);
const y = tf.oneHot(tf.randomUniform([batch], 0, 1000, 'int32', 2) as tf.Tensor1D, 1000);
const infer = Number(opt('infer', '0'));
const xi = infer ? tf.randomNormal([batch * infer, size, size, 3], 0, 1, 'float32', 3) : undefined;
const step = infer
  ? () => {
    const out = tf.tidy(() => tf.mean(tf.reshape(model.predict(xi!) as tf.Tensor, [batch, infer, -1]), 1));
    out.dataSync();
    out.dispose();
  }
  : expAdamStep(model, x, y).step;

const plain: number[] = [];
for (let i = 0; i < warmup; i++) {
  const t0 = performance.now();
  step();
  plain.push(performance.now() - t0);
}

// optional: count call sites of some kernels (the first stack frame outside tfjs' engine)
const sites = new Map<string, number>();
const wrapped: tf.KernelConfig[] = [];
for (const name of stacks) {
  const k = tf.getKernel(name, 'wasm');
  if (!k) continue;
  wrapped.push(k);
  tf.unregisterKernel(name, 'wasm');
  tf.registerKernel({ ...k, kernelFunc: (args) => {
    const frames = (new Error().stack ?? '').split('\n').slice(2)
      .filter((l) => !/tfjs-core\/(dist|src)\/(engine|tensor|ops\/operation|globals|tape|profiler)|train-profile|node:internal/.test(l))
      .slice(0, 3).map((l) => l.trim().replace(/^at /, '').replace(/\(.*node_modules\/@tensorflow\//, '(').replace(/\?[^:]*/, ''));
    const key = `${name} <- ${frames.join(' <- ')}`;
    sites.set(key, (sites.get(key) ?? 0) + 1);
    return k.kernelFunc(args);
  } });
}

const t0 = performance.now();
const profile = await tf.profile(() => step());
const profiledMs = performance.now() - t0;
for (const k of wrapped) {
  tf.unregisterKernel(k.kernelName, 'wasm');
  tf.registerKernel(k);
}
const t1 = performance.now();
step();
const afterMs = performance.now() - t1;

const byName = new Map<string, { calls: number; ms: number; maxMs: number; maxShape: string }>();
let kernelMs = 0;
// An op with a custom gradient (tfjs' fused conv2d, exp's customGrad ops) is profiled as an entry of
// its own, named `<op>__op` or 'unnamed scope', whose time includes the kernels it ran, which have
// their own entries: counting both would count those kernels twice.
const isScope = (name: string) => name.endsWith('__op') || name === 'unnamed scope';
for (const k of profile.kernels) {
  if (isScope(k.name)) continue;
  const ms = k.kernelTimeMs as number;
  kernelMs += ms;
  const e = byName.get(k.name) ?? { calls: 0, ms: 0, maxMs: 0, maxShape: '' };
  e.calls++;
  e.ms += ms;
  if (ms > e.maxMs) {
    e.maxMs = ms;
    e.maxShape = JSON.stringify(k.outputShapes[0] ?? []);
  }
  byName.set(k.name, e);
}
console.log(`# ${info.name} (${info.version}), ${backbone}${argv.includes('--composite') ? ' (composite grouped conv)' : ''}${infer ? ` inference x${infer}` : ''} ${size}px batch ${batch}; steps before profiling: ` +
  `${plain.map((t) => t.toFixed(0)).join(', ')} ms; profiled step ${profiledMs.toFixed(0)} ms, the next ${afterMs.toFixed(0)} ms`);
console.log(`# ${profile.kernels.filter((k) => !isScope(k.name)).length} kernel calls, ${kernelMs.toFixed(0)} ms in kernels, ` +
  `${(profiledMs - kernelMs).toFixed(0)} ms outside them (tape, tidy, JS)`);
console.log(`${'kernel'.padEnd(36)} ${'calls'.padStart(6)} ${'ms'.padStart(8)} ${'%'.padStart(5)}  slowest call`);
for (const [name, e] of [...byName].sort((a, b) => b[1].ms - a[1].ms).slice(0, top)) {
  console.log(`${name.padEnd(36)} ${String(e.calls).padStart(6)} ${e.ms.toFixed(1).padStart(8)} ` +
    `${(e.ms / profiledMs * 100).toFixed(1).padStart(5)}  ${e.maxMs.toFixed(1)} ms ${e.maxShape}`);
}
if (argv.includes('--slowest')) {
  // the slowest single calls with their neighbours (what ran just before and after)
  const order = profile.kernels.map((k, i) => [i, k.kernelTimeMs as number] as const).sort((a, b) => b[1] - a[1]).slice(0, 3);
  for (const [i] of order) {
    console.log(`# around call ${i}`);
    for (let j = Math.max(0, i - 4); j <= Math.min(profile.kernels.length - 1, i + 2); j++) {
      const k = profile.kernels[j];
      console.log(`${j === i ? '>' : ' '} ${j} ${k.name} ${(k.kernelTimeMs as number).toFixed(1)} ms ${JSON.stringify(k.inputShapes)} -> ${JSON.stringify(k.outputShapes)} +${k.bytesAdded} bytes`);
    }
  }
}
if (argv.includes('--by-shape')) {
  const byShape = new Map<string, { calls: number; ms: number }>();
  for (const k of profile.kernels) {
    const key = `${k.name} ${JSON.stringify(k.inputShapes)} -> ${JSON.stringify(k.outputShapes[0] ?? [])}`;
    const e = byShape.get(key) ?? { calls: 0, ms: 0 };
    e.calls++;
    e.ms += k.kernelTimeMs as number;
    byShape.set(key, e);
  }
  console.log('# by kernel and shapes (inputs -> output)');
  for (const [key, e] of [...byShape].sort((a, b) => b[1].ms - a[1].ms).slice(0, top)) {
    console.log(`${String(e.calls).padStart(5)} ${e.ms.toFixed(1).padStart(7)} ms  ${key}`);
  }
}
if (sites.size) {
  console.log('# call sites');
  for (const [k, n] of [...sites].sort((a, b) => b[1] - a[1]).slice(0, 30)) console.log(`${String(n).padStart(5)}  ${k}`);
}

#!/usr/bin/env node
// npm run bench [name...]: runs the benchmarks in bench/ one after another (each prints its own
// table and the command behind it). Peers (PyTorch, PIL, numpy) run when Debian's packages are
// installed and are skipped with a reason otherwise. Results go into BENCHMARKS.md by hand, with
// the machine and its load.
import { spawnSync } from 'node:child_process';

const ALL = {
  images: ['bench/images.ts', '3'],
  predict: ['bench/predict.ts'],
  kernels: ['bench/kernels.ts'],
  train: ['bench/train.ts'],
  backbones: ['bench/backbones.ts'],
  replicas: ['bench/train-replicas.ts'],
  npy: ['bench/npy.ts'],
  ensemble: ['bench/ensemble.ts'],
  compare: ['bench/compare.ts', '--runs', '200', '--reps', '3'],
  metadata: ['bench/metadata.ts'],
};
const names = process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(ALL);
let failed = 0;
for (const name of names) {
  const args = ALL[name];
  if (!args) {
    console.error(`unknown benchmark '${name}'. Available: ${Object.keys(ALL).join(', ')}`);
    process.exit(2);
  }
  console.log(`\n## ${name}: node --import tsx ${args.join(' ')}`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', ...args], { stdio: 'inherit' });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);

// `exp ensemble` at scale: two generated member runs of rows x cols float32 logits (default
// 40000 x 16384 = 2.6 GB each), blended end to end by runEnsemble (blend, top-5, metrics,
// index.json, run record) in a child process whose peak RSS is reported; against the machine's
// sequential read rate (dd, through the page cache and with O_DIRECT) and numpy averaging the
// same files with np.load(mmap_mode="r") in blocks (bench/ensemble_peer.py). Cold runs evict the
// members from the page cache first (posix_fadvise DONTNEED); warm runs read them from it.
//
//   node --import tsx bench/ensemble.ts [--rows 40000] [--cols 16384] [--dir /tmp]
//
// Needs /usr/bin/python3 with python3-numpy, and about 4.3 x rows x cols x 4 bytes of free disk.
// Deletes everything it wrote at the end. Prints a markdown table.
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { NpyWriter, writeNpy } from '../src/eval/npy.ts';
import { topK } from '../src/eval/metrics.ts';
import { createRun } from '../src/runs/record.ts';
import { readRun } from '../src/runs/read.ts';
import { runEnsemble } from '../src/stages/run-ensemble.ts';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
}
const MB = 1e6;
const py = '/usr/bin/python3';
const peer = new URL('./ensemble_peer.py', import.meta.url).pathname;
const self = new URL(import.meta.url).pathname;

/** Child mode: one ensemble, then its wall time and peak RSS as JSON on stdout. */
async function child(method: 'logits' | 'probs', out: string, members: string[]): Promise<void> {
  const t0 = performance.now();
  const r = await runEnsemble({ views: members.map((d) => readRun(d)), method, outDir: out, argv: ['bench'], cwdForGit: out });
  const seconds = (performance.now() - t0) / 1000;
  process.stdout.write(JSON.stringify({ seconds, max_rss_kib: process.resourceUsage().maxRSS, dir: r.record.dir, macro_f1: r.metrics.species?.macro_f1 }) + '\n');
}

/** Cheap deterministic logits (xorshift), so generation does not dominate. */
function fill(block: Float32Array, seed: number): void {
  let s = seed | 1;
  for (let i = 0; i < block.length; i++) {
    s ^= s << 13; s ^= s >>> 17; s ^= s << 5;
    block[i] = (s % 10007) / 1000;
  }
}

/** A completed train run whose val predictions are rows x cols generated logits. */
async function member(runsDir: string, seed: number, rows: number, cols: number): Promise<{ dir: string; npy: string }> {
  const record = await createRun({
    runsDir, name: `member${seed}`, experimentText: null, resolvedConfigYaml: `seed: ${seed}\n`, configHash: String(seed).padStart(64, '0'),
    seed, argv: ['bench'], cwdForGit: runsDir,
  });
  const dir = record.predictionsDir('val', 1);
  const npy = join(dir, 'species.npy');
  const blockRows = Math.max(1, Math.floor((32 * 1024 * 1024) / (cols * 4)));
  const block = new Float32Array(blockRows * cols);
  const top = new Int32Array(rows * 5);
  const w = await NpyWriter.open(npy, { dtype: 'float32', cols });
  for (let r = 0; r < rows; r += blockRows) {
    const n = Math.min(blockRows, rows - r);
    const b = block.subarray(0, n * cols);
    fill(b, seed * 7919 + r);
    topK(b, n, cols, 5, top.subarray(r * 5, (r + n) * 5));
    await w.append(b);
  }
  await w.close();
  await writeNpy(join(dir, 'species.top5.npy'), top, { dtype: 'int32', cols: 5 });
  const ids = Array.from({ length: rows }, (_x, i) => i);
  const labels = ids.map((i) => (i * 2654435761) % cols);
  record.writePredictionIndex({
    split: 'val', ids, labels: { species: labels }, classes: { species: Array.from({ length: cols }, (_x, i) => i) },
    tta: 1, reduce: 'logits', dtype: 'float32', scores: 'logits', rows, levels: ['species'],
  });
  record.addPredictions({ split: 'val', tta: 1, reduce: 'logits', default: true });
  record.complete();
  return { dir: record.dir, npy };
}

function sh(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  return `${r.stdout}${r.stderr}`;
}

/** dd's own rate line, converted to MB/s. */
function dd(file: string, direct: boolean): number {
  const out = sh('dd', [`if=${file}`, 'of=/dev/null', 'bs=16M', ...(direct ? ['iflag=direct'] : [])]);
  const m = /(\d+) bytes .* copied, ([\d.]+) s/.exec(out);
  if (!m) throw new Error(`unexpected dd output: ${out}`);
  return Number(m[1]) / Number(m[2]) / MB;
}

async function main(): Promise<void> {
  const rows = Number(arg('rows', '40000'));
  const cols = Number(arg('cols', '16384'));
  const root = mkdtempSync(join(arg('dir', tmpdir()), 'exp-bench-ensemble-'));
  const bytes = rows * cols * 4;
  const load0 = loadavg()[0];
  try {
    const t0 = performance.now();
    const a = await member(join(root, 'runs'), 1, rows, cols);
    const b = await member(join(root, 'runs'), 2, rows, cols);
    const genS = (performance.now() - t0) / 1000;
    const evict = () => sh(py, [peer, 'evict', a.npy, b.npy]);
    const rowsTable: string[][] = [];
    const add = (what: string, cache: string, seconds: number, rss: number | null, note = '') =>
      rowsTable.push([what, cache, seconds.toFixed(1), ((2 * bytes) / MB / seconds).toFixed(0), rss === null ? '' : (rss / 1024).toFixed(0), note]);

    const warmDd = dd(a.npy, false);
    const directDd = dd(a.npy, true);
    const exp = (method: 'logits' | 'probs', cold: boolean) => {
      if (cold) evict();
      const r = JSON.parse(sh(process.execPath, ['--import', 'tsx', self, '--child', method, join(root, 'out'), a.dir, b.dir]).trim().split('\n').pop()!);
      add(`exp ensemble --${method} (blend + top-5 + metrics + record)`, cold ? 'cold' : 'warm', r.seconds, r.max_rss_kib);
      return r.dir as string;
    };
    const numpy = (method: 'logits' | 'probs', cold: boolean) => {
      if (cold) evict();
      const dst = join(root, `numpy-${method}.npy`);
      const blockRows = Math.max(1, Math.floor((32 * 1024 * 1024) / (cols * 4)));
      const r = JSON.parse(sh(py, [peer, 'blend', a.npy, b.npy, dst, String(blockRows), method]));
      add(`numpy ${method} (mmap blocks of ${blockRows} rows + argmax)`, cold ? 'cold' : 'warm', r.seconds, r.max_rss_kib, `numpy ${r.numpy}`);
      rmSync(dst, { force: true });
    };
    const ens = exp('logits', true);
    rmSync(ens, { recursive: true, force: true });
    numpy('logits', true);
    rmSync(exp('logits', false), { recursive: true, force: true });
    numpy('logits', false);
    rmSync(exp('probs', false), { recursive: true, force: true });
    numpy('probs', false);

    const gb = (x: number) => (x / 1e9).toFixed(2);
    console.log(`members: 2 x ${rows} x ${cols} float32 = 2 x ${gb(bytes)} GB; generated in ${genS.toFixed(0)} s; ${cpus().length} CPUs, ${gb(totalmem())} GB RAM, node ${process.version}`);
    console.log(`sequential read (dd bs=16M): ${warmDd.toFixed(0)} MB/s through the page cache, ${directDd.toFixed(0)} MB/s with iflag=direct (device)`);
    console.log(`1-minute load average: ${load0.toFixed(1)} at the start, ${loadavg()[0].toFixed(1)} at the end (other processes share the CPUs and the disk)`);
    console.log('MB/s counts the bytes of both members read; each run also writes one member-sized output.\n');
    console.log('| what | page cache | seconds | MB/s read | peak RSS MiB | note |');
    console.log('|---|---|---:|---:|---:|---|');
    for (const r of rowsTable) console.log(`| ${r.join(' | ')} |`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

if (process.argv.includes('--child')) {
  const i = process.argv.indexOf('--child');
  const [method, out, ...members] = process.argv.slice(i + 1);
  await child(method as 'logits' | 'probs', out, members);
} else {
  await main();
}

// .npy throughput: NpyWriter against numpy's np.save of the same array, and blendFiles against
// numpy averaging the same two files with np.load(mmap_mode="r"), in one run on one machine.
// Also the machine's sequential read rate (dd with O_DIRECT, bypassing the page cache) and the
// read rate through the page cache, as the ceilings a streaming blend can reach.
//
//   node --import tsx bench/npy.ts [--rows 8192] [--cols 32768] [--dir /tmp]
//
// Needs /usr/bin/python3 with python3-numpy for the numpy columns. Prints a markdown table.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { tmpdir, cpus } from 'node:os';
import { NpyWriter } from '../src/eval/npy.ts';
import { blendFiles } from '../src/runs/blend.ts';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
}
const rows = Number(arg('rows', '8192'));
const cols = Number(arg('cols', '32768'));
const dir = mkdtempSync(join(arg('dir', tmpdir()), 'exp-bench-npy-'));
const bytes = rows * cols * 4;
const MB = 1e6;
const blockRows = Math.max(1, Math.floor((32 * 1024 * 1024) / (cols * 4)));
const py = '/usr/bin/python3';
const peer = new URL('./npy_peer.py', import.meta.url).pathname;

/** Cheap deterministic logits (xorshift), so generation does not dominate the timing. */
function fill(block: Float32Array, seed: number): void {
  let s = seed | 1;
  for (let i = 0; i < block.length; i++) {
    s ^= s << 13; s ^= s >>> 17; s ^= s << 5;
    block[i] = (s % 10007) / 1000;
  }
}

async function writeMember(path: string, seed: number): Promise<number> {
  const block = new Float32Array(blockRows * cols);
  let gen = 0;
  const t0 = performance.now();
  const w = await NpyWriter.open(path, { dtype: 'float32', cols });
  for (let r = 0; r < rows; r += blockRows) {
    const n = Math.min(blockRows, rows - r);
    const g0 = performance.now();
    fill(block.subarray(0, n * cols), seed + r);
    gen += performance.now() - g0;
    await w.append(block.subarray(0, n * cols));
  }
  await w.close();
  return (performance.now() - t0 - gen) / 1000; // writing only, generation excluded
}

function python(args: string[]): Record<string, number> | undefined {
  const r = spawnSync(py, [peer, ...args], { encoding: 'utf8' });
  if (r.status !== 0) {
    console.error(`numpy peer failed: ${r.error?.message ?? r.stderr.trim().split('\n').pop()}`);
    return undefined;
  }
  return JSON.parse(r.stdout);
}

async function readRate(path: string): Promise<number> {
  const fh = await open(path, 'r');
  const buf = new Uint8Array(64 * 1024 * 1024);
  const t0 = performance.now();
  let pos = 0;
  for (;;) {
    const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
    if (!bytesRead) break;
    pos += bytesRead;
  }
  await fh.close();
  return pos / MB / ((performance.now() - t0) / 1000);
}

function directReadRate(path: string): string {
  const r = spawnSync('dd', [`if=${path}`, 'of=/dev/null', 'bs=64M', 'iflag=direct'], { encoding: 'utf8' });
  const m = /copied, ([\d.]+) s, ([\d.]+ [kMG]B\/s)/.exec(r.stderr ?? '');
  return m ? m[2] : `n/a (${(r.stderr ?? r.error?.message ?? '').trim().split('\n').pop()})`;
}

const rowsOut: string[][] = [];
const fmt = (mbps: number) => `${mbps.toFixed(0)} MB/s`;
try {
  const a = join(dir, 'a.npy');
  const b = join(dir, 'b.npy');
  const size = `${rows} x ${cols} float32 (${(bytes / MB).toFixed(0)} MB)`;
  for (let rep = 1; rep <= 2; rep++) {
    const sec = await writeMember(a, 1);
    rowsOut.push([`write ${size}, rep ${rep}`, 'exp NpyWriter', `${sec.toFixed(2)} s`, fmt(bytes / MB / sec)]);
    const np = python(['save', a, join(dir, 'np.npy')]);
    if (np) rowsOut.push([`write ${size}, rep ${rep}`, `numpy ${np.numpy} np.save`, `${np.seconds.toFixed(2)} s`, fmt(bytes / MB / np.seconds)]);
    rmSync(join(dir, 'np.npy'), { force: true });
  }
  await writeMember(b, 2);
  rowsOut.push(['sequential read, O_DIRECT (device)', 'dd bs=64M iflag=direct', '', directReadRate(a)]);
  rowsOut.push(['sequential read, page cache', 'node fs read 64 MiB', '', fmt(await readRate(a))]);
  for (const method of ['logits', 'probs'] as const) {
    const out = join(dir, `blend-${method}.npy`);
    const t0 = performance.now();
    await blendFiles({ members: [{ npyPath: a }, { npyPath: b }], method, outPath: out, blockRows });
    const sec = (performance.now() - t0) / 1000;
    const label = `blend 2 members, ${method} (input MB/s)`;
    rowsOut.push([label, `exp blendFiles, ${blockRows}-row blocks`, `${sec.toFixed(2)} s`, fmt((2 * bytes) / MB / sec)]);
    const npOut = join(dir, `np-${method}.npy`);
    const np = python(['blend', a, b, npOut, String(blockRows), method]);
    if (np) {
      rowsOut.push([label, `numpy mmap_mode="r", ${blockRows}-row blocks`, `${np.seconds.toFixed(2)} s`, fmt(np.bytes / MB / np.seconds)]);
      const d = python(['diff', out, npOut]);
      if (d) rowsOut.push([`${method}: max |exp - numpy|`, '', '', d.max_abs_diff.toExponential(2)]);
    }
    rmSync(npOut, { force: true });
    rmSync(out, { force: true });
  }
  const maxRssMB = process.resourceUsage().maxRSS / 1024;
  console.log(`## .npy I/O and blending (${cpus().length} CPUs, ${cpus()[0]?.model ?? ''}, node ${process.version})\n`);
  console.log(`Command: node --import tsx bench/npy.ts --rows ${rows} --cols ${cols}; files in ${dir} (${statSync(a).size} bytes each)\n`);
  console.log('| what | tool | time | throughput |\n|---|---|---|---|');
  for (const r of rowsOut) console.log(`| ${r.join(' | ')} |`);
  console.log(`\nPeak RSS of the node process (all of the above): ${maxRssMB.toFixed(0)} MB.`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}

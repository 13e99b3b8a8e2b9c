// Image pipeline throughput: decode + resize (shorter side) + random crop + flips + normalise of
// herbarium-sized JPEGs (1000 x 1400, generated), one core, with exp's libjpeg-turbo fast path and
// with sharp, against PIL + torchvision transforms (bench/images_peer.py) on the same files in the
// same run. Also: reading from the resized-image cache (JPEG q95 and raw) and the BatchLoader over
// all cores. Each figure is the median of 3 rounds.
// Per core = images per second of process CPU time (all threads), which stays meaningful on a
// shared, loaded machine; wall-clock images/s is shown beside it.
// The peer runs with glibc's mmap threshold raised (MALLOC_MMAP_THRESHOLD_): on this VM a fresh
// mmap'd page costs so much that PIL's per-image 4 MB buffers made it 3-4x slower in some runs;
// with the threshold raised PIL reuses its heap and gets its best, steadiest figures.
// Run: node --import tsx bench/images.ts [passes]
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { loadImage, type AugmentSpec } from '../src/data/image.ts';
import { resolveDecoder, type Decoder } from '../src/data/jpeg.ts';
import { ImageCache } from '../src/data/cache.ts';
import { BatchLoader, configureSharp } from '../src/data/loader.ts';
import { sheetSvg } from '../src/data/synth.ts';
import { Rng } from '../src/util/rng.ts';
import type { DatasetIndex } from '../src/data/types.ts';

const N = 50;
const passes = Number(process.argv[2] ?? 3);
const dir = join(tmpdir(), 'exp-bench-images');
const norm = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };
const augment: AugmentSpec = { random_crop: true, hflip: true, vflip: true };

async function makeImages(): Promise<string[]> {
  mkdirSync(dir, { recursive: true });
  const files = Array.from({ length: N }, (_, i) => join(dir, `${i}.jpg`));
  for (let i = 0; i < N; i++) {
    if (existsSync(files[i])) continue;
    // a synthetic sheet plus sensor grain, so the JPEG carries texture like a scan (~300 KB)
    const sp = { id: i, name: '', genus: '', family: '', fam: i % 6, gen: i % 7, sp: i % 4 };
    const w = 1000, h = 1400;
    const base = await sharp(Buffer.from(sheetSvg(sp, new Rng(9, i), w, h))).flatten({ background: '#fff' }).raw().toBuffer();
    const rng = new Rng(10, i);
    for (let k = 0; k < base.length; k++) base[k] = Math.max(0, Math.min(255, base[k] + Math.round(rng.normal() * 6)));
    writeFileSync(files[i], await sharp(base, { raw: { width: w, height: h, channels: 3 } }).jpeg({ quality: 90 }).toBuffer());
  }
  return files;
}

const cpuS = (): number => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; };
type Rate = [cpu: number, wall: number];
const rate = (n: number, c0: number, t0: number): Rate => [n / (cpuS() - c0), n / ((performance.now() - t0) / 1000)];

const ROUNDS = 3;
/** The median round (by per-core rate). */
async function median(f: () => Promise<Rate> | Rate): Promise<Rate> {
  const rs: Rate[] = [];
  for (let r = 0; r < ROUNDS; r++) rs.push(await f());
  return rs.sort((a, b) => a[0] - b[0])[Math.floor(ROUNDS / 2)];
}

async function timeIt(files: (string | Awaited<ReturnType<ImageCache['ensure']>>)[], resize: number, size: number, decoder?: Decoder): Promise<Rate> {
  const out = new Float32Array(size * size * 3);
  // one warm-up pass: the first images run before the JIT has compiled the per-pixel loop
  for (let i = 0; i < files.length; i++) await loadImage(files[i], { resize, size, augment, normalize: norm, key: [0, 0, i, 0], out, decoder });
  return median(async () => {
    const c = cpuS();
    const t = performance.now();
    let n = 0;
    for (let p = 0; p < passes; p++) {
      for (let i = 0; i < files.length; i++) {
        await loadImage(files[i], { resize, size, augment, normalize: norm, key: [1, p, i, 0], out, decoder });
        n++;
      }
    }
    return rate(n, c, t);
  });
}

function peer(resize: number, size: number, draft = false): Promise<Rate> {
  return median(() => {
    const r = spawnSync('/usr/bin/python3', ['bench/images_peer.py', dir, String(resize), String(size), String(passes), ...(draft ? ['draft'] : [])],
      { encoding: 'utf8', env: { ...process.env, MALLOC_MMAP_THRESHOLD_: String(256 << 20), MALLOC_TRIM_THRESHOLD_: String(1 << 30) } });
    if (r.status !== 0) throw new Error(`peer failed: ${r.stderr}`);
    const j = JSON.parse(r.stdout.trim().split('\n').pop()!);
    return [j.images_per_cpu_s, j.images_per_s];
  });
}

async function main(): Promise<void> {
  configureSharp(); // one libvips thread per image: "per core" numbers
  const files = await makeImages();
  const kb = files.reduce((a, f) => a + statSync(f).size, 0) / files.length / 1024;
  const rows: [string, Rate, 'ours' | 'peer'][] = [];
  const fast = resolveDecoder('auto');
  for (const [resize, size] of [[512, 224], [256, 224]]) {
    if (fast.jpeg) rows.push([`exp, libjpeg-turbo fast path, originals, resize ${resize} crop ${size}`, await timeIt(files, resize, size, fast), 'ours']);
    rows.push([`exp, sharp, originals, resize ${resize} crop ${size}`, await timeIt(files, resize, size, resolveDecoder('sharp')), 'ours']);
    rows.push([`PIL + torchvision, resize ${resize} crop ${size}`, await peer(resize, size), 'peer']);
    rows.push([`PIL draft() + torchvision, resize ${resize} crop ${size}`, await peer(resize, size, true), 'peer']);
  }
  if (!fast.jpeg) console.log(`(no libjpeg-turbo fast path: ${fast.description}; apt-get install libjpeg62-turbo-dev && npm rebuild)`);
  for (const format of ['jpeg', 'raw'] as const) {
    const cache = new ImageCache(512, { dir: join(dir, 'cache'), format });
    const srcs = [];
    for (const f of files) srcs.push(await cache.ensure(f));
    // a raw hit is a file read: re-read through ensure() each time to count the I/O
    const hits = format === 'raw' ? await timeRaw(cache, files) : await timeIt(srcs, 512, 224);
    const sizes = readdirSync(cache.dir, { recursive: true }).map(String).filter((f) => /\.(jpg|rgb)$/.test(f))
      .reduce((a, f) => a + statSync(join(cache.dir, f)).size, 0) / files.length / 1024;
    rows.push([`exp (${format === 'raw' ? 'no decoder' : fast.jpeg ? 'libjpeg-turbo' : 'sharp'}), cache hit (${format}, ${sizes.toFixed(0)} KB/image), crop 224`, hits, 'ours']);
  }
  const cores = availableParallelism();
  const index: DatasetIndex = {
    format: 'folders', variant: 'bench', root: dir, files: files.map((_, i) => `${i}.jpg`), ids: files.map((_, i) => i),
    levels: [{ name: 'x', ids: [0], names: ['x'] }], labels: [new Int32Array(N)], metadataFiles: [],
  };
  const c = cpuS();
  const t = performance.now();
  let n = 0;
  for (let p = 0; p < passes; p++) {
    const loader = new BatchLoader(index, {
      rows: Int32Array.from(files.keys()), batchSize: 16, seed: 0, epoch: p, shuffle: true,
      image: { resize: 512, size: 224 }, augment, normalize: norm, concurrency: cores,
    });
    for await (const b of loader) n += b.rows.length;
  }
  rows.push([`BatchLoader, originals, 512/224, concurrency ${cores} (all cores)`, rate(n, c, t), 'ours']);

  console.log(`${N} JPEGs 1000x1400 (${kb.toFixed(0)} KB avg), ${passes} passes, ${cpus()[0].model}, ${cores} cores, sharp ${sharp.versions.sharp} / libvips ${sharp.versions.vips}\n`);
  console.log('| pipeline | images per CPU-second (per core) | images/s wall | exp (fastest above) / peer, per core |\n|---|---:|---:|---:|');
  let best = 0;
  let lastWasPeer = false;
  for (const [name, v, kind] of rows) {
    if (kind === 'ours') best = lastWasPeer ? v[0] : Math.max(best, v[0]);
    lastWasPeer = kind === 'peer';
    console.log(`| ${name} | ${v[0].toFixed(1)} | ${v[1].toFixed(1)} | ${kind === 'peer' ? `${(best / v[0]).toFixed(2)}x` : ''} |`);
  }
}

async function timeRaw(cache: ImageCache, files: string[]): Promise<Rate> {
  const out = new Float32Array(224 * 224 * 3);
  const c = cpuS();
  const t = performance.now();
  let n = 0;
  for (let p = 0; p < passes; p++) {
    for (let i = 0; i < files.length; i++) {
      await loadImage(await cache.ensure(files[i]), { resize: 512, size: 224, augment, normalize: norm, key: [1, p, i, 0], out });
      n++;
    }
  }
  return rate(n, c, t);
}

await main();

// Index loading, hierarchy and split at Herbarium scale, on generated metadata (no images needed).
//
//   node --import tsx bench/metadata.ts                   # 2020 size: 1,030,747 images, 32,094 species
//   node --import tsx bench/metadata.ts --images 2500000  # 2021 size (the file then streams by default)
//
// The parent writes a Herbarium-2020-shaped metadata.json (latin-1 author names, so the file is not
// valid UTF-8, like the real one; annotations and images in scrambled id order) into a temp dir,
// then measures each reading path in a fresh child process, so each peak RSS (maxRSS) is that
// path's own: JSON.parse (the default below 256 MB) and the streaming reader (forced).
import { closeSync, mkdtempSync, openSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Rng } from '../src/util/rng.ts';

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};

function generate(dir: string, nImages: number, nSpecies: number, nGenera: number, nFamilies: number): string {
  const rng = new Rng(2020);
  // imbalanced species sizes: Zipf-like weights, at least one image each (real: 1 to ~1,500)
  const w = Array.from({ length: nSpecies }, (_, i) => 1 / Math.pow(i + 1, 0.6));
  const wsum = w.reduce((a, b) => a + b, 0);
  const size = w.map((x) => 1 + Math.floor(((nImages - nSpecies) * x) / wsum));
  let left = nImages - size.reduce((a, b) => a + b, 0);
  for (let i = 0; left > 0; i = (i + 1) % nSpecies, left--) size[i]++;
  const genusOf = Array.from({ length: nSpecies }, (_, i) => (i < nGenera ? i : rng.int(nGenera)));
  const familyOf = Array.from({ length: nGenera }, (_, g) => (g < nFamilies ? g : rng.int(nFamilies)));
  const catOfImage = new Int32Array(nImages);
  for (let c = 0, k = 0; c < nSpecies; c++) for (let j = 0; j < size[c]; j++) catOfImage[k++] = c;
  const imageId = rng.shuffle(Int32Array.from({ length: nImages }, (_, i) => i)) as Int32Array;
  const order = rng.shuffle(Int32Array.from({ length: nImages }, (_, i) => i)) as Int32Array;

  const file = join(dir, 'metadata.json');
  const fd = openSync(file, 'w');
  let buf: string[] = [];
  const flush = () => { writeSync(fd, Buffer.from(buf.join(''), 'latin1')); buf = []; };
  const put = (s: string) => { buf.push(s); if (buf.length >= 20000) flush(); };
  put('{"annotations": [');
  for (let k = 0; k < nImages; k++) {
    const i = order[k];
    put(`${k ? ', ' : ''}{"category_id": ${catOfImage[i]}, "id": ${imageId[i]}, "image_id": ${imageId[i]}, "region_id": ${i % 5}}`);
  }
  put('], "categories": [');
  for (let c = 0; c < nSpecies; c++) {
    const author = c % 7 === 0 ? 'Lind\u00e9 & M\u00fcll.' : 'L.';
    put(`${c ? ', ' : ''}{"family": "Family${familyOf[genusOf[c]]}aceae", "genus": "Genus${genusOf[c]}", "id": ${c}, "name": "Genus${genusOf[c]} species${c} ${author}"}`);
  }
  put('], "images": [');
  for (let k = 0; k < nImages; k++) {
    const i = order[(k * 7919) % nImages] ?? order[k];
    const c = catOfImage[i];
    put(`${k ? ', ' : ''}{"file_name": "images/${Math.floor(c / 100)}/${c % 100}/${imageId[i]}.jpg", "height": 1000, "id": ${imageId[i]}, "license": 0, "width": 661}`);
  }
  put('], "info": {"year": 2020, "version": "bench"}, "licenses": [{"id": 0, "name": "bench", "url": ""}], "regions": [{"id": 0, "name": "R0"}]}');
  flush();
  closeSync(fd);
  return file;
}

async function measure(dir: string, stream: boolean): Promise<void> {
  const { loadDataset } = await import('../src/data/formats/index.ts');
  const { stratifiedSplit } = await import('../src/data/split.ts');
  const { dataFingerprint } = await import('../src/data/fingerprint.ts');
  // Wall time suffers when other processes share the cores; CPU time (user+sys) does not.
  const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; };
  const c0 = cpu();
  const t0 = performance.now();
  const ix = await loadDataset('herbarium', dir, ['species', 'genus', 'family'], 'train', stream ? { streamThresholdBytes: 0 } : {});
  const t1 = performance.now();
  const c1 = cpu();
  const split = stratifiedSplit(ix, { fraction: 0.2, seed: 139, capPerClass: 10 });
  const t2 = performance.now();
  const c2 = cpu();
  const fp = await dataFingerprint(ix, { metadataOnly: true });
  const t3 = performance.now();
  const c3 = cpu();
  const heap = process.memoryUsage().heapUsed;
  console.log(JSON.stringify({
    path: stream ? 'stream' : 'JSON.parse', images: ix.files.length, species: ix.levels[0].ids.length,
    genera: ix.levels[1].ids.length, families: ix.levels[2].ids.length, val: split.val.length,
    load_wall_s: +((t1 - t0) / 1000).toFixed(2), load_cpu_s: +(c1 - c0).toFixed(2),
    split_wall_s: +((t2 - t1) / 1000).toFixed(2), split_cpu_s: +(c2 - c1).toFixed(2),
    fingerprint_metadata_only_wall_s: +((t3 - t2) / 1000).toFixed(2), fingerprint_cpu_s: +(c3 - c2).toFixed(2),
    fp: fp.sha256.slice(0, 12),
    heap_after_MB: Math.round(heap / 2 ** 20), peak_rss_MB: Math.round(process.resourceUsage().maxRSS / 1024),
  }));
}

const mi = process.argv.indexOf('--measure');
if (mi >= 0) {
  await measure(process.argv[mi + 1], process.argv.includes('--stream'));
} else {
  const dir = mkdtempSync(join(tmpdir(), 'exp-bench-meta-'));
  try {
    const n = arg('images', 1_030_747);
    const t0 = performance.now();
    const file = generate(dir, n, arg('species', 32_094), arg('genera', 3_678), arg('families', 310));
    console.log(`generated ${file}: ${(statSync(file).size / 2 ** 20).toFixed(0)} MiB, ${n} images in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const self = fileURLToPath(import.meta.url);
    if (process.argv.includes('--keep')) console.log(`kept ${dir}`);
    const paths = statSync(file).size > 256 * 2 ** 20 ? [true] : [false, true];
    for (const stream of paths) {
      const r = spawnSync(process.execPath, ['--import', 'tsx', self, '--measure', dir, ...(stream ? ['--stream'] : [])], { stdio: 'inherit' });
      if (r.status !== 0) process.exitCode = 1;
    }
  } finally {
    if (!process.argv.includes('--keep')) rmSync(dir, { recursive: true, force: true });
  }
}

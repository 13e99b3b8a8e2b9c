// Synthetic herbarium sheets in the Herbarium 2020 layout, for the bundled sample, tests and demos.
// Each level of the hierarchy changes something visible, so a classifier can learn all three:
//   family  -> leaf shape (broad ellipse, narrow lance, round, triangle, lobed, needle)
//   genus   -> leaf colour (hue)
//   species -> leaf arrangement and count (opposite pairs or alternate) and flower dots
// Nuisance that must not matter: plant position, rotation, size, stem curve, paper tint, specks and
// the label box's place. Class sizes follow a long tail, like the real data. Every drawing
// decision comes from Rng(seed, purpose, id), so the same options give the same bytes.
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import sharp from 'sharp';
import { UserError } from '../errors.ts';
import { Rng } from '../util/rng.ts';
import { forEachLimit } from './cache.ts';

export interface SynthOptions {
  families: number;
  /** Total genera, spread over the families (at least one each). */
  genera: number;
  /** Total species, spread over the genera (at least one each). */
  species: number;
  /** [min, max] training images per species; the most common species gets max. */
  imagesPerSpecies: [number, number];
  /** Long-tail exponent: the species of rank r gets max * (r + 1)^-imbalance images. */
  imbalance: number;
  /** Test images per species (the real test set caps at 10). */
  testPerSpecies: number;
  /** Image width in pixels; sheets are portrait, height = round(1.4 * width). */
  size: number;
  seed: number;
  year: 2020;
  /** Replace the train/ and test/ folders of an existing output. */
  overwrite?: boolean;
  jpegQuality?: number;
}

/** What data/sample holds: 12 species, ~300 training images at 96 x 134. */
export const SAMPLE_OPTIONS: SynthOptions = {
  families: 3, genera: 6, species: 12, imagesPerSpecies: [8, 80], imbalance: 0.8,
  testPerSpecies: 10, size: 96, seed: 2020, year: 2020, jpegQuality: 90,
};

export interface SynthSummary {
  train: number;
  test: number;
  families: number;
  genera: number;
  species: number;
}

const SYL = ['ra', 'lo', 'mi', 'cu', 'ta', 've', 'no', 'si', 'pha', 'dre', 'bo', 'ly', 'gon', 'the', 'ca', 'ner'];
const P_NAMES = 1, P_COUNTS = 2, P_TRAIN = 3, P_TEST = 4;

function word(rng: Rng, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += SYL[rng.int(SYL.length)];
  return s;
}

interface Species {
  id: number; name: string; genus: string; family: string;
  fam: number; gen: number; sp: number; // family index, global genus index, index within genus
}

function taxonomy(o: SynthOptions): Species[] {
  if (o.families < 1 || o.genera < o.families || o.species < o.genera) {
    throw new UserError(`synth: need 1 <= families <= genera <= species, got ${o.families}, ${o.genera}, ${o.species}`);
  }
  const rng = new Rng(o.seed, P_NAMES);
  const used = new Set<string>();
  const unique = (syllables: number, suffix: string): string => {
    for (;;) {
      const w = word(rng, syllables);
      const name = `${w[0].toUpperCase()}${w.slice(1)}${suffix}`;
      if (!used.has(name)) return used.add(name), name;
      syllables += rng.int(2); // widen the space if names collide
    }
  };
  const famNames = Array.from({ length: o.families }, () => unique(2, 'aceae'));
  const genNames = Array.from({ length: o.genera }, () => unique(3, ''));
  const out: Species[] = [];
  const perGenus = new Array(o.genera).fill(0);
  for (let s = 0; s < o.species; s++) {
    const gen = s % o.genera; // round-robin: every genus and family gets members
    const fam = gen % o.families;
    out.push({ id: s, name: `${genNames[gen]} ${unique(2, '').toLowerCase()}`, genus: genNames[gen], family: famNames[fam], fam, gen, sp: perGenus[gen]++ });
  }
  return out;
}

/** Training images per species: a shuffled long tail between min and max. */
function counts(o: SynthOptions): number[] {
  const rank = Array.from({ length: o.species }, (_, i) => i);
  new Rng(o.seed, P_COUNTS).shuffle(rank);
  const [lo, hi] = o.imagesPerSpecies;
  return rank.map((r) => Math.max(lo, Math.round(hi * Math.pow(r + 1, -o.imbalance))));
}

const f1 = (v: number): string => v.toFixed(1);

function leafSvg(shape: number, len: number, wid: number): string {
  switch (shape % 6) {
    case 0: return `<ellipse cx="${f1(len / 2)}" cy="0" rx="${f1(len / 2)}" ry="${f1(wid * 0.55)}"/>`;
    case 1: return `<path d="M0,0 Q${f1(len * 0.5)},${f1(-wid * 0.22)} ${f1(len * 1.3)},0 Q${f1(len * 0.5)},${f1(wid * 0.22)} 0,0Z"/>`;
    case 2: return `<circle cx="${f1(len * 0.45)}" cy="0" r="${f1(len * 0.42)}"/>`;
    case 3: return `<path d="M0,0 L${f1(len)},${f1(-wid * 0.6)} L${f1(len)},${f1(wid * 0.6)}Z"/>`;
    case 4: return [0.3, 0.6, 0.9].map((t) => `<circle cx="${f1(len * t)}" cy="0" r="${f1(wid * 0.4)}"/>`).join('');
    default: return `<path d="M0,0 L${f1(len * 1.3)},0" stroke-width="3" fill="none"/>`;
  }
}

/** The SVG of one sheet (viewBox 200 x 280). */
export function sheetSvg(sp: Species, rng: Rng, width: number, height: number): string {
  const hue = (sp.gen * 137.508 + 95) % 360; // golden angle: neighbouring genera differ clearly
  const paper = `hsl(${f1(40 + rng.uniform(-8, 8))},${f1(35 + rng.uniform(-10, 10))}%,${f1(92 + rng.uniform(-3, 2))}%)`;
  const leafFill = `hsl(${f1(hue + rng.uniform(-6, 6))},${f1(55 + rng.uniform(-8, 8))}%,${f1(38 + rng.uniform(-5, 5))}%)`;
  const cx = 100 + rng.uniform(-22, 22);
  const base = 240 + rng.uniform(-10, 6);
  const top = 40 + rng.uniform(-8, 14);
  const bend = rng.uniform(-25, 25);
  const scale = rng.uniform(0.85, 1.15);
  const rot = rng.uniform(-18, 18);
  const stem = (t: number): [number, number] => {
    // quadratic Bezier from the base through a bent control point to the top
    const x = (1 - t) * (1 - t) * cx + 2 * (1 - t) * t * (cx + bend) + t * t * cx;
    const y = (1 - t) * (1 - t) * base + 2 * (1 - t) * t * ((base + top) / 2) + t * t * top;
    return [x, y];
  };
  const opposite = sp.sp % 2 === 0;
  const nodes = 3 + ((sp.sp >> 1) % 3) + (opposite ? 0 : 2); // species sets count and arrangement
  const len = 46 * scale;
  const wid = 27 * scale;
  const parts: string[] = [];
  for (let k = 0; k < nodes; k++) {
    const t = 0.15 + (0.75 * k) / Math.max(1, nodes - 1);
    const [x, y] = stem(t);
    const sides = opposite ? [-1, 1] : [k % 2 === 0 ? -1 : 1];
    for (const side of sides) {
      const ang = side < 0 ? 180 + 45 + rng.uniform(-12, 12) : -45 + rng.uniform(-12, 12);
      const s = 1 - 0.35 * t + rng.uniform(-0.08, 0.08);
      parts.push(`<g transform="translate(${f1(x)},${f1(y)}) rotate(${f1(ang)}) scale(${s.toFixed(2)})">${leafSvg(sp.fam, len, wid)}</g>`);
    }
  }
  if (sp.sp % 2 === 1 || sp.sp >= 2) {
    // flower dots at the top: colour by species parity, count by species index
    const color = sp.sp % 2 === 1 ? '#c0392b' : '#e1b12c';
    const [x, y] = stem(1);
    for (let k = 0; k < 3 + (sp.sp % 3); k++) {
      const a = (k / (3 + (sp.sp % 3))) * 2 * Math.PI + rng.uniform(-0.3, 0.3);
      parts.push(`<circle cx="${f1(x + 11 * Math.cos(a))}" cy="${f1(y + 11 * Math.sin(a))}" r="${f1(6.5 * scale)}" fill="${color}"/>`);
    }
  }
  const specks = Array.from({ length: 6 }, () =>
    `<circle cx="${f1(rng.uniform(5, 195))}" cy="${f1(rng.uniform(5, 275))}" r="${f1(rng.uniform(0.5, 1.6))}" fill="#8a8270"/>`).join('');
  const lx = rng.next() < 0.5 ? 128 : 8;
  const label = `<g><rect x="${lx}" y="238" width="64" height="34" fill="#fdfdf8" stroke="#777" stroke-width="1"/>` +
    [248, 256, 264].map((y) => `<rect x="${lx + 6}" y="${y}" width="${f1(rng.uniform(30, 52))}" height="3" fill="#999"/>`).join('') + '</g>';
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 200 280" preserveAspectRatio="none">` +
    `<rect width="200" height="280" fill="${paper}"/>${specks}${label}` +
    `<g transform="rotate(${f1(rot)},${f1(cx)},${f1((base + top) / 2)})">` +
    `<path d="M${f1(cx)},${f1(base)} Q${f1(cx + bend)},${f1((base + top) / 2)} ${f1(cx)},${f1(top)}" stroke="#5b4a2f" stroke-width="3" fill="none"/>` +
    `<g fill="${leafFill}" stroke="${leafFill}">${parts.join('')}</g></g></svg>`;
}

/** Render one sheet to JPEG bytes. */
export async function renderSheet(svg: string, quality = 90): Promise<Buffer> {
  return sharp(Buffer.from(svg)).flatten({ background: '#ffffff' }).jpeg({ quality }).toBuffer();
}

/** Write a Herbarium-2020-layout dataset: <out>/train/{metadata.json,images/} and <out>/test/... */
export async function synthDataset(outDir: string, options: Partial<SynthOptions> = {}): Promise<SynthSummary> {
  const o: SynthOptions = { ...SAMPLE_OPTIONS, ...options };
  const out = resolve(outDir);
  const existing = await readdir(out).catch(() => [] as string[]);
  if (existing.some((n) => n === 'train' || n === 'test')) {
    if (!o.overwrite) throw new UserError(`${out} already holds a dataset (train/ or test/); choose an empty directory or pass overwrite.`);
    await rm(join(out, 'train'), { recursive: true, force: true });
    await rm(join(out, 'test'), { recursive: true, force: true });
  }
  const species = taxonomy(o);
  const n = counts(o);
  const width = o.size;
  const height = Math.round(o.size * 1.4);
  const train: { id: number; sp: Species; file: string }[] = [];
  let id = 0;
  species.forEach((sp, s) => {
    for (let k = 0; k < n[s]; k++, id++) train.push({ id, sp, file: `images/${String(sp.id).padStart(3, '0')}/${id}.jpg` });
  });
  // test images are interleaved by a shuffle, so file order does not reveal the species
  const test: { id: number; sp: Species; file: string }[] = [];
  for (const sp of species) for (let k = 0; k < o.testPerSpecies; k++) test.push({ id: 0, sp, file: '' });
  new Rng(o.seed, P_TEST, 0).shuffle(test);
  test.forEach((t, i) => { t.id = 1_000_000 + i; t.file = `images/${String(Math.floor(i / 100)).padStart(3, '0')}/${t.id}.jpg`; });

  const render = async (dir: string, items: typeof train, purpose: number): Promise<void> => {
    const dirs = new Set(items.map((it) => join(dir, it.file, '..')));
    for (const d of dirs) await mkdir(d, { recursive: true });
    await forEachLimit(items.length, 4, async (i) => {
      const it = items[i];
      const svg = sheetSvg(it.sp, new Rng(o.seed, purpose, it.id), width, height);
      await writeFile(join(dir, it.file), await renderSheet(svg, o.jpegQuality));
    });
  };
  const image = (it: (typeof train)[number]): object => ({ id: it.id, file_name: it.file, width, height, license: 0 });
  const info = { year: o.year, version: 'synthetic', description: `exp synthDataset seed ${o.seed}`, contributor: 'exp' };
  const licenses = [{ id: 0, name: 'CC0', url: 'https://creativecommons.org/publicdomain/zero/1.0/' }];
  await render(join(out, 'train'), train, P_TRAIN);
  await render(join(out, 'test'), test, P_TEST);
  const trainMeta = {
    info, licenses,
    categories: species.map((s) => ({ id: s.id, name: s.name, family: s.family, genus: s.genus })),
    images: train.map(image),
    annotations: train.map((it) => ({ id: it.id, image_id: it.id, category_id: it.sp.id, region_id: 0 })),
    regions: [{ id: 0, name: 'Synthetic' }],
  };
  await writeFile(join(out, 'train', 'metadata.json'), JSON.stringify(trainMeta) + '\n');
  // like the real test metadata: images only, no annotations or categories
  await writeFile(join(out, 'test', 'metadata.json'), JSON.stringify({ info, licenses, images: test.map(image) }) + '\n');
  return { train: train.length, test: test.length, families: o.families, genera: o.genera, species: o.species };
}

// `node --import tsx src/data/synth.ts <out> [seed]` writes the sample dataset (data/sample).
if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const seed = process.argv[3] ? Number(process.argv[3]) : SAMPLE_OPTIONS.seed;
  await synthDataset(process.argv[2] ?? 'data/sample', { seed, overwrite: true });
}

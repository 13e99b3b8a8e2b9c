// `exp data inspect <dir>`: what a dataset holds, before anyone trains on it. The CLI prints
// renderInspect(report) or the report as JSON.
import { existsSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { DatasetIndex } from './types.ts';
import { assertDirectory, detectFormat, formats, loadDataset, type DatasetLoadOptions } from './formats/index.ts';
import { classCounts } from './hierarchy.ts';
import { fileSizes } from './fingerprint.ts';

export interface InspectOptions {
  /** Registered format name; detected when absent. */
  format?: string;
  /** Level names, finest first; default: every level the format knows for this data. */
  levels?: string[];
  /** stat() every image to count missing files (default true; slow on network disks). */
  checkFiles?: boolean;
  onProgress?: DatasetLoadOptions['onProgress'];
}

export interface ClassStats { min: number; median: number; max: number }

export interface InspectReport {
  root: string;
  format: string;
  variant: string;
  metadataFiles: string[];
  images: number;
  levels: string[];
  classesPerLevel: Record<string, number>;
  imagesPerClass: Record<string, ClassStats>;
  /** Classes with exactly one image, per level. */
  singletonClasses: Record<string, number>;
  /** Classes listed in the metadata with no image, per level. */
  emptyClasses: Record<string, number>;
  /** null when files were not checked. */
  missingFiles: { count: number; first: string[] } | null;
  /** Images in the test split found beside this one (2022: test_metadata.json; 2020/2021: ../test). */
  testImages?: number;
  testRoot?: string;
}

/** Where the train and test splits are when `dir` is a dataset's top directory or its train/ folder. */
function resolveRoots(dir: string): { train: string; test?: string } {
  if (existsSync(join(dir, 'test_metadata.json'))) return { train: dir, test: dir };
  if (existsSync(join(dir, 'train')) && !existsSync(join(dir, 'metadata.json'))) {
    return { train: join(dir, 'train'), test: existsSync(join(dir, 'test')) ? join(dir, 'test') : undefined };
  }
  const sibling = join(dirname(dir), 'test');
  if (basename(dir) === 'train' && existsSync(sibling)) return { train: dir, test: sibling };
  return { train: dir };
}

function stats(counts: Int32Array): ClassStats {
  if (counts.length === 0) return { min: 0, median: 0, max: 0 };
  const s = Int32Array.from(counts).sort();
  const m = s.length >> 1;
  const median = s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
  return { min: s[0], median, max: s[s.length - 1] };
}

export function summarize(index: DatasetIndex): Omit<InspectReport, 'missingFiles' | 'testImages' | 'testRoot'> {
  const counts = classCounts(index);
  const names = index.levels.map((l) => l.name);
  const per = <T>(f: (c: Int32Array) => T) => Object.fromEntries(names.map((n, l) => [n, f(counts[l])]));
  const countWhere = (pred: (x: number) => boolean) => (c: Int32Array) => c.reduce((a, x) => a + (pred(x) ? 1 : 0), 0);
  return {
    root: index.root,
    format: index.format,
    variant: index.variant,
    metadataFiles: index.metadataFiles,
    images: index.files.length,
    levels: names,
    classesPerLevel: per((c) => c.length),
    imagesPerClass: per(stats),
    singletonClasses: per(countWhere((x) => x === 1)),
    emptyClasses: per(countWhere((x) => x === 0)),
  };
}

export async function inspectDataset(dir: string, opts: InspectOptions = {}): Promise<InspectReport> {
  const roots = resolveRoots(await assertDirectory(dir));
  let format = opts.format;
  let variant = '';
  if (!format) ({ format, variant } = await detectFormat(roots.train));
  else variant = (await formats.get(format).detect(roots.train)) ?? format;
  const levels = opts.levels ?? (await formats.get(format).levelsOf(roots.train, variant));
  const index = await loadDataset(format, roots.train, levels, 'train', { onProgress: opts.onProgress });
  let missingFiles: InspectReport['missingFiles'] = null;
  if (opts.checkFiles !== false) {
    const sizes = await fileSizes(index.root, index.files);
    const first: string[] = [];
    let count = 0;
    sizes.forEach((s, i) => { if (s < 0 && count++ < 10) first.push(index.files[i]); });
    missingFiles = { count, first };
  }
  const report: InspectReport = { ...summarize(index), missingFiles };
  if (roots.test) {
    const test = await loadDataset(format, roots.test, levels, 'test');
    report.testImages = test.files.length;
    report.testRoot = resolve(roots.test);
  }
  return report;
}

export function renderInspect(r: InspectReport): string {
  const lines = [
    `${r.root}`,
    `  format     ${r.format} (${r.variant})${r.metadataFiles.length ? `, ${r.metadataFiles.map((f) => basename(f)).join(', ')}` : ''}`,
    `  images     ${r.images.toLocaleString('en-US')}`,
  ];
  if (r.testImages !== undefined) lines.push(`  test       ${r.testImages.toLocaleString('en-US')} images in ${r.testRoot}`);
  const w = Math.max(5, ...r.levels.map((l) => l.length));
  lines.push('', `  ${'level'.padEnd(w)}  ${'classes'.padStart(8)}  ${'min'.padStart(6)}  ${'median'.padStart(7)}  ${'max'.padStart(7)}  ${'single'.padStart(7)}  ${'empty'.padStart(6)}`);
  for (const l of r.levels) {
    const s = r.imagesPerClass[l];
    lines.push(`  ${l.padEnd(w)}  ${String(r.classesPerLevel[l]).padStart(8)}  ${String(s.min).padStart(6)}  ${String(s.median).padStart(7)}  ${String(s.max).padStart(7)}  ${String(r.singletonClasses[l]).padStart(7)}  ${String(r.emptyClasses[l]).padStart(6)}`);
  }
  lines.push('  (min/median/max: images per class; single: classes with one image; empty: classes with none)', '');
  if (!r.missingFiles) lines.push('  missing    not checked');
  else if (r.missingFiles.count === 0) lines.push('  missing    none (every image file exists)');
  else lines.push(`  missing    ${r.missingFiles.count.toLocaleString('en-US')} image file(s), e.g. ${r.missingFiles.first.slice(0, 3).join(', ')}`);
  return lines.join('\n');
}

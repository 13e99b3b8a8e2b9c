// Stages that prepare data: index (metadata + fingerprint), split, stats, image cache.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StageExecutor } from '../plan/listr.ts';
import { loadDataset } from '../data/formats/index.ts';
import { dataFingerprint } from '../data/fingerprint.ts';
import { resolveDecoder } from '../data/jpeg.ts';
import { stratifiedSplit, splitFromPath } from '../data/split.ts';
import { alignToTraining } from '../data/hierarchy.ts';
import { computeStats } from '../data/stats.ts';
import { ImageCache, warmCache } from '../data/cache.ts';
import type { DatasetIndex } from '../data/types.ts';
import { sha256, stableStringify } from '../util/hash.ts';
import { allRows, need, type RunContext } from './context.ts';

const pct = (done: number, total: number) => `${done}/${total} (${Math.floor((100 * done) / Math.max(1, total))} %)`;

/** data.limit: a deterministic subset (the first N rows in id order) for smoke tests. */
function limitRows(index: DatasetIndex, limit: number | null): Int32Array {
  const rows = allRows(index);
  return limit && limit < rows.length ? rows.subarray(0, limit) : rows;
}

export function indexStage(ctx: RunContext): StageExecutor {
  return async (_stage, io) => {
    const d = ctx.config.data;
    const progress = (what: string) => (p: { phase: string; done: number; total: number }) =>
      io.progress(`${what}: ${p.phase} ${pct(p.done, p.total)}`);
    const train = await loadDataset(d.format, d.train, d.levels, 'train', { onProgress: progress('train') });
    // The test split is expressed in the training classes: the model's columns are those.
    const test = d.test
      ? alignToTraining(train, await loadDataset(d.format, d.test, d.levels, 'test', { onProgress: progress('test') }))
      : undefined;
    io.progress('fingerprinting the data');
    const fps = [await dataFingerprint(train)];
    if (test) fps.push(await dataFingerprint(test));
    const fingerprint = fps.length === 1 ? fps[0].sha256 : sha256(stableStringify(fps.map((f) => f.sha256)));
    ctx.train = { index: train, rows: limitRows(train, d.limit) };
    if (test) ctx.test = { index: test, rows: allRows(test) };
    const classes = Object.fromEntries(train.levels.map((l) => [l.name, l.ids.length]));
    ctx.record.setData({
      fingerprint,
      decoder: resolveDecoder(d.loader.decoder).description,
      counts: { train: ctx.train.rows.length, ...(test ? { test: test.files.length } : {}) },
      classes,
    });
    return {
      summary: `${train.variant}, ${train.files.length} images${d.limit ? ` (limit ${ctx.train.rows.length})` : ''}, ` +
        train.levels.map((l) => `${l.name} ${l.ids.length}`).join(', ') + (test ? `; test ${test.files.length}` : ''),
    };
  };
}

export function splitStage(ctx: RunContext): StageExecutor {
  return async () => {
    const v = ctx.config.data.val;
    const train = need(ctx.train, 'the training index');
    if (v.path) {
      const val = await splitFromPath(train.index, v.path);
      ctx.val = { index: val, rows: allRows(val) };
    } else {
      // Split the full index (not the --limit subset), so a limited smoke run validates on the
      // same examples as the full run would; then keep the limited rows that are not validation.
      const split = stratifiedSplit(train.index, {
        fraction: v.fraction ?? 0.2,
        seed: v.seed,
        capPerClass: v.cap_per_class,
        stratify: v.stratify,
      });
      const isVal = new Uint8Array(train.index.files.length);
      for (const r of split.val) isVal[r] = 1;
      // limitRows keeps rows 0..N-1, so "in the limited set" is r < N.
      const n = train.rows.length;
      const trainRows = train.rows.filter((r) => !isVal[r]);
      const valRows = split.val.filter((r) => r < n);
      ctx.train = { index: train.index, rows: trainRows };
      ctx.val = { index: train.index, rows: valRows };
    }
    const trainN = ctx.train!.rows.length;
    const valN = ctx.val!.rows.length;
    const rec = ctx.record.json.data!;
    ctx.record.setData({ ...rec, counts: { ...rec.counts, train: trainN, val: valN } });
    return { summary: `${trainN} train, ${valN} val` };
  };
}

export function cacheStage(ctx: RunContext): StageExecutor {
  return async (_stage, io) => {
    const d = ctx.config.data;
    // --no-cache rebuilds the resized images from the originals into a private directory that
    // lives as long as this process, instead of reading the shared cache. It does not decode the
    // originals during training instead: cached images are JPEG re-encodings, so that would change
    // the pixels, and a run's results must not depend on the flag.
    const dir = ctx.noCache ? mkdtempSync(join(tmpdir(), 'exp-nocache-')) : d.cache.dir;
    if (ctx.noCache) process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    const parts = [ctx.train, ctx.val, ctx.test].filter((s) => s !== undefined);
    let written = 0;
    let total = 0;
    for (const s of parts) {
      const r = await warmCache(s!.index, d.image.resize, {
        dir,
        rows: s!.rows,
        concurrency: d.loader.concurrency,
        onProgress: (done, n) => io.progress(`resizing ${pct(done, n)}`),
      });
      written += r.cached;
      total += s!.rows.length;
    }
    ctx.imageCache = new ImageCache(d.image.resize, { dir });
    return { summary: `${written}/${total} images at ${d.image.resize} px${ctx.noCache ? ' (rebuilt: --no-cache)' : ''}` };
  };
}

export function statsStage(ctx: RunContext): StageExecutor {
  return async (_stage, io) => {
    const d = ctx.config.data;
    const train = need(ctx.train, 'the training split');
    const stats = await computeStats(train.index, train.rows, {
      resize: d.image.resize,
      concurrency: d.loader.concurrency,
      cacheDir: ctx.noCache || !d.cache.enabled ? null : d.cache.dir,
      imageCache: ctx.imageCache ?? null,
      onBadImage: d.on_bad_image,
      onProgress: (done, n) => io.progress(`reading ${pct(done, n)}`),
    });
    ctx.normalize = { mean: stats.mean, std: stats.std };
    ctx.record.update({ normalize: { mean: stats.mean, std: stats.std, images: stats.images, cached: stats.cached } });
    const f = (xs: number[]) => xs.map((x) => x.toFixed(3)).join(',');
    return { cached: stats.cached, summary: `mean ${f(stats.mean)} std ${f(stats.std)}` };
  };
}

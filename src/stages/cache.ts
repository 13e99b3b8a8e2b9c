// The `cache` stage kind: the resized-image cache (data.cache), shared across runs and keyed by
// content, so the decode-and-resize of a large image happens once for every run that reads it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StageKind } from './context.ts';
import { cacheProgress, cacheSummary } from './progress.ts';

export interface CacheParams {
  resize: number;
  dir: string;
}

export const cacheStage: StageKind<'cache', CacheParams> = {
  kind: 'cache',
  plan: (config) => {
    const d = config.data;
    if (!d.cache.enabled) return [];
    return [{
      id: 'cache',
      kind: 'cache',
      title: `Resized-image cache at ${d.image.resize} px`,
      needs: ['index', 'split'],
      outputs: [],
      cache: { kind: 'images', params: { resize: d.image.resize } },
      params: { resize: d.image.resize, dir: d.cache.dir },
    }];
  },

  async execute(p, ctx, io) {
    const { ImageCache, warmCache } = await import('../data/cache.ts');
    // --no-cache rebuilds the resized images from the originals into a private directory that
    // lives as long as this process, instead of reading the shared cache. It does not decode the
    // originals during training instead: cached images are JPEG re-encodings, so that would change
    // the pixels, and a run's results must not depend on the flag.
    const dir = ctx.noCache ? mkdtempSync(join(tmpdir(), 'exp-nocache-')) : p.dir;
    if (ctx.noCache) process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    const parts = (['train', 'val', 'test'] as const).flatMap((split) => (ctx[split] ? [{ split, set: ctx[split] }] : []));
    const onBadImage = ctx.config.data.on_bad_image;
    let images = 0;
    let written = 0;
    let bad = 0;
    for (const { split, set } of parts) {
      // under on_bad_image: fail, the first bad image fails this stage (a UserError naming it)
      const r = await warmCache(set.index, p.resize, {
        dir,
        rows: set.rows,
        concurrency: ctx.config.data.loader.concurrency,
        onBadImage,
        onProgress: (q) => io.progress(cacheProgress(split, q)),
      });
      for (const b of r.bad) ctx.badImages?.add(split, b);
      images += r.cached;
      written += r.written;
      bad += r.bad.length;
    }
    ctx.imageCache = new ImageCache(p.resize, { dir });
    const summary = cacheSummary({ images, written, bad, resize: p.resize });
    // cached: nothing had to be resized (a bad source has no entry, but nothing to write either)
    return { cached: written === 0 && !ctx.noCache, summary: ctx.noCache ? `${summary} (rebuilt: --no-cache)` : summary };
  },

  // The cache stage resizes the training and the test images.
  async status(p, _config, probe) {
    const { cacheStatus } = await import('../data/cache.ts');
    const { train, test } = await probe.data();
    let present = 0;
    let total = 0;
    for (const part of test ? [train, test] : [train]) {
      const st = await cacheStatus(part, p.resize, { dir: p.dir });
      present += st.present;
      total += st.total;
    }
    return present === total ? 'cached' : `${present}/${total} images cached`;
  },
};

// The `stats` stage kind: per-channel mean and std of the training images for
// data.normalize: auto, cached across runs by the rows and the resize that produced them.
import { need, type StageKind } from './context.ts';
import { count } from './progress.ts';
import { splitParams, trainingRows } from './split.ts';

export interface StatsParams {
  resize: number;
}

export const statsStage: StageKind<'stats', StatsParams> = {
  kind: 'stats',
  plan: (config, before) => {
    const d = config.data;
    if (d.normalize !== 'auto') return [];
    return [{
      id: 'stats',
      kind: 'stats',
      title: `Channel mean/std at ${d.image.resize} px`,
      needs: ['index', 'split', ...before.filter((s) => s.kind === 'cache').map((s) => s.id)],
      outputs: ['run.json#normalize'],
      cache: { kind: 'stats', params: { resize: d.image.resize, split: d.val } },
      params: { resize: d.image.resize },
    }];
  },

  async execute(p, ctx, io) {
    const { computeStats } = await import('../data/stats.ts');
    const d = ctx.config.data;
    const train = need(ctx.train, 'the training split');
    const stats = await computeStats(train.index, train.rows, {
      resize: p.resize,
      concurrency: d.loader.concurrency,
      cacheDir: ctx.noCache || !d.cache.enabled ? null : d.cache.dir,
      imageCache: ctx.imageCache ?? null,
      onBadImage: d.on_bad_image,
      onSkip: (b) => ctx.badImages?.add('train', b),
      onProgress: (done, n) => io.progress(`reading ${count(done, n, 'images')}`),
    });
    ctx.normalize = { mean: stats.mean, std: stats.std };
    ctx.record.update({ normalize: { mean: stats.mean, std: stats.std, images: stats.images, cached: stats.cached } });
    const f = (xs: number[]) => xs.map((x) => x.toFixed(3)).join(',');
    return { cached: stats.cached, summary: `mean ${f(stats.mean)} std ${f(stats.std)}` };
  },

  async status(p, config, probe) {
    const [{ ImageCache }, { cachedStats }] = await Promise.all([import('../data/cache.ts'), import('../data/stats.ts')]);
    const d = config.data;
    const { train } = await probe.data();
    // the rows the stage will read, and (whenever caching is on) the resized-image cache it reads them from
    const st = await cachedStats(train, trainingRows(train, splitParams(config)), {
      resize: p.resize, cacheDir: d.cache.enabled ? d.cache.dir : null, concurrency: d.loader.concurrency,
      imageCache: d.cache.enabled ? new ImageCache(p.resize, { dir: d.cache.dir }) : null,
    });
    return st ? 'cached' : 'to compute';
  },
};

// Which cached stage results already exist, for `exp plan`. Reads metadata and the caches; writes
// nothing and starts no training backend.
import type { ExperimentConfig } from '../config/types.gen.ts';
import type { Plan } from './types.ts';
import { loadDataset } from '../data/formats/index.ts';
import { ImageCache, cacheStatus as imageCacheStatus } from '../data/cache.ts';
import { cachedStats } from '../data/stats.ts';
import { stratifiedSplit } from '../data/split.ts';

/** stage id -> a short status ("cached", "412/1000 images cached", "data missing"). */
export async function cacheStatus(plan: Plan, config: ExperimentConfig): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const d = config.data;
  let index;
  try {
    index = await loadDataset(d.format, d.train, d.levels, 'train');
  } catch (e) {
    for (const s of plan.stages) if (s.cache) out[s.id] = `unknown: ${(e as Error).message.split('.')[0]}`;
    return out;
  }
  for (const s of plan.stages) {
    if (s.cache?.kind === 'images') {
      // the cache stage resizes the training and the test images
      const parts = [index];
      if (d.test) parts.push(await loadDataset(d.format, d.test, d.levels, 'test').catch(() => index));
      let present = 0;
      let total = 0;
      for (const p of new Set(parts)) {
        const st = await imageCacheStatus(p, d.image.resize, { dir: d.cache.dir });
        present += st.present;
        total += st.total;
      }
      out[s.id] = present === total ? 'cached' : `${present}/${total} images cached`;
    } else if (s.cache?.kind === 'stats') {
      // the rows the stats stage will read: the training rows after the split (and data.limit)
      const n = d.limit ? Math.min(d.limit, index.files.length) : index.files.length;
      const split = d.val.path || !d.val.fraction ? null : stratifiedSplit(index, { fraction: d.val.fraction, seed: d.val.seed, capPerClass: d.val.cap_per_class, stratify: d.val.stratify });
      const isVal = new Uint8Array(index.files.length);
      if (split) for (const r of split.val) isVal[r] = 1;
      const rows = Int32Array.from({ length: n }, (_x, i) => i).filter((r) => !isVal[r]);
      // the stats stage reads the resized-image cache whenever caching is on (see stages/data.ts)
      const st = await cachedStats(index, rows, {
        resize: d.image.resize, cacheDir: d.cache.enabled ? d.cache.dir : null, concurrency: d.loader.concurrency,
        imageCache: d.cache.enabled ? new ImageCache(d.image.resize, { dir: d.cache.dir }) : null,
      });
      out[s.id] = st ? 'cached' : 'to compute';
    }
  }
  return out;
}

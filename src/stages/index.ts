// The `index` stage kind (not a barrel: the table of kinds is kinds.ts): reads the dataset's
// metadata (train, and test in the training classes), fingerprints it, and records the data.
// Stage modules keep their top-level imports light (no sharp, no tfjs): the table loads every
// kind whenever a plan is compiled, so what only running needs is imported in execute.
import type { ExperimentConfig } from '../config/types.gen.ts';
import type { DatasetIndex } from '../data/types.ts';
import { dataFingerprintOf, loadRunData } from '../runs/identity.ts';
import { allRows, type StageKind } from './context.ts';
import { indexProgress } from './progress.ts';

export type IndexParams = Pick<ExperimentConfig['data'], 'format' | 'train' | 'test' | 'levels' | 'limit'> & {
  /**
   * Write run.json#data (a run's own data stage). Off for `exp predict`, which reads the data of
   * a finished run: that run's recorded data and identity are the ones it was trained on.
   */
  recordData: boolean;
};

/** data.limit: a deterministic subset (the first N rows in id order) for smoke tests. */
export function limitRows(index: DatasetIndex, limit: number | null): Int32Array {
  const rows = allRows(index);
  return limit && limit < rows.length ? rows.subarray(0, limit) : rows;
}

export function indexParams(config: ExperimentConfig, recordData = true): IndexParams {
  const d = config.data;
  return { format: d.format, train: d.train, test: d.test, levels: d.levels, limit: d.limit, recordData };
}

export const indexStage: StageKind<'index', IndexParams> = {
  kind: 'index',
  plan: (config) => [{
    id: 'index',
    kind: 'index',
    title: `Index ${config.data.format} data (${config.data.levels.join(' < ')})`,
    needs: [],
    outputs: ['run.json#data'],
    cache: null,
    params: indexParams(config),
  }],

  async execute(p, ctx, io) {
    const { train, test } = await loadRunData(p, (split, q) => io.progress(indexProgress(split, q)));
    io.progress('fingerprinting the data');
    const fingerprint = await dataFingerprintOf({ train, test });
    ctx.train = { index: train, rows: limitRows(train, p.limit) };
    if (test) ctx.test = { index: test, rows: allRows(test) };
    if (p.recordData) {
      const { resolveDecoder } = await import('../data/jpeg.ts');
      ctx.record.setData({
        fingerprint,
        decoder: resolveDecoder(ctx.config.data.loader.decoder).description,
        counts: { train: ctx.train.rows.length, ...(test ? { test: test.files.length } : {}) },
        classes: Object.fromEntries(train.levels.map((l) => [l.name, l.ids.length])),
      });
    } else if (ctx.record.json.data && ctx.record.json.data.fingerprint !== fingerprint) {
      io.log(`warning: the data changed since ${ctx.record.id} was trained (fingerprint ${fingerprint.slice(0, 12)}, recorded ${ctx.record.json.data.fingerprint.slice(0, 12)})`);
    }
    return {
      summary: `${train.variant}, ${train.files.length} images${p.limit ? ` (limit ${ctx.train.rows.length})` : ''}, ` +
        train.levels.map((l) => `${l.name} ${l.ids.length}`).join(', ') + (test ? `; test ${test.files.length}` : ''),
    };
  },
};

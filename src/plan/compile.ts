// compile(config) -> Plan: a pure function from a validated, defaulted config to the stages that
// will run. No I/O here; whether a cached stage is already satisfied is asked separately
// (cache-status.ts), so `exp plan` and `exp run` share one compilation.
import type { ExperimentConfig } from '../config/types.gen.ts';
import type { Plan, Stage } from './types.ts';

export function compile(config: ExperimentConfig): Plan {
  const stages: Stage[] = [];
  const add = (s: Stage) => stages.push(s);
  const d = config.data;
  const levels = d.levels;
  const hasTest = d.test != null;

  add({
    id: 'index',
    kind: 'index',
    title: `Index ${d.format} data (${levels.join(' < ')})`,
    needs: [],
    outputs: ['run.json#data'],
    cache: null,
    params: { format: d.format, train: d.train, test: d.test, levels, limit: d.limit },
  });
  add({
    id: 'split',
    kind: 'split',
    title: d.val.path
      ? `Validation set from ${d.val.path}`
      : `Split ${Math.round((d.val.fraction ?? 0.2) * 100)} % for validation (seed ${d.val.seed}${
          d.val.cap_per_class ? `, at most ${d.val.cap_per_class} per class` : ''
        })`,
    needs: ['index'],
    outputs: ['run.json#data.counts'],
    cache: null,
    params: { ...d.val },
  });
  if (d.cache.enabled) {
    add({
      id: 'cache',
      kind: 'cache',
      title: `Resized-image cache at ${d.image.resize} px`,
      needs: ['index', 'split'],
      outputs: [],
      cache: { kind: 'images', params: { resize: d.image.resize } },
      params: { resize: d.image.resize, dir: d.cache.dir },
    });
  }
  if (d.normalize === 'auto') {
    add({
      id: 'stats',
      kind: 'stats',
      title: `Channel mean/std at ${d.image.resize} px`,
      needs: d.cache.enabled ? ['index', 'split', 'cache'] : ['index', 'split'],
      outputs: ['run.json#normalize'],
      cache: { kind: 'stats', params: { resize: d.image.resize, split: d.val } },
      params: { resize: d.image.resize },
    });
  }
  const t = config.train;
  add({
    id: 'train',
    kind: 'train',
    title: `Train ${config.model.backbone.name} for ${t.epochs} epoch${t.epochs === 1 ? '' : 's'} (batch ${t.batch_size}, ${config.loss.type} loss)`,
    needs: stages.map((s) => s.id),
    outputs: ['history.jsonl', 'model/best', 'model/last'],
    cache: null,
    params: { epochs: t.epochs, batch_size: t.batch_size },
  });

  const splits = config.outputs.predictions.filter((s) => s === 'val' || hasTest);
  for (const split of splits) {
    const tta = [...new Set([1, config.tta.count])];
    add({
      id: `predict:${split}`,
      kind: 'predict',
      title: `Predict ${split}${config.tta.count > 1 ? ` with TTA x${config.tta.count} (${config.tta.reduce})` : ''}`,
      needs: ['train'],
      outputs: tta.map((n) => `predictions/${split}/tta${n}/`).concat(split === 'val' ? ['metrics.json'] : []),
      cache: null,
      params: { split, tta, reduce: config.tta.reduce },
    });
  }
  if (hasTest && config.outputs.submission && splits.includes('test')) {
    add({
      id: 'submission',
      kind: 'submission',
      title: 'Write submission.csv',
      needs: ['predict:test'],
      outputs: ['submission.csv'],
      cache: null,
      params: { tta: config.tta.count },
    });
  }
  return { name: config.name, stages };
}

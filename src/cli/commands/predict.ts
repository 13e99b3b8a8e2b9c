// exp predict <run>: new predictions from a trained run's best checkpoint, without retraining
// (e.g. another TTA count), stored beside the originals and recorded in run.json. The work is
// src/stages/run-predict.ts; this maps the options and prints the result.
import { resolve } from 'node:path';
import { resolveRunArgs } from '../../runs/read.ts';
import { openRun } from '../../runs/record.ts';
import { predictRun } from '../../stages/run-predict.ts';
import type { Opts } from '../commands.ts';

export async function run([arg]: string[], opts: Opts<'predict'>): Promise<number> {
  const [dir] = resolveRunArgs([arg], resolve(opts['runs-dir']));
  const r = await predictRun(openRun(dir), { split: opts.split, tta: opts.tta, backend: opts.backend ?? 'auto', quiet: opts.quiet });
  let line = `${r.dir}: ${r.outcome.rows} rows`;
  const m = r.outcome.metrics[`tta${r.tta}`];
  if (m) {
    const target = Object.keys(m)[0]; // the finest level comes first
    const t = m[target] as { macro_f1: number; accuracy: number };
    line += `, ${target} macro-F1 ${t.macro_f1.toFixed(4)}, accuracy ${t.accuracy.toFixed(4)}`;
  }
  process.stdout.write(`${line}\n`);
  return 0;
}

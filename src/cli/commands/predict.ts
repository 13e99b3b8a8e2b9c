// exp predict <run>: new predictions from a trained run's best checkpoint, without retraining
// (e.g. another TTA count), stored beside the originals and recorded in run.json. The work is
// src/stages/run-predict.ts; this maps the options and prints the result.
import { resolve } from 'node:path';
import { resolveRunArgs } from '../../runs/read.ts';
import { openRun } from '../../runs/record.ts';
import { UserError } from '../../errors.ts';
import type { BackendName } from '../../model/backend.ts';
import { predictRun } from '../../stages/run-predict.ts';

export async function run([arg]: string[], opts: { split?: string; tta?: number; backend?: string; 'runs-dir'?: string }): Promise<number> {
  const [dir] = resolveRunArgs([arg], resolve(opts['runs-dir'] ?? 'runs'));
  const split = opts.split ?? 'val';
  if (split !== 'val' && split !== 'test') throw new UserError(`--split ${split}: expected val or test`);
  const tta = opts.tta === undefined ? undefined : Number(opts.tta);
  if (tta !== undefined && !(Number.isInteger(tta) && tta >= 1)) throw new UserError(`--tta ${opts.tta}: expected a whole number >= 1`);
  const r = await predictRun(openRun(dir), { split, tta, backend: (opts.backend ?? 'auto') as BackendName });
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

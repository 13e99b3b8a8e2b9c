// exp weights import <checkpoint> --backbone NAME --out DIR: a PyTorch .pth or .safetensors
// state dict -> a tfjs layers-model directory that model.backbone.weights accepts.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../../errors.ts';
import type { Opts } from '../commands.ts';

export async function run([checkpoint]: string[], opts: Opts<'weights import'>): Promise<number> {
  const out = process.stdout;
  if (!existsSync(checkpoint)) throw new UserError(`checkpoint ${checkpoint} does not exist`);
  if (existsSync(opts.out) && readdirSync(opts.out).some((f) => f !== 'model.json' && f !== 'weights.bin' && f !== 'import-report.json')) {
    throw new UserError(`--out ${opts.out} exists and holds other files; choose a new or empty directory`);
  }
  // tfjs is loaded only for this command (commands load lazily)
  const { ensureBackend } = await import('../../model/backend.ts');
  const { importToDir, formatImportReport } = await import('../../weights/import.ts');
  await ensureBackend('cpu'); // copying weights needs no speed, and cpu always loads
  const report = await importToDir(checkpoint, opts.out, {
    backbone: opts.backbone, includeHead: opts['include-head'], allowPartial: opts['allow-partial'], inputSize: opts['input-size'],
  });
  if (opts.json) out.write(`${JSON.stringify(report, null, 2)}\n`);
  else {
    out.write(`${formatImportReport(report)}\nwrote ${join(opts.out, 'model.json')}; use it with model.backbone.weights: ${opts.out}\n`);
  }
  return 0;
}

// exp weights import <checkpoint> --backbone NAME --out DIR: a PyTorch .pth or .safetensors
// state dict -> a tfjs layers-model directory that model.backbone.weights accepts.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../../errors.ts';

interface Opts {
  backbone?: string;
  out?: string;
  'include-head'?: boolean;
  'allow-partial'?: boolean;
  'input-size'?: string;
  json?: boolean;
}

/** `out` is for tests; the CLI prints to stdout. */
export async function run([checkpoint]: string[], opts: Opts, out: { write(s: string): unknown } = process.stdout): Promise<number> {
  if (!opts.backbone) throw new UserError('exp weights import needs --backbone NAME (the architecture the checkpoint was saved from), e.g. --backbone resnet50');
  if (!opts.out) throw new UserError('exp weights import needs --out DIR (where to write the tfjs model directory)');
  const inputSize = opts['input-size'] === undefined ? 224 : Number(opts['input-size']);
  if (!Number.isInteger(inputSize) || inputSize < 32) throw new UserError(`--input-size ${opts['input-size']}: expected a whole number of pixels >= 32`);
  if (!existsSync(checkpoint)) throw new UserError(`checkpoint ${checkpoint} does not exist`);
  if (existsSync(opts.out) && readdirSync(opts.out).some((f) => f !== 'model.json' && f !== 'weights.bin' && f !== 'import-report.json')) {
    throw new UserError(`--out ${opts.out} exists and holds other files; choose a new or empty directory`);
  }
  // tfjs is loaded only for this command (commands load lazily)
  const { ensureBackend } = await import('../../model/backend.ts');
  const { importToDir, formatImportReport } = await import('../../weights/import.ts');
  await ensureBackend('cpu'); // copying weights needs no speed, and cpu always loads
  const report = await importToDir(checkpoint, opts.out, {
    backbone: opts.backbone, includeHead: opts['include-head'] === true, allowPartial: opts['allow-partial'] === true, inputSize,
  });
  if (opts.json) out.write(`${JSON.stringify(report, null, 2)}\n`);
  else {
    out.write(`${formatImportReport(report)}\nwrote ${join(opts.out, 'model.json')}; use it with model.backbone.weights: ${opts.out}\n`);
  }
  return 0;
}

// exp run <file>...: load + validate (data paths must exist), then run each experiment.
import { resolve } from 'node:path';
import { assertValid, loadExperiment } from '../../config/index.ts';
import { runExperiment } from '../../stages/run-experiment.ts';
import { compile } from '../../plan/compile.ts';
import { UserError } from '../../errors.ts';
import type { BackendName } from '../../model/backend.ts';

const BACKENDS = ['auto', 'tensorflow', 'native', 'wasm', 'cpu'];

export async function run(files: string[], opts: Record<string, unknown>): Promise<number> {
  const backend = (opts.backend as string | undefined) ?? 'auto';
  if (!BACKENDS.includes(backend)) throw new UserError(`--backend ${backend}: expected one of ${BACKENDS.join(', ')}`);
  const runsDir = resolve((opts['runs-dir'] as string | undefined) ?? 'runs');
  const sets = (opts.set as string[] | undefined) ?? [];
  // Validate everything first: a typo in the third file should not surface after two hours.
  const loaded = files.map((f) => {
    const l = loadExperiment(f, { sets, mode: 'run' });
    return { loaded: l, config: assertValid(l) };
  });
  if (opts['dry-run']) {
    for (const { config } of loaded) {
      const plan = compile(config);
      process.stdout.write(`${config.name}: ${plan.stages.map((s) => s.id).join(' -> ')}\n`);
    }
    return 0;
  }
  for (const { loaded: l, config } of loaded) {
    const record = await runExperiment(l, config, {
      runsDir,
      backend: backend as BackendName,
      name: opts.name as string | undefined,
      quiet: !!opts.quiet,
      noCache: !!opts['no-cache'],
      argv: process.argv.slice(2),
    });
    const m = record.readMetrics();
    const target = config.data.levels[0];
    const tta = m.val?.[`tta${config.tta.count}`]?.[target] as { macro_f1?: number } | undefined;
    process.stdout.write(`${record.dir}\n${tta?.macro_f1 !== undefined ? `val ${target} macro-F1 ${tta.macro_f1.toFixed(4)}\n` : ''}`);
  }
  return 0;
}

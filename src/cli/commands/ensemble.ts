// exp ensemble <run>... (--logits | --probs): maps the options to runEnsemble (src/stages/run-ensemble.ts)
// and prints the weights, each member's and the ensemble's val metrics, and where the run went.
import { resolve } from 'node:path';
import { UserError } from '../../errors.ts';
import { readRun, resolveRunArgs } from '../../runs/read.ts';
import { runEnsemble } from '../../stages/run-ensemble.ts';
import type { LevelMetrics } from '../../eval/metrics.ts';
import type { Opts } from '../commands.ts';

/** The exp command line recorded in run.json: main.ts's argv after `exp` unless a caller sets it. */
export type EnsembleCliOptions = Opts<'ensemble'> & { argv?: string[] };

function parseWeights(text: string): number[] {
  return text.split(',').map((s) => {
    const w = Number(s.trim());
    if (s.trim() === '' || !Number.isFinite(w)) throw new UserError(`--weights ${text}: "${s}" is not a number; give one relative weight per run, e.g. --weights 2,1.`);
    return w;
  });
}

const fmt = (m: LevelMetrics | undefined): string => (m ? `macro-F1 ${m.macro_f1.toFixed(4)}  accuracy ${m.accuracy.toFixed(4)}` : '(no labels)');

export async function run(args: string[], opts: EnsembleCliOptions): Promise<number> {
  // the parser has checked that exactly one of --logits and --probs is given (commands.ts oneOf)
  const method = opts.logits ? 'logits' : 'probs';
  const runsDir = resolve(opts['runs-dir']);
  const dirs = resolveRunArgs(args, runsDir);
  const views = dirs.map((d) => readRun(d));
  const splits = opts.split?.split(',').map((s) => s.trim()).filter(Boolean);
  const r = await runEnsemble({
    views,
    method,
    weights: opts.weights !== undefined ? parseWeights(opts.weights) : undefined,
    optimize: opts.optimize,
    splits,
    tta: opts.tta,
    outDir: resolve(opts.out ?? runsDir),
    name: opts.name,
    argv: opts.argv ?? process.argv.slice(2),
    quiet: opts.quiet,
  });
  const out = process.stdout;
  const target = Object.keys(r.metrics)[0]; // the finest level comes first
  out.write(`ensemble of ${views.length} runs, ${method === 'logits' ? 'mean of logits' : 'mean of probabilities'}, splits: ${r.splits.join(', ')}\n`);
  for (const m of r.members) {
    out.write(`  ${m.weight.toFixed(3)}  ${m.id}${target ? `  val ${target} ${fmt(m.metrics[target])}` : ''}\n`);
  }
  if (target) out.write(`  ensemble val ${target} ${fmt(r.metrics[target])}\n`);
  if (r.optimized) {
    process.stderr.write(
      `warning: the weights (${r.weights.map((w) => w.toFixed(3)).join(', ')}) were chosen on val ` +
      `(grid step 1/${r.optimized.steps}, ${r.optimized.candidates.length} candidates, best ${r.optimized.level} macro-F1 ${r.optimized.macroF1.toFixed(4)}), ` +
      'so val metrics of this ensemble flatter it; judge it on test or on a held-out split.\n',
    );
  }
  if (r.submission) out.write(`submission: ${r.submission}\n`);
  out.write(`run: ${r.record.dir}\n`);
  return 0;
}

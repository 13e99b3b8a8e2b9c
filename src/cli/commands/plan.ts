// exp plan <file>: the compiled stages, what each writes, and which cached results exist.
import { assertValid, loadExperiment } from '../../config/index.ts';
import { compile, planStatus } from '../../stages/kinds.ts';

export async function run([file]: string[], opts: { set?: string[]; json?: boolean }): Promise<number> {
  const config = assertValid(loadExperiment(file, { sets: opts.set ?? [], mode: 'validate' }));
  const plan = compile(config);
  const status = await planStatus(plan, config);
  if (opts.json) {
    process.stdout.write(JSON.stringify({ ...plan, cache: status }, null, 2) + '\n');
    return 0;
  }
  process.stdout.write(`plan for ${plan.name} (${plan.stages.length} stages):\n`);
  plan.stages.forEach((s, i) => {
    const st = status[s.id];
    const mark = st ? `  [${st}]` : '';
    process.stdout.write(`  ${String(i + 1).padStart(2)}. ${s.title}${mark}\n`);
    if (s.outputs.length) process.stdout.write(`      writes ${s.outputs.join(', ')}\n`);
  });
  return 0;
}

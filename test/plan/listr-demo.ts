// A plan whose middle stage logs one line per "epoch" between progress lines, run by
// test/plan/listr.test.ts in a child process: on a pipe (the plain renderer) and on a
// pseudo-terminal (listr2's default renderer), as a user sees them.
import { runStages } from '../../src/plan/listr.ts';
import type { Plan, StageSpec } from '../../src/plan/types.ts';

const stage = (id: string): StageSpec<'x', null> => ({ id, kind: 'x', title: `stage ${id}`, needs: [], outputs: [], cache: null, params: null });
const plan: Plan<StageSpec<'x', null>> = { name: 'demo', stages: [stage('prep'), stage('train'), stage('after')] };
const tick = () => new Promise((r) => setTimeout(r, 120)); // long enough for a TTY frame

await runStages(plan, async (s, io) => {
  if (s.id === 'train') {
    for (let e = 1; e <= 3; e++) {
      for (let step = 1; step <= 2; step++) {
        io.progress(`epoch ${e}/3 step ${step}/2`);
        await tick();
      }
      io.log(`epoch ${e}: train loss 0.${e}`);
    }
    return { summary: 'best at epoch 3' };
  }
  io.progress(`${s.id} 1/2 images`);
  await tick();
  io.progress(`${s.id} 2/2 images`);
  await tick();
}, { onLog: (line) => process.stderr.write(`log.txt: ${line}\n`) });

// `exp ls | head`: when the reader of exp's output goes away, exp ends quietly (no "write EPIPE",
// no stack trace) with the exit code the command would have had. The reading end of the pipe is
// closed before exp writes anything, so every write it makes meets a closed pipe.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { exp } from './helpers.ts';
import { makeRun, synthPredictions } from '../runs/compare/fixture.ts';

async function closedPipe(args: string[]): Promise<{ code: number | null; stderr: string }> {
  const p = exp(args);
  p.child.stdout!.destroy(); // the reader is gone, as after `| head -1` has read its line
  const r = await p;
  return { code: r.code, stderr: r.stderr };
}

test('every command ends quietly when its stdout pipe closes', async () => {
  const runs = mkdtempSync(join(tmpdir(), 'exp-pipe-'));
  const classes = Array.from({ length: 6 }, (_x, i) => i);
  for (const [name, acc] of [['a', 0.6], ['b', 0.7]] as const) {
    const p = synthPredictions(40, 6, acc, name === 'a' ? 1 : 2);
    await makeRun(runs, { name, ids: p.ids, labels: p.labels, pred: p.pred, classes, epochs: [{ f1: acc, loss: 1 }] });
  }
  const cases: [string[], number][] = [
    [['--help'], 0],
    [['run', '--help'], 0],
    [['plan', 'experiments/quickstart.yaml'], 0],
    [['plan', 'experiments/quickstart.yaml', '--json'], 0],
    [['validate', 'experiments/quickstart.yaml'], 0],
    [['ls', '--runs-dir', runs], 0],
    [['compare', join(runs, '*'), '--runs-dir', runs], 0],
    [['show', join(runs, '*a-*'), '--runs-dir', runs], 0],
    [['data', 'inspect', 'data/sample/train'], 0],
    [['run', 'experiments/quickstart.yaml', '--dry-run'], 0],
    [['rn'], 2], // errors go to stderr, which is still open: the message is there
  ];
  for (const [args, code] of cases) {
    const r = await closedPipe(args);
    assert.equal(r.code, code, `exp ${args.join(' ')}: ${r.stderr}`);
    assert.doesNotMatch(r.stderr, /EPIPE|\n\s+at |internal error/, `exp ${args.join(' ')}`);
    if (code === 2) assert.match(r.stderr, /^error: unknown command 'rn'/);
  }
});

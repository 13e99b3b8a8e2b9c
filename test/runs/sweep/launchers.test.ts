// The launcher seam: the registry names the launchers (an unknown one lists the choices), and the
// local launcher runs the pending points one after another, skips what the records say is done
// or running, keeps going past a failed point and stops at an interrupted one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launchers } from '../../../src/runs/sweep/launchers.ts';
import type { LoadedPoint, PointState, SweepSubmission } from '../../../src/runs/sweep/launcher.ts';
import type { SweepRecord } from '../../../src/runs/sweep/define.ts';
import { InterruptedError, RunError, UserError } from '../../../src/errors.ts';

test('launchers are a registry: local and slurm are there, an unknown name is a UserError listing the choices', () => {
  assert.ok(launchers.names().includes('local'));
  assert.ok(launchers.names().includes('slurm'));
  for (const l of launchers.list()) {
    assert.equal(typeof l.value.submit, 'function');
    assert.equal(typeof l.value.query, 'function');
    assert.equal(typeof l.value.cancel, 'function');
    assert.ok(l.description.length > 0);
  }
  assert.throws(() => launchers.get('slurmm'), (e: unknown) => e instanceof UserError && /unknown launcher 'slurmm'; did you mean 'slurm'\? Available: local, slurm/.test(e.message));
});

function submission(states: PointState[], run: (i: number) => Promise<void>) {
  const points = states.map((_s, index) => ({ point: { index, point: { seed: index + 1 }, overrides: [] } }) as unknown as LoadedPoint);
  const sweep = { id: 'sw-000000000000', keys: ['seed'], points: points.map((p) => p.point) } as unknown as SweepRecord;
  const info: string[] = [];
  const warn: string[] = [];
  const ran: number[] = [];
  const s: SweepSubmission = {
    sweep, runsDir: '/nowhere', points, settings: {} as SweepSubmission['settings'], wait: false, pointArgs: [],
    stateOf: async (p) => states[p.point.index],
    run: async (p) => {
      ran.push(p.point.index);
      await run(p.point.index);
    },
    report: { info: (l) => info.push(l), warn: (l) => warn.push(l) },
  };
  return { s, info, warn, ran };
}

test('local: pending points run in order, completed and running ones are skipped, a failed point does not stop the sweep', async () => {
  const t = submission(
    [{ state: 'pending' }, { state: 'completed', dir: 'runs/a' }, { state: 'pending' }, { state: 'running', dir: 'runs/b' }, { state: 'pending' }],
    async (i) => {
      if (i === 2) throw new RunError('training diverged');
    },
  );
  const r = await launchers.get('local').submit(t.s);
  assert.deepEqual(t.ran, [0, 2, 4]);
  assert.deepEqual(r, { submitted: 3, skipped: 2, failed: 1 });
  assert.equal(t.info[0], 'point 1/5 (sw-000000000000/0): seed=1');
  assert.ok(t.info.includes('  already completed with the same identity: runs/a (skipped)'));
  assert.ok(t.info.some((l) => l.startsWith('  running in runs/b (another process?); skipped.')));
  assert.deepEqual(t.warn, ['point sw-000000000000/2 failed: training diverged']);
  assert.deepEqual(await launchers.get('local').query(t.s.sweep, '/nowhere'), new Map());
});

test('local: an interrupted point stops the sweep, and a bug is not counted as a failed point', async () => {
  const interrupted = submission([{ state: 'pending' }, { state: 'pending' }], async () => {
    throw new InterruptedError('SIGINT');
  });
  await assert.rejects(launchers.get('local').submit(interrupted.s), InterruptedError);
  assert.deepEqual(interrupted.ran, [0]);
  const bug = submission([{ state: 'pending' }, { state: 'pending' }], async () => {
    throw new TypeError('x is undefined');
  });
  await assert.rejects(launchers.get('local').submit(bug.s), TypeError);
  assert.deepEqual(bug.ran, [0]);
});

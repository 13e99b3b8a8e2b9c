// The slurm launcher's parts that need no cluster: the --array index syntax, the batch script
// (its #SBATCH lines from the launcher block, and its signal forwarding and requeue run for real
// in bash with stand-ins for exp and scontrol), the launcher block staying out of the run
// identity, sweep records with paths relative to the runs directory (and old absolute ones still
// read), and the local-filesystem check.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { arrayIndices, renderScript, type SlurmSettings } from '../../src/runs/slurm/script.ts';
import { localFilesystem } from '../../src/runs/slurm/shared-fs.ts';
import { configHash } from '../../src/runs/identity.ts';
import { assertValid, loadExperiment } from '../../src/config/index.ts';
import { readSweepFile } from '../../src/runs/read.ts';
import { sweepRecordPath, writeSweepRecord, type SweepRecord } from '../../src/runs/sweep/define.ts';
import { loadRecordedSweep, prepareExperiment } from '../../src/runs/sweep/run.ts';
import { ROOT } from '../cli/helpers.ts';

const settings = (o: Partial<SlurmSettings> = {}): SlurmSettings => ({
  name: 'slurm', partition: null, time: null, cpus_per_task: null, mem: null, gpus: null, account: null, qos: null, parallelism: null,
  signal_seconds: 300, max_requeues: 3, nodes: 'cluster', exp: null, sbatch: [], setup: [], ...o,
});

test('array indices: sorted, deduplicated, runs of three or more as ranges', () => {
  assert.equal(arrayIndices([0, 3, 7, 8, 9]), '0,3,7-9');
  assert.equal(arrayIndices([9, 8, 7, 0, 3, 3]), '0,3,7-9');
  assert.equal(arrayIndices([4, 5]), '4,5');
  assert.equal(arrayIndices([2]), '2');
  assert.equal(arrayIndices([0, 1, 2, 3, 10, 11, 12]), '0-3,10-12');
});

test('the batch script asks for what the launcher block says, GPUs as --gres', () => {
  const s = renderScript({
    sweep: 'sw-0123456789ab', points: 4, jobName: 'exp-sw-0123456789ab-abcdef', runsDir: 'runs', log: 'runs/.sweeps/sw-0123456789ab/%A_%a.log',
    exp: 'exp', resubmit: 'exp sweep submit sw-0123456789ab',
    settings: settings({ partition: 'gpu', time: '04:00:00', cpus_per_task: 8, mem: '32G', gpus: 1, account: 'lab', qos: 'normal', signal_seconds: 600, sbatch: ['--constraint=a100'], setup: ['module load nodejs/20 cuda/11.2'] }),
  });
  const sb = s.split('\n').filter((l) => l.startsWith('#SBATCH ')).map((l) => l.slice(8));
  assert.deepEqual(sb, [
    '--job-name=exp-sw-0123456789ab-abcdef', '--output=runs/.sweeps/sw-0123456789ab/%A_%a.log', '--open-mode=append', '--requeue',
    '--signal=B:USR2@600', '--partition=gpu', '--time=04:00:00', '--cpus-per-task=8', '--mem=32G', '--gres=gpu:1', '--account=lab', '--qos=normal',
    '--constraint=a100',
  ]);
  assert.ok(s.indexOf('module load nodejs/20 cuda/11.2') < s.indexOf('exp run --point "$point"'), 'setup runs before exp');
  assert.match(renderScript({ sweep: 'sw-0123456789ab', points: 1, jobName: 'j', runsDir: 'r', log: 'l', exp: 'exp', resubmit: 'x', settings: settings({ gpus: 'a100:2', signal_seconds: 0 }) }), /#SBATCH --gres=gpu:a100:2\n(?![^]*--signal)/);
});

/** Runs the batch script in bash with a stand-in exp (exits 140 on USR2, like exp run --point) and scontrol. */
async function runScript(restarts: number, signal: boolean): Promise<{ code: number | null; out: string; requeued: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'exp-slurm-script-'));
  try {
    writeFileSync(join(dir, 'fake-exp'), '#!/bin/bash\necho "exp $*"\ntrap \'echo "exp got USR2"; exit 140\' USR2\nfor i in $(seq 100); do sleep 0.1; done\nexit 0\n');
    writeFileSync(join(dir, 'scontrol'), `#!/bin/bash\necho "$*" > ${join(dir, 'requeued')}\n`);
    chmodSync(join(dir, 'fake-exp'), 0o755);
    chmodSync(join(dir, 'scontrol'), 0o755);
    writeFileSync(join(dir, 'requeued'), '');
    const script = renderScript({ sweep: 'sw-0123456789ab', points: 4, jobName: 'j', runsDir: 'runs', log: 'l', exp: join(dir, 'fake-exp'), resubmit: 'exp sweep submit sw-0123456789ab', settings: settings({ max_requeues: 2 }) });
    writeFileSync(join(dir, 'job.sh'), script);
    const child = spawn('bash', [join(dir, 'job.sh')], {
      env: { ...process.env, PATH: `${dir}:${process.env.PATH}`, SLURM_ARRAY_TASK_ID: '3', SLURM_ARRAY_JOB_ID: '77', SLURM_RESTART_COUNT: String(restarts) },
    });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      if (signal && out.includes('exp run --point') && !out.includes('sent')) {
        out += 'sent\n';
        setTimeout(() => child.kill('SIGUSR2'), 200);
      }
    });
    const code = await new Promise<number | null>((res) => child.on('close', res));
    return { code, out, requeued: readFileSync(join(dir, 'requeued'), 'utf8').trim() };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('the batch script forwards USR2 to exp and requeues its task when exp exits 140, up to max_requeues', async () => {
  const first = await runScript(0, true);
  assert.match(first.out, /exp run --point sw-0123456789ab\/3 --runs-dir runs/);
  assert.match(first.out, /warning signal from Slurm[^]*exp got USR2/);
  assert.equal(first.code, 140);
  assert.equal(first.requeued, 'requeue 77_3');
  assert.match(first.out, /requeueing it \(requeue 1 of 2\)/);
  const last = await runScript(2, true);
  assert.equal(last.code, 140);
  assert.equal(last.requeued, '', 'not requeued a third time');
  assert.match(last.out, /requeued 2 times already \(launcher\.max_requeues\); continue it with: exp sweep submit/);
});

test('the launcher block is not part of a run\'s identity', () => {
  const loaded = loadExperiment(join(ROOT, 'experiments/quickstart.yaml'), { mode: 'validate' });
  const config = assertValid(loaded);
  const other = { ...config, launcher: { ...config.launcher, name: 'slurm' as const, partition: 'gpu', gpus: 2, setup: ['module load cuda'] } };
  assert.equal(configHash(other, loaded.asWritten), configHash(config, loaded.asWritten));
  assert.notEqual(configHash({ ...config, seed: config.seed + 1 }, loaded.asWritten), configHash(config, loaded.asWritten), 'the hash does see the config');
  assert.throws(() => prepareExperiment(join(ROOT, 'experiments/quickstart.yaml'), [], [{ key: 'launcher.partition', values: ['a', 'b'], from: 'cli', source: '--sweep launcher.partition' }]),
    /'launcher\.partition' cannot be swept/);
});

test('sweep records hold paths relative to the runs directory, and old records with absolute paths are still read', () => {
  const work = mkdtempSync(join(tmpdir(), 'exp-sweep-paths-'));
  try {
    cpSync(join(ROOT, 'experiments/quickstart.yaml'), join(work, 'q.yaml'));
    const sets = [`data.train=${join(ROOT, 'data/sample/train')}`, 'data.test=null'];
    const job = prepareExperiment(join(work, 'q.yaml'), sets, [], { launcher: 'slurm' });
    assert.ok(job.sweep, 'an experiment without a sweep goes to slurm as a one-point sweep');
    assert.equal(job.sweep.points.length, 1);
    const runs = join(work, 'shared', 'runs');
    mkdirSync(runs, { recursive: true });
    const rec = writeSweepRecord(runs, job.sweep.record);
    const stored = readSweepFile<SweepRecord>(sweepRecordPath(runs, rec.id))!;
    assert.equal(stored.schema_version, 2);
    assert.equal(stored.experiment, '../../q.yaml');
    assert.ok(!stored.cwd.startsWith('/'), stored.cwd);
    // the runs directory and the checkout moved together: the record still finds the experiment
    const moved = join(work, 'moved');
    mkdirSync(moved);
    cpSync(join(work, 'q.yaml'), join(moved, 'q.yaml'));
    cpSync(join(work, 'shared'), join(moved, 'shared'), { recursive: true });
    assert.equal(loadRecordedSweep(join(moved, 'shared', 'runs'), rec.id).base.files.at(-1), join(moved, 'q.yaml'));
    // a record written before (schema_version 1, absolute paths)
    writeFileSync(sweepRecordPath(runs, rec.id), JSON.stringify({ ...stored, schema_version: 1, experiment: join(work, 'q.yaml'), cwd: process.cwd() }));
    assert.equal(loadRecordedSweep(runs, rec.id).points.length, 1);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});

test('a runs directory on a local filesystem is recognised as such', () => {
  const t = spawnSync('stat', ['-f', '-c', '%T', tmpdir()], { encoding: 'utf8' }).stdout.trim();
  if (/^(ext2\/ext3|xfs|btrfs|tmpfs|overlayfs|zfs)$/.test(t)) assert.ok(localFilesystem(join(tmpdir(), 'no', 'such', 'dir')), `${tmpdir()} is ${t}`);
  assert.equal(localFilesystem('/proc'), null, 'procfs is not a filesystem exp knows to be local');
});

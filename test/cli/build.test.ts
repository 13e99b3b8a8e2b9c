// The compiled CLI (scripts/build.js: src/ -> dist/, what bin/exp.js runs once built) behaves as
// the sources do. In a copy of exp, built, every command's help, validate, plan and a training run
// (two wasm replicas, so the worker threads start from dist/ too; and native when its addon is
// built) are run from the sources, then src/ is deleted so that only dist/ can answer, and run again:
// same output, same metrics. The rest of the suite runs the sources (scripts/test.js sets EXP_SOURCES=1).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { exp, ROOT, SMOKE } from './helpers.ts';

const SHIPPED = ['bin', 'src', 'scripts', 'schemas', 'experiments', 'data/sample', 'package.json', 'package-lock.json'];
const NATIVE = existsSync(join(ROOT, 'build', 'Release', 'exp_native.node'));

function copyOfExp(): string {
  const dir = join(mkdtempSync(join(tmpdir(), 'exp-build-')), 'exp');
  for (const p of SHIPPED) cpSync(join(ROOT, p), join(dir, p), { recursive: true });
  if (existsSync(join(ROOT, 'build', 'Release'))) cpSync(join(ROOT, 'build', 'Release'), join(dir, 'build', 'Release'), { recursive: true });
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  return dir;
}

const metrics = (runs: string) => JSON.parse(readFileSync(join(runs, readdirSync(runs)[0], 'metrics.json'), 'utf8'));

test('the compiled CLI (dist/) gives the same output and the same metrics as the sources', async () => {
  const dir = copyOfExp();
  const log = execFileSync(process.execPath, ['scripts/build.js'], { cwd: dir, encoding: 'utf8' });
  assert.match(log, /compiled \d+ modules/);
  assert.ok(existsSync(join(dir, 'dist', 'cli', 'main.js')) && existsSync(join(dir, 'dist', 'util', 'worker.mjs')));

  const top = await exp(['--help'], { cwd: dir, bin: join(dir, 'bin', 'exp.js') });
  const names = [...top.stdout.matchAll(/^ {2}(\S+(?: [a-z]+)?) {2,}/gm)].map((m) => m[1]);
  const train = [...SMOKE, '--set', 'data.test=null', '--set', 'train.replicas=2', '--backend', 'wasm', '--quiet'];
  const commands: string[][] = [
    ['--help'], ['--version'], ['data', '--help'], ...names.map((n) => [...n.split(' '), '--help']),
    ['validate', 'experiments/quickstart.yaml', 'experiments/focal-hier.yaml'], ['plan', 'experiments/quickstart.yaml'],
    ['rn'], ['ensemble', 'a', '--logits', '--probs'],
  ];
  const runAll = async (env: Record<string, string>) => {
    const out: string[] = [];
    for (const c of commands) {
      const r = await exp(c, { cwd: dir, env, bin: join(dir, 'bin', 'exp.js') });
      out.push(`$ exp ${c.join(' ')} -> ${r.code}\n${r.stdout}${r.stderr}`);
    }
    const runs = join(dir, `runs-${env.EXP_SOURCES}`);
    const r = await exp(['run', 'experiments/quickstart.yaml', ...train, '--runs-dir', runs], { cwd: dir, env, bin: join(dir, 'bin', 'exp.js') });
    assert.equal(r.code, 0, r.stderr);
    return { out, metrics: metrics(runs) };
  };
  const sources = await runAll({ EXP_SOURCES: '1' });

  // Only dist/ can answer now.
  rmSync(join(dir, 'src'), { recursive: true });
  const built = await runAll({ EXP_SOURCES: '0' });
  assert.deepEqual(built.out, sources.out);
  assert.deepEqual(built.metrics, sources.metrics, 'wasm is deterministic: the same metrics from either');

  if (NATIVE) {
    const runs = join(dir, 'runs-native');
    const r = await exp(['run', 'experiments/quickstart.yaml', ...SMOKE, '--set', 'data.test=null', '--backend', 'native', '--quiet', '--runs-dir', runs], { cwd: dir, env: { EXP_SOURCES: '0' }, bin: join(dir, 'bin', 'exp.js') });
    assert.equal(r.code, 0, r.stderr);
    const run = JSON.parse(readFileSync(join(runs, readdirSync(runs)[0], 'run.json'), 'utf8'));
    assert.equal(run.backend.name, 'native');
  } else {
    console.log('# skipped the native run from dist/: build/Release/exp_native.node is not built (apt-get install libdnnl-dev && npm rebuild)');
  }
});

test('bin/exp.js runs the sources when one is newer than the build', async () => {
  const dir = copyOfExp();
  execFileSync(process.execPath, ['scripts/build.js'], { cwd: dir });
  const bin = join(dir, 'bin', 'exp.js');
  const fresh = await exp(['--version'], { cwd: dir, env: { EXP_SOURCES: '0' }, bin });
  assert.equal(fresh.code, 0, fresh.stderr);
  // A syntax error in the sources only: the build still works, the sources do not.
  const version = join(dir, 'src', 'cli', 'version.ts');
  execFileSync('sh', ['-c', `printf 'export const EXP_VERSION: string = ;\\n' > ${JSON.stringify(version)}`]);
  const future = new Date(Date.now() + 5000);
  utimesSync(version, future, future);
  const stale = await exp(['--version'], { cwd: dir, env: { EXP_SOURCES: '0' }, bin });
  assert.notEqual(stale.code, 0, 'the edited source ran, not the older build');
  assert.doesNotMatch(stale.stdout, /^exp \d/);
});

// `exp reproduce`: the run's code is rebuilt from its record alone (commit + git.patch, with the
// built addons) and the verdict compares metrics, naming why they may differ. The runs are made in
// a throwaway git repository holding a copy of exp (so this test neither depends on nor touches the
// project's own history): once clean, once with an uncommitted edit and an untracked experiment
// file that only git.patch carries; and on the native backend when its addon is built here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { appendFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { exp, ROOT, SMOKE } from './helpers.ts';
import { compareMetrics, expectation } from '../../src/runs/reproduce.ts';
import type { RunJson } from '../../src/runs/schemas.ts';

const SHIPPED = ['bin', 'src', 'scripts', 'native', 'schemas', 'experiments', 'data/sample', 'package.json', 'package-lock.json', 'tsconfig.json', '.gitignore'];
const NATIVE = existsSync(join(ROOT, 'build', 'Release', 'exp_native.node'));

function scratchRepo(): string {
  const base = mkdtempSync(join(tmpdir(), 'exp-repro-repo-'));
  const repo = join(base, 'repo');
  // not native/**/build/: node-gyp's scratch space (ignored by git anyway)
  for (const p of SHIPPED) cpSync(join(ROOT, p), join(repo, p), { recursive: true, filter: (f) => !/[\\/]native[\\/](.*[\\/])?build$/.test(f) });
  // one level up, so the repository itself stays clean (Node looks for packages in parent folders)
  symlinkSync(join(ROOT, 'node_modules'), join(base, 'node_modules'), 'dir');
  git(repo, 'init', '-q');
  git(repo, 'add', '-A');
  git(repo, 'commit', '-q', '-m', 'snapshot');
  return repo;
}

const git = (repo: string, ...args: string[]) => execFileSync('git', ['-c', 'user.name=exp test', '-c', 'user.email=test@exp', ...args], { cwd: repo, stdio: 'pipe' });

const onlyRun = (runs: string) => join(runs, readdirSync(runs)[0]);
const json = (p: string) => JSON.parse(readFileSync(p, 'utf8'));

test('reproduce rebuilds a clean run and a dirty run (edit + untracked file) and finds the same metrics', async () => {
  const repo = scratchRepo();
  const bin = ['--backend', 'wasm', '--quiet'];
  const clean = join(repo, '..', 'runs-clean');
  const a = await exp(['run', 'experiments/quickstart.yaml', ...SMOKE, '--runs-dir', clean, ...bin], { cwd: repo });
  assert.equal(a.code, 0, a.stderr);
  assert.equal(json(join(onlyRun(clean), 'run.json')).git.dirty, false);
  const ra = await exp(['reproduce', onlyRun(clean), '--quiet'], { cwd: repo });
  assert.equal(ra.code, 0, ra.stderr + ra.stdout);
  assert.match(ra.stdout, /^reproduced: \d+ metric values agree, exact comparison \(wasm is deterministic\)/);

  // Dirty: a tracked edit that changes results and an untracked experiment; without git.patch
  // the rebuilt tree would have neither and the metrics (or the run itself) would differ.
  const q = join(repo, 'experiments', 'quickstart.yaml');
  writeFileSync(q, readFileSync(q, 'utf8').replace('lr: 3.0e-3', 'lr: 1.0e-2'));
  mkdirSync(join(repo, 'experiments', 'local'));
  writeFileSync(join(repo, 'experiments', 'local', 'mine.yaml'), 'name: mine\nextends: ../quickstart.yaml\nloss: { gamma: 1 }\n');
  const dirty = join(repo, '..', 'runs-dirty');
  const b = await exp(['run', 'experiments/local/mine.yaml', ...SMOKE, '--runs-dir', dirty, ...bin], { cwd: repo });
  assert.equal(b.code, 0, b.stderr);
  const run = json(join(onlyRun(dirty), 'run.json'));
  assert.equal(run.git.dirty, true);
  assert.equal(run.experiment_path, 'experiments/local/mine.yaml');
  assert.notDeepEqual(json(join(onlyRun(dirty), 'metrics.json')), json(join(onlyRun(clean), 'metrics.json')), 'the edit changes results');
  const rb = await exp(['reproduce', onlyRun(dirty), '--quiet'], { cwd: repo });
  assert.equal(rb.code, 0, rb.stderr + rb.stdout);
  assert.match(rb.stdout, /^reproduced: .* exact comparison/);
  assert.match(rb.stderr, /\+ git\.patch/);
  assert.equal(execFileSync('git', ['worktree', 'list'], { cwd: repo, encoding: 'utf8' }).trim().split('\n').length, 1, 'temporary worktrees removed');
});

test('the verdict compares every metric: exactly, or within the stated tolerance', () => {
  const recorded = { val: { tta1: { species: { macro_f1: 0.5, accuracy: 0.25, top5: 0.75 } } } };
  const same = structuredClone(recorded);
  assert.deepEqual(compareMetrics(recorded, same, 0), { compared: 3, diffs: [], maxAbs: 0 });
  const off = structuredClone(recorded);
  off.val.tta1.species.macro_f1 = 0.5 + 1e-9;
  assert.deepEqual(compareMetrics(recorded, off, 0).diffs.map((d) => d.path), ['val.tta1.species.macro_f1']);
  assert.equal(compareMetrics(recorded, off, 1e-6).diffs.length, 0);
  const missing = { val: { tta1: { species: { macro_f1: 0.5, accuracy: 0.25 } } } };
  assert.deepEqual(compareMetrics(recorded, missing as never, 1).diffs, [{ path: 'val.tta1.species.top5', recorded: 0.75, reproduced: null }]);
});

test('a native run reproduces on native with the built addon (copied, or rebuilt when the recorded addon sources differ); on wasm the verdict blames the backend', { skip: NATIVE ? false : 'build/Release/exp_native.node is not built (apt-get install libdnnl-dev && npm rebuild)' }, async () => {
  const repo = scratchRepo();
  const runs = join(repo, '..', 'runs-native');
  const a = await exp(['run', 'experiments/quickstart.yaml', ...SMOKE, '--set', 'data.test=null', '--runs-dir', runs, '--backend', 'native', '--quiet'], { cwd: repo });
  assert.equal(a.code, 0, a.stderr);
  const dir = onlyRun(runs);
  assert.equal(json(join(dir, 'run.json')).backend.name, 'native');
  const same = await exp(['reproduce', dir, '--quiet'], { cwd: repo });
  assert.equal(same.code, 0, same.stderr + same.stdout);
  assert.match(same.stdout, /^reproduced: \d+ metric values agree, exact comparison \(native is deterministic on the same instruction set and core count: .+, \d+ cores?\)/);
  assert.match(same.stderr, /exp_native: this installation's build \(same sources as the recorded code\)/);

  const wasm = await exp(['reproduce', dir, '--backend', 'wasm', '--quiet'], { cwd: repo });
  assert.doesNotMatch(wasm.stdout, /not guaranteed on wasm|wasm is not deterministic/);
  assert.match(wasm.stdout, /the run trained on native and this reproduction on wasm: results are deterministic per backend, not across backends/);
  // a two-step smoke run may or may not move a metric beyond the tolerance between backends
  if (wasm.code === 1) assert.match(wasm.stdout, /^NOT reproduced: \d+ of \d+ metric values differ by more than 1e-6; bitwise equality was not expected because the run trained on native/);
  else assert.match(wasm.stdout, /^reproduced: \d+ metric values agree, within tolerance 1e-6 absolute \(bitwise equality was not expected: the run trained on native/);

  // The recorded commit's addon source is not this installation's: the addon is rebuilt from it.
  appendFileSync(join(repo, 'native', 'addon.cc'), '// a comment: other sources, the same kernels\n');
  git(repo, 'commit', '-q', '-am', 'native: a comment');
  const runs2 = join(repo, '..', 'runs-native-2');
  const b = await exp(['run', 'experiments/quickstart.yaml', ...SMOKE, '--set', 'data.test=null', '--runs-dir', runs2, '--backend', 'native', '--quiet'], { cwd: repo });
  assert.equal(b.code, 0, b.stderr);
  const rebuilt = await exp(['reproduce', onlyRun(runs2), '--quiet'], { cwd: repo });
  assert.equal(rebuilt.code, 0, rebuilt.stderr + rebuilt.stdout);
  assert.match(rebuilt.stderr, /exp_native: rebuilt from the recorded sources \(they differ from this installation's\)/);
  assert.match(rebuilt.stdout, /^reproduced: .* exact comparison \(native is deterministic/);
});

function record(over: { backend?: Partial<NonNullable<RunJson['backend']>>; cpu?: Partial<NonNullable<RunJson['versions']['cpu']>> | null; tfjs?: string; decoder?: string; fingerprint?: string } = {}): RunJson {
  const cpu = { model: 'AMD EPYC 7763', isa: 'x86-64-v3', simd: ['avx', 'avx2', 'fma'], cores: 8 };
  return {
    backend: { name: 'native', version: 'exp_native (on 4.22.0)', deterministic: true, replicas: 1, ...over.backend },
    versions: { node: 'v20.11.1', exp: '0.1.0', tfjs: over.tfjs ?? '4.22.0', lockfile_sha256: 'a'.repeat(64), ...(over.cpu === null ? {} : { cpu: { ...cpu, ...over.cpu } }) },
    data: { fingerprint: over.fingerprint ?? 'f'.repeat(64), counts: { train: 1 }, decoder: over.decoder ?? 'sharp 0.35.5' },
  } as RunJson;
}

test('the verdict names every cause of a difference: backend, CPU (native only), library versions, decoder, data', () => {
  assert.deepEqual(expectation(record(), record()), { exact: true, basis: 'native is deterministic on the same instruction set and core count: AMD EPYC 7763, x86-64-v3 (avx avx2 fma), 8 cores', reasons: [] });
  const wasm = (o: Parameters<typeof record>[0] = {}) => record({ ...o, backend: { name: 'wasm', version: '4.22.0', ...o.backend } });
  assert.deepEqual(expectation(wasm(), wasm({ cpu: { isa: 'x86-64-v4', cores: 2 } })), { exact: true, basis: 'wasm is deterministic', reasons: [] }, 'wasm does not depend on the CPU');
  const across = expectation(record(), wasm());
  assert.equal(across.exact, false);
  assert.deepEqual(across.reasons, ['the run trained on native and this reproduction on wasm: results are deterministic per backend, not across backends']);
  assert.match(expectation(record(), record({ cpu: { isa: 'x86-64-v4', simd: ['avx', 'avx2', 'fma', 'avx512f'] } })).reasons[0],
    /^the run's CPU \(AMD EPYC 7763, x86-64-v3 \(avx avx2 fma\), 8 cores\) is not this one \(AMD EPYC 7763, x86-64-v4 \(avx avx2 fma avx512f\), 8 cores\): native's oneDNN picks kernels by instruction set/);
  assert.match(expectation(record(), record({ cpu: { cores: 4 } })).reasons[0], /8 cores\) is not this one \(.*4 cores\)/);
  assert.match(expectation(record({ cpu: null }), record()).reasons[0], /record has no CPU/);
  assert.deepEqual(expectation(record({ backend: { name: 'tensorflow', deterministic: false } }), record({ backend: { name: 'tensorflow', deterministic: false } })).reasons,
    ['tensorflow is not deterministic (its results vary from run to run)']);
  assert.deepEqual(expectation(wasm({ tfjs: '4.21.0', decoder: 'libjpeg-turbo 2.1.5 (exp_jpeg) for JPEG, sharp 0.35.5 (libvips 8.18.7) otherwise', fingerprint: 'e'.repeat(64) }), wasm()).reasons, [
    'tfjs 4.21.0 then, 4.22.0 now',
    "images decoded by sharp 0.35.5, the run's by libjpeg-turbo 2.1.5 (exp_jpeg) for JPEG, sharp 0.35.5 (libvips 8.18.7) otherwise",
    'the data changed since the run (its fingerprint differs)',
  ]);
});

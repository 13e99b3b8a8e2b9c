// exp compare over real run records (createRun + NpyWriter, see fixture.ts): every
// format, quoted globs, --baseline, failed/interrupted/running runs, pairing through the files with
// shuffled rows, the not-comparable and error cases, and the command line itself.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compareRuns } from '../../../src/runs/compare/load.ts';
import { render } from '../../../src/runs/compare/render.ts';
import { UserError } from '../../../src/errors.ts';
import { makeRun, shuffled, synthPredictions } from './fixture.ts';

const C = 12;
const CLASSES = Array.from({ length: C }, (_x, i) => 1000 + i);
const curve = (f1s: number[]) => f1s.map((f, i) => ({ f1: f, loss: 2.2 - f - 0.05 * i }));

let root: string;
let runsDir: string;
const dirs: Record<string, string> = {};

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'exp-compare-'));
  runsDir = join(root, 'runs');
  const t = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s));
  const a = synthPredictions(300, C, 0.55, 1);
  const b = synthPredictions(300, C, 0.75, 2);
  dirs.base = await makeRun(runsDir, { name: 'base', ...a, classes: CLASSES, epochs: curve([0.2, 0.4, 0.5]), tta: [1, 4], now: t(1) });
  // same examples in another row order: pairing must align by id
  dirs.jitter = await makeRun(runsDir, { name: 'jitter', ...shuffled(b, 5), classes: CLASSES, epochs: curve([0.3, 0.5, 0.7]), tta: [1, 4], now: t(2),
    config: { augment: { color_jitter: { enabled: true } }, schedule: { milestones: [5, 10] } } });
  dirs.unshuffled = await makeRun(join(root, 'other-runs'), { name: 'jitter', ...b, classes: CLASSES, tta: [1, 4], now: t(3),
    config: { augment: { color_jitter: { enabled: true } }, schedule: { milestones: [5, 10] } } });
  const c = synthPredictions(290, C, 0.5, 3);
  dirs.otherval = await makeRun(runsDir, { name: 'otherval', ...c, ids: c.ids.map((x, i) => (i < 25 ? `z${i}` : x)), classes: CLASSES, epochs: curve([0.1, 0.2]),
    status: 'failed', now: t(4), config: { data: { val: { seed: 7 } } } });
  dirs.stopped = await makeRun(runsDir, { name: 'stopped', ...a, classes: CLASSES, epochs: curve([0.15]), tta: [], status: 'interrupted', now: t(5) });
  dirs.running = await makeRun(runsDir, { name: 'running', ...a, classes: CLASSES, tta: [], status: 'running', now: t(6) });
});
after(() => rmSync(root, { recursive: true, force: true }));

test('a quoted glob compares every run; the first is the baseline; statuses are shown, nothing crashes', async () => {
  const r = await compareRuns([`${runsDir}/*`], { 'runs-dir': runsDir });
  assert.deepEqual(r.runs.map((x) => [x.name, x.status]), [['base', 'completed'], ['jitter', 'completed'], ['otherval', 'failed'], ['stopped', 'interrupted'], ['running', 'running']]);
  assert.equal(r.baseline, r.runs[0].id);
  assert.match(r.runs[2].error ?? '', /NaN.*stage train/);
  assert.deepEqual(r.config.map((d) => d.key), ['data.val.seed', 'schedule.milestones', 'augment.color_jitter.enabled']);
  assert.deepEqual(r.config[1].values, [[8, 12], [5, 10], [8, 12], [8, 12], [8, 12]]);
  const sig = r.significance!;
  assert.equal(sig.level, 'species');
  const [jit, other, stopped, running] = sig.pairs;
  assert.ok(jit.comparable && jit.verdict === 'beyond example noise' && jit.ttaA === 4 && jit.n === 300);
  assert.ok(!other.comparable && /different validation sets: 35 ids only in the baseline, 25 only in this run — their configs differ in data\.val\.seed \(139 vs 7\)/.test(other.reason));
  assert.ok(!stopped.comparable && /no predictions on val \(status interrupted\)/.test(stopped.reason));
  assert.ok(!running.comparable && /status running/.test(running.reason));
  // metrics per TTA count; deltas from the baseline
  const sp = r.metrics.find((b) => b.split === 'val' && b.level === 'species')!;
  assert.deepEqual(sp.ttas, ['tta1', 'tta4']);
  assert.ok(sp.rows[1].deltas.tta4!.accuracy! > 0.1);
  assert.equal(sp.rows[4].values.tta1, null);
  assert.deepEqual(r.curves.runs.map((c) => c.epochs.length), [3, 3, 2, 1, 0]);
});

test('pairing reads index.json ids: a run with shuffled rows gives the same significance as the same run unshuffled', async () => {
  const shuffledRun = await compareRuns([dirs.base, dirs.jitter], {});
  const straight = await compareRuns([dirs.base, dirs.unshuffled], {});
  const [p, q] = [shuffledRun.significance!.pairs[0], straight.significance!.pairs[0]];
  assert.ok(p.comparable && q.comparable);
  assert.deepEqual({ ...p, run: '' }, { ...q, run: '' });
});

test('--baseline moves a run to the front; --split and --level narrow the report', async () => {
  const r = await compareRuns([dirs.base, dirs.jitter], { baseline: dirs.jitter, level: 'genus', split: 'val' });
  assert.deepEqual(r.runs.map((x) => x.name), ['jitter', 'base']);
  assert.deepEqual(r.metrics.map((b) => b.level), ['genus']);
  assert.equal(r.significance!.level, 'genus');
  const p = r.significance!.pairs[0];
  assert.ok(p.comparable && p.bootstrap.accuracy.diff < 0, 'base is worse than the jitter baseline');
  await assert.rejects(compareRuns([dirs.base], { level: 'kingdom' }), (e: Error) => e instanceof UserError && /--level kingdom/.test(e.message));
});

test('every format renders the same report', async () => {
  const r = await compareRuns([dirs.base, dirs.jitter, dirs.otherval, dirs.running], {});
  const table = render(r, 'table');
  assert.match(table, /^runs \(4\)/);
  assert.match(table, /base \(baseline\)/);
  assert.match(table, /augment\.color_jitter\.enabled\s+false\s+true\s+false\s+false/);
  assert.match(table, /otherval\s+failed/);
  assert.match(table, /jitter\s+base \(baseline\)\s+4\s+300\s+\+0\.\d{4} \[0\.\d{4}, 0\.\d{4}\].*beyond example noise/);
  assert.match(table, /otherval: not comparable pairwise: different validation sets/);
  assert.match(table, /base \(baseline\)\s+3\s+[▁-█]{3}\s/);

  const md = render(r, 'md');
  assert.match(md, /^## exp compare: 4 run\(s\)/);
  assert.match(md, /\| key \| base \(baseline\) \| jitter \| otherval \| running \|/);
  assert.match(md, /\| schedule\.milestones \| \[8, 12\] \| \[5, 10\] \| \[8, 12\] \| \[8, 12\] \|/);
  assert.match(md, /`[▁-█]{3}`/);

  const json = JSON.parse(render(r, 'json'));
  assert.equal(json.runs.length, 4);
  assert.equal(json.significance.pairs[0].verdict, 'beyond example noise');
  assert.equal(json.significance.pairs[0].bootstrap.resamples, 1000);
  assert.deepEqual(json.curves.runs[0].macro_f1, [0.2, 0.4, 0.5]);

  const csv = render(r, 'csv').trimEnd().split('\n').map((l) => l.split(','));
  assert.deepEqual(csv[0], ['run', 'label', 'status', 'section', 'split', 'tta', 'level', 'epoch', 'key', 'value', 'baseline', 'delta']);
  assert.ok(csv.every((l) => l.length === 12 || l.join(',').includes('"')), 'one value per line, 12 columns');
  const f1 = csv.find((l) => l[1] === 'jitter' && l[3] === 'metric' && l[5] === 'tta4' && l[6] === 'species' && l[8] === 'macro_f1')!;
  assert.ok(Math.abs(Number(f1[9]) - Number(f1[10]) - Number(f1[11])) < 1e-9, 'delta = value - baseline');
  assert.ok(csv.some((l) => l[3] === 'significance' && l[8] === 'mcnemar_p'));
  assert.ok(csv.some((l) => l[3] === 'config' && l[8] === 'data.val.seed' && l[9] === '7' && l[10] === '139'));
});

test('errors: a path that is not a run, a glob that matches none, runs over different class sets', async () => {
  const notRun = join(root, 'not-a-run');
  mkdirSync(notRun, { recursive: true });
  await assert.rejects(compareRuns([dirs.base, notRun], {}), (e: Error) => e instanceof UserError && /not a run directory: no run\.json/.test(e.message));
  await assert.rejects(compareRuns([`${root}/nothing-*`], {}), (e: Error) => e instanceof UserError && /matches no run directory/.test(e.message));
  const x = synthPredictions(50, 10, 0.5, 1);
  const fewer = await makeRun(join(root, 'runs-classes'), { name: 'ten-classes', ...x, classes: CLASSES.slice(0, 10) });
  await assert.rejects(compareRuns([dirs.base, fewer], {}), (e: Error) => e instanceof UserError && /different class sets: 12 vs 10 species classes/.test(e.message));
});

test('sweeps: runs of one sweep are grouped by the swept keys and paired by seed', async () => {
  const sweepDir = join(root, 'sweep');
  let second = 0;
  for (const jitter of [false, true]) {
    for (const seed of [1, 2]) {
      const p = synthPredictions(120, C, jitter ? 0.6 + 0.05 * seed : 0.6, 10 + seed);
      await makeRun(sweepDir, { name: 'cj', ...p, classes: CLASSES, seed, config: { seed, augment: { color_jitter: { enabled: jitter } } }, now: new Date(Date.UTC(2026, 0, 2, 0, 0, ++second)),
        sweep: { id: 'sw-1', point: { 'augment.color_jitter.enabled': jitter, seed }, keys: ['augment.color_jitter.enabled', 'seed'] } });
    }
  }
  const r = await compareRuns([`${sweepDir}/*`], {});
  assert.ok(r.sweep);
  assert.equal(r.sweep!.groups.length, 2);
  const on = r.sweep!.groups.find((g) => g.point['augment.color_jitter.enabled'] === true)!;
  assert.deepEqual(on.perSeed.map((p) => p.seed).sort(), [1, 2]);
  for (const p of on.perSeed) assert.ok(Math.abs(p.delta! - (p.value! - p.baseline!)) < 1e-12);
  assert.match(render(r, 'table'), /sweep sw-1: val species macro-F1, paired by seed against augment\.color_jitter\.enabled=false/);
});

test('an ensemble run compares like any run, pairing on the same validation ids', async () => {
  // same truth as the base run (synthPredictions keys the labels apart from the predictions), rows shuffled
  const ens = await makeRun(join(root, 'ensembles'), { name: 'blend', kind: 'ensemble', ...shuffled(synthPredictions(300, C, 0.8, 9), 2), classes: CLASSES });
  const r = await compareRuns([dirs.base, ens], {});
  assert.equal(r.runs[1].kind, 'ensemble');
  const p = r.significance!.pairs[0];
  assert.ok(p.comparable && p.n === 300, JSON.stringify(p));
  assert.match(render(r, 'table'), /blend\s+\S+-blend-[0-9a-f]{6}\s+ensemble\s+completed/);
});

/** The CLI as users run it. */
function exp(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const cli = [join(process.cwd(), 'bin/exp.js')];
  const r = spawnSync(process.execPath, [...cli, 'compare', ...args], { encoding: 'utf8', env: { ...process.env, EXP_DEBUG: '' } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('command line: output on stdout, --html writes the page, bad input exits 2 with one clear line', () => {
  const html = join(root, 'report', 'compare.html');
  const ok = exp([`${runsDir}/*`, '--format', 'md', '--html', html]);
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /^## exp compare: 5 run\(s\)/);
  assert.ok(existsSync(html));
  assert.match(readFileSync(html, 'utf8'), /<svg class="chart" data-key="macro_f1"/);
  const bad = exp([dirs.base, join(root, 'nope')]);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /^error: No run matches/);
  assert.doesNotMatch(bad.stderr, /\n\s+at /, 'no stack trace');
  const fmt = exp([dirs.base, '--format', 'xml']);
  assert.equal(fmt.status, 2);
  assert.match(fmt.stderr, /--format xml: expected one of table, md, json, csv/);
});

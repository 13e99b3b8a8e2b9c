// exp compare on sweep records (written by createRun, see fixture.ts): --sweep with id prefixes,
// labels from swept values, pairing by seed, the headline first in every format, one seed per
// point, glob that picks up runs outside the sweep, and mixed kinds (training runs + an ensemble).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compareRuns } from '../../../src/runs/compare/load.ts';
import { render } from '../../../src/runs/compare/render.ts';
import { renderHtml } from '../../../src/runs/compare/html.ts';
import { UserError } from '../../../src/errors.ts';
import { makeRun, synthPredictions } from './fixture.ts';

const C = 12;
const CLASSES = Array.from({ length: C }, (_x, i) => 2000 + i);
const KEYS = ['augment.color_jitter.enabled', 'seed'];
const SWEEP = 'sw-abc123def456';
let root: string;
let runsDir: string;
const ids: Record<string, string> = {};

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'exp-compare-sweep-'));
  runsDir = join(root, 'runs');
  let second = 0;
  const at = () => new Date(Date.UTC(2026, 0, 3, 0, 0, ++second));
  // an earlier run of the same experiment, outside the sweep (what "runs/*-quickstart-*" also picks up)
  ids.earlier = await makeRun(runsDir, { name: 'cj', ...synthPredictions(150, C, 0.5, 99), classes: CLASSES, now: at() });
  let index = 0;
  for (const jitter of [false, true]) {
    for (const seed of [1, 2, 3]) {
      // jitter helps by about 0.35 accuracy; each run's own draws are its seed noise
      const p = synthPredictions(150, C, (jitter ? 0.8 : 0.45) + 0.01 * seed, 10 * seed + (jitter ? 1 : 0));
      ids[`${jitter ? 'on' : 'off'}${seed}`] = await makeRun(runsDir, {
        name: 'cj', ...p, classes: CLASSES, seed, config: { seed, augment: { color_jitter: { enabled: jitter } } }, now: at(),
        epochs: [0.2, 0.4, 0.5].map((f, i) => ({ f1: f + (jitter ? 0.1 : 0), loss: 2 - 0.4 * i })),
        sweep: { id: SWEEP, point: { 'augment.color_jitter.enabled': jitter, seed }, keys: KEYS, point_index: index++ },
      });
    }
  }
  // a second sweep sharing the prefix "sw-abc", one seed per point
  index = 0;
  for (const jitter of [false, true]) {
    const p = synthPredictions(150, C, jitter ? 0.7 : 0.55, 50 + index);
    ids[`single-${jitter}`] = await makeRun(runsDir, {
      name: 'cj1', ...p, classes: CLASSES, seed: 1, config: { seed: 1, augment: { color_jitter: { enabled: jitter } } }, now: at(),
      sweep: { id: 'sw-abc999999999', point: { 'augment.color_jitter.enabled': jitter }, keys: ['augment.color_jitter.enabled'], point_index: index++ },
    });
  }
});
after(() => rmSync(root, { recursive: true, force: true }));

const base = (id: string) => id.split('/').at(-1)!;

test('--sweep PREFIX compares the sweep\'s runs, labelled by swept values, the headline paired by seed', async () => {
  const r = await compareRuns([], { 'runs-dir': runsDir, sweep: 'sw-abc1' });
  assert.deepEqual(r.runs.map((x) => x.label), ['color_jitter=off, seed=1', 'color_jitter=off, seed=2', 'color_jitter=off, seed=3', 'color_jitter=on, seed=1', 'color_jitter=on, seed=2', 'color_jitter=on, seed=3']);
  assert.equal(r.baseline, base(ids.off1), 'the baseline is point 0');
  assert.equal(r.headline.length, 1);
  const h = r.headline[0];
  assert.equal(h.key, 'augment.color_jitter.enabled');
  assert.equal(h.title, 'color_jitter on vs off');
  assert.equal(h.metric, 'val species macro-F1, TTA 1');
  assert.deepEqual(h.pairs.map((p) => [p.seed, p.baseline, p.variant]), [1, 2, 3].map((s) => [`seed=${s}`, base(ids[`off${s}`]), base(ids[`on${s}`])]));
  assert.equal(h.source, 'predictions');
  const e = h.effect!;
  assert.ok(e.effect > 0.2 && e.lo > 0 && e.lo < e.effect && e.effect < e.hi, `${e.lo} < ${e.effect} < ${e.hi}`);
  assert.equal(e.verdict, 'better');
  assert.ok(e.p_better! > 0.95);
  assert.ok(e.seed_spread! > 0 && e.t_check !== null && e.example_se !== null);
  assert.equal(e.wins, 3);
  // each delta is the same-seed pair's full-set macro-F1 difference, as in metrics.json
  const f1 = (id: string) => r.metrics[0].rows[r.runs.findIndex((x) => x.id === base(id))].values.tta1!.macro_f1!;
  for (const [k, p] of h.pairs.entries()) assert.ok(Math.abs(p.delta! - (f1(ids[`on${k + 1}`]) - f1(ids[`off${k + 1}`]))) < 1e-12);
  // like with like: seed-2 and seed-3 baselines are noise references, each variant against its own seed
  const sig = r.significance!.pairs;
  const rel = sig.map((p) => [r.runs.find((x) => x.id === p.run)!.label, r.runs.find((x) => x.id === p.vs)!.label, p.comparable && p.verdict]);
  assert.deepEqual(rel.slice(0, 2), [['color_jitter=off, seed=2', 'color_jitter=off, seed=1', 'noise reference'], ['color_jitter=off, seed=3', 'color_jitter=off, seed=1', 'noise reference']]);
  assert.deepEqual(rel.slice(2).map((x) => x.slice(0, 2)), [1, 2, 3].map((s) => [`color_jitter=on, seed=${s}`, `color_jitter=off, seed=${s}`]));
  // the sweep table and per-class views come with it
  assert.equal(r.sweep!.id, SWEEP);
  assert.equal(r.classes[0].title, 'color_jitter on vs off');
  assert.ok(r.classes[0].gained.length > 0);
  assert.deepEqual(r.confusions[0].columns, ['color_jitter=off', 'color_jitter=on']);
});

test('a glob that also picks up runs outside the sweep keeps the sweep grouping and says so', async () => {
  const r = await compareRuns([`${runsDir}/*`], { 'runs-dir': runsDir });
  assert.equal(r.runs.length, 9);
  const sweeps = r.headline.map((h) => h.sweep);
  assert.deepEqual(sweeps, [SWEEP, 'sw-abc999999999']);
  assert.equal(r.headline[0].pairs.length, 3);
  assert.ok(r.notes.some((n) => /3 of the 9 runs are not in sweep sw-abc123def456; compare only the sweep with --sweep sw-abc123def456/.test(n)), r.notes.join('\n'));
});

test('one seed per point: "seed variance unknown", never a verdict', async () => {
  const r = await compareRuns([], { 'runs-dir': runsDir, sweep: 'abc9' });
  const e = r.headline[0].effect!;
  assert.equal(e.verdict, 'seed variance unknown');
  assert.equal(e.p_better, null);
  assert.match(render(r, 'table'), /color_jitter on vs off\s+\+0\.\d{4}\s+\[[+−]0\.\d{3}, \+0\.\d{3}\] \(examples only\)\s+unknown\s+1 of 1 seed\s+seed variance unknown: one seed per point/);
});

test('--sweep errors: an ambiguous prefix, an unknown id', async () => {
  await assert.rejects(compareRuns([], { 'runs-dir': runsDir, sweep: 'sw-abc' }), (e: Error) => e instanceof UserError && /--sweep sw-abc matches 2 sweeps .*sw-abc123def456, sw-abc999999999/.test(e.message));
  await assert.rejects(compareRuns([], { 'runs-dir': runsDir, sweep: 'zzz' }), (e: Error) => e instanceof UserError && /no sweep id in .* is or starts with "zzz" \(sweeps there: sw-abc123def456, sw-abc999999999\)/.test(e.message));
  await assert.rejects(compareRuns([], { 'runs-dir': runsDir }), (e: Error) => e instanceof UserError && /needs runs/.test(e.message));
  await assert.rejects(compareRuns([], { 'runs-dir': runsDir, sweep: SWEEP, 'min-effect': 'big' }), (e: Error) => e instanceof UserError && /--min-effect big/.test(e.message));
});

test('the headline comes first in every format, with the words defined', async () => {
  const r = await compareRuns([], { 'runs-dir': runsDir, sweep: SWEEP });
  const table = render(r, 'table');
  assert.match(table, /^answer: val species macro-F1, TTA 1, sweep sw-abc123def456/);
  assert.match(table.split('\n')[3], /^color_jitter on vs off\s+\+0\.\d{4}\s+\[\+0\.\d{3}, \+0\.\d{3}\]\s+\d\.\d\d\s+±0\.\d{4}\s+±0\.\d{4}\s+3 of 3 seeds\s+better$/);
  assert.match(table, /\nwhat the words mean\n {2}effect: /);
  assert.match(table, /cannot tell with N seeds: the interval holds 0/);
  assert.doesNotMatch(table, /\x1b\[/, 'no colour codes unless asked (a terminal)');
  const coloured = render(r, 'table', { color: true }).split('\n')[3];
  assert.match(coloured, /\x1b\[32m\+0\.\d{4}\x1b\[0m/, 'a positive effect in green');
  assert.match(coloured, /\x1b\[32m\[\+0\.\d{3}, \+0\.\d{3}\]\x1b\[0m/, 'an interval above 0 in green');
  assert.match(coloured, /\x1b\[32mbetter\x1b\[0m$/);
  const md = render(r, 'md');
  assert.match(md.split('\n### ')[1], /^answer: /);
  assert.match(md, /\| color_jitter on vs off \| \+0\.\d{4} \| \[\+0\.\d{3}, \+0\.\d{3}\] \|/);
  const json = JSON.parse(render(r, 'json'));
  assert.deepEqual(Object.keys(json).slice(0, 2), ['headline', 'definitions']);
  assert.equal(json.headline[0].effect.verdict, 'better');
  assert.ok(json.definitions.some((d: { term: string }) => d.term === 'seed variance unknown'));
  const csv = render(r, 'csv').split('\n');
  assert.match(csv[1], /,headline,.*augment\.color_jitter\.enabled=on vs off: effect,0\.\d+/);
  const html = renderHtml(r);
  const sectionsInOrder = [...html.matchAll(/<section id="([a-z]+)"/g)].map((m) => m[1]);
  assert.equal(sectionsInOrder[0], 'answer');
  assert.match(html, /<div class="answer" data-verdict="better">/);
  assert.match(html, /<dt>P\(better\)<\/dt>/);
});

test('mixed kinds: an ensemble beside training runs keeps the config diff to the training keys', async () => {
  const members = [base(ids.off1), base(ids.on1)];
  const ens = await makeRun(join(root, 'ens'), { name: 'blend', kind: 'ensemble', members, ...synthPredictions(150, C, 0.8, 7), classes: CLASSES });
  const r = await compareRuns([ids.off1, ids.on1, ens], {});
  assert.deepEqual(r.config.map((d) => d.key), ['augment.color_jitter.enabled'], 'no ensemble keys (kind, method, members...) and no training key marked as differing because the ensemble lacks it');
  assert.equal(r.ensembles.length, 1);
  assert.deepEqual(r.ensembles[0].members.map((m) => m.run), ['color_jitter=off, seed=1', 'color_jitter=on, seed=1']);
  const table = render(r, 'table');
  assert.match(table, /augment\.color_jitter\.enabled \(swept\)\s+false\s+true\s+\(ensemble\)/);
  assert.match(table, /ensembles \(what each blends.*\n.*\n-+.*\nblend\s+logits\s+color_jitter=off, seed=1 \(0\.500\), color_jitter=on, seed=1 \(0\.500\)/);
  assert.ok(r.notes.some((n) => /the config diff compares the train runs only/.test(n)));
});

test('class names come from per_class.json, read through the validating reader: a damaged one is an error naming it', async () => {
  const r = await compareRuns([], { 'runs-dir': runsDir, sweep: 'sw-abc1' });
  assert.ok([...r.classes[0].gained, ...r.classes[0].lost].every((c) => c.name === `Species ${c.id}`), 'every row named as per_class.json names it');
  const file = join(ids.off1, 'predictions', 'val', 'tta1', 'per_class.json');
  const good = readFileSync(file, 'utf8');
  try {
    const damaged = JSON.parse(good);
    damaged.species.names = 'Species';
    writeFileSync(file, JSON.stringify(damaged));
    await assert.rejects(compareRuns([], { 'runs-dir': runsDir, sweep: 'sw-abc1' }), (e: Error) => {
      assert.ok(e instanceof UserError, e.stack);
      assert.ok(e.message.startsWith(`${file}: "species.names" must be array`), e.message);
      assert.match(e.message, /exp predict/, 'says how to re-create it');
      return true;
    });
  } finally {
    writeFileSync(file, good);
  }
});

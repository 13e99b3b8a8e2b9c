// The --html page: self-contained (nothing fetched), safe against odd run names, and what it shows
// really draws: a headless Chromium (Debian's chromium package) loads the page at 1400 px and the
// dumped DOM must hold the answer first, the drawn SVG paths of every chart, the effect plot, class
// names, and the widths the inline script records (no horizontal scrolling with 8 runs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compareRuns } from '../../../src/runs/compare/load.ts';
import { renderHtml } from '../../../src/runs/compare/html.ts';
import { makeRun, synthPredictions } from './fixture.ts';

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
const CLASSES = Array.from({ length: 10 }, (_x, i) => `sp${i}`);

async function page(t: { after: (fn: () => void) => void }): Promise<{ dir: string; html: string; runs: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'exp-compare-html-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const runs = join(dir, 'runs');
  const a = synthPredictions(150, 10, 0.5, 1);
  const b = synthPredictions(150, 10, 0.7, 2);
  await makeRun(runs, { name: 'base', ...a, classes: CLASSES, epochs: [0.2, 0.35, 0.45, 0.5].map((f, i) => ({ f1: f, loss: 2 - i * 0.3 })), now: new Date(Date.UTC(2026, 1, 1, 0, 0, 1)) });
  await makeRun(runs, { name: '</script><b>x</b>', ...b, classes: CLASSES, epochs: [0.3, 0.5, 0.65, 0.7].map((f, i) => ({ f1: f, loss: 1.9 - i * 0.35 })), now: new Date(Date.UTC(2026, 1, 1, 0, 0, 2)),
    config: { augment: { color_jitter: { enabled: true } } } });
  await makeRun(runs, { name: 'crashed', ...a, classes: CLASSES, epochs: [{ f1: 0.1, loss: 2.1 }, { f1: 0.15, loss: 1.95 }], status: 'failed', tta: [], now: new Date(Date.UTC(2026, 1, 1, 0, 0, 3)) });
  const report = await compareRuns([`${runs}/*`], {});
  return { dir, html: renderHtml(report), runs: 3 };
}

/** A colour-jitter x learning-rate x seed sweep: 8 runs, as the 1400 px check asks. */
async function sweepPage(t: { after: (fn: () => void) => void }): Promise<{ dir: string; html: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'exp-compare-html8-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const keys = ['augment.color_jitter.enabled', 'optimizer.lr', 'seed'];
  let i = 0;
  for (const jitter of [false, true]) for (const lr of [0.001, 0.003]) for (const seed of [1, 2]) {
    const p = synthPredictions(150, 10, (jitter ? 0.7 : 0.5) + (lr === 0.003 ? 0.02 : 0), 100 + i);
    await makeRun(join(dir, 'runs'), {
      name: 'quickstart', ...p, classes: CLASSES, seed, now: new Date(Date.UTC(2026, 1, 2, 0, 0, i)),
      config: { seed, optimizer: { lr }, augment: { color_jitter: { enabled: jitter } } },
      epochs: Array.from({ length: 6 }, (_x, e) => ({ f1: 0.1 + 0.08 * e + (jitter ? 0.05 : 0), loss: 2 - 0.25 * e })),
      sweep: { id: 'sw-0123456789ab', point: { 'augment.color_jitter.enabled': jitter, 'optimizer.lr': lr, seed }, keys, point_index: i },
    });
    i++;
  }
  return { dir, html: renderHtml(await compareRuns([], { 'runs-dir': join(dir, 'runs'), sweep: 'sw-0123' })) };
}

function chromium(dir: string, html: string, width = 1400): string {
  const file = join(dir, 'compare.html');
  writeFileSync(file, html);
  const r = spawnSync(CHROMIUM!, [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', `--user-data-dir=${join(dir, 'profile')}`, `--window-size=${width},1000`, '--dump-dom', `file://${file}`,
  ], { encoding: 'utf8', timeout: 120_000, maxBuffer: 64 << 20 });
  assert.equal(r.status, 0, `chromium failed: ${r.error?.message ?? ''}\n${r.stderr.slice(-2000)}`);
  return r.stdout;
}

test('the page is self-contained and escapes what runs are named', async (t) => {
  const { html } = await page(t);
  assert.doesNotMatch(html, /\b(src|href)\s*=/i, 'no external resources');
  assert.doesNotMatch(html, /https?:\/\/(?!www\.w3\.org\/2000\/svg)/, 'no network addresses besides the SVG namespace');
  assert.equal(html.match(/<\/script>/g)!.length, 2, 'a run name cannot close the data script');
  assert.match(html, /&lt;\/script&gt;&lt;b&gt;x&lt;\/b&gt;/);
  for (const section of ['config diff', 'metrics: val / species', 'per run vs its same-seed baseline', 'learning curves']) assert.ok(html.includes(section), section);
});

test('headless Chromium draws every chart with one line per run', async (t) => {
  if (!CHROMIUM) {
    t.skip('chromium is not installed (apt-get install -y chromium); the chart check needs a browser');
    return;
  }
  const { dir, html, runs } = await page(t);
  const dom = chromium(dir, html);
  assert.match(dom, /<html[^>]*data-rendered="true"/, 'the script finished drawing');
  const charts = dom.match(/<svg class="chart"[^>]*>[\s\S]*?<\/svg>/g) ?? [];
  assert.equal(charts.length, 2 * 2 + 1, 'macro-F1 and loss for each of the 2 levels, and the learning rate');
  for (const chart of charts) {
    assert.match(chart, /data-rendered="true"/);
    const paths = chart.match(/<path [^>]*class="series"[^>]*>/g) ?? [];
    assert.equal(paths.length, runs, 'one line per run');
    for (const p of paths) assert.match(p, /\sd="M[\d.]+ [\d.]+(L[\d.]+ [\d.]+)+"/, 'each line has points');
  }
  const loss = charts.find((c) => /data-key="loss"/.test(c))!;
  assert.equal(loss.match(/class="series train"/g)?.length, runs, 'the loss charts draw the training loss too');
  assert.match(dom, /id="legend"[^>]*>.*crashed \[failed\]/s);
});

test('8 sweep runs at 1400 px: the answer first, every level\'s curves, the effect plot, class names, no horizontal scrolling', async (t) => {
  if (!CHROMIUM) {
    t.skip('chromium is not installed (apt-get install -y chromium); the layout check needs a browser');
    return;
  }
  const { dir, html } = await sweepPage(t);
  const dom = chromium(dir, html, 1400);
  assert.match(dom, /<html[^>]*data-rendered="true"/);
  const width = Number(/data-scroll-width="(\d+)"/.exec(dom)![1]);
  const client = Number(/data-client-width="(\d+)"/.exec(dom)![1]);
  assert.ok(client <= 1400 && width <= client, `the page is ${width} px wide in a ${client} px window`);
  assert.match(dom, /data-overflow="none"/, 'no table, chart or section reaches past the window');

  const order = [...dom.matchAll(/<section id="([a-z]+)"/g)].map((m) => m[1]);
  assert.deepEqual(order.slice(0, 5), ['answer', 'runs', 'config', 'curves', 'effects'], 'the answer, then the config diff, then curves, then the effects');
  assert.deepEqual(order.slice(5, 8), ['hierarchy', 'classes', 'classes'], 'then hierarchy consistency and the per-class changes of both keys');
  assert.ok(order.includes('confusions'));
  const answers = dom.match(/<div class="answer" data-verdict="[^"]+">/g) ?? [];
  assert.equal(answers.length, 2, 'one answer per swept key (jitter; lr), seeds as repeats');
  assert.match(dom, /color_jitter on vs off/);
  assert.match(dom, /lr 0\.003 vs 0\.001/);

  const charts = dom.match(/<svg class="chart"[^>]*>[\s\S]*?<\/svg>/g) ?? [];
  assert.equal(charts.length, 5, 'species and genus macro-F1 and loss, and the learning rate');
  for (const c of charts) assert.equal(c.match(/<path [^>]*class="series"[^>]*>/g)?.length, 8, 'eight lines in every chart');
  assert.deepEqual(charts.map((c) => /data-level="([^"]*)"/.exec(c)![1]), ['species', 'species', 'genus', 'genus', '']);

  const effects = /<svg class="effect"[\s\S]*?<\/svg>/.exec(dom)![0];
  assert.equal(effects.match(/class="effect-row"/g)?.length, 2);
  assert.equal(effects.match(/class="interval"/g)?.length, 2);
  assert.equal(effects.match(/class="seed"/g)?.length, 8, 'each study has 4 pairs (2 seeds x 2 values of the other key)');

  assert.match(dom, /Species sp\d \(sp\d\)/, 'classes named from per_class.json');
  assert.doesNotMatch(dom, /<th>tta1 top-<wbr>5<\/th>|top-5<\/th>/, 'top-5 is hidden: it is 1 in every run');
  assert.match(dom, /top-5 hidden/);
  // colours follow the sign of each value, never of the cell's first number
  for (const m of dom.matchAll(/<span class="(pos|neg)">([+−])/g)) assert.equal(m[1] === 'pos', m[2] === '+');
  assert.ok(/<span class="pos">\+/.test(dom) && /<span class="neg">−/.test(dom), 'both signs appear');
  assert.match(dom, /<tr class="noise">/, 'same-config runs are greyed noise references');

  // the width check itself: a section wider than the window is reported
  const wide = chromium(dir, html.replace('<section id="runs">', '<section id="wide" style="width:2400px;height:10px"></section><section id="runs">'), 1400);
  assert.match(wide, /data-overflow="[^"]*section#wide/);
  assert.ok(Number(/data-scroll-width="(\d+)"/.exec(wide)![1]) > 1400);
});

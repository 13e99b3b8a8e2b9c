// The --html page: self-contained (nothing fetched), safe against odd run names, and its charts
// really draw: a headless Chromium (Debian's chromium package) loads the page and the dumped DOM
// must hold the drawn SVG paths and the data-rendered marks the inline script sets.
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
  const file = join(dir, 'compare.html');
  writeFileSync(file, html);
  const r = spawnSync(CHROMIUM, [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', `--user-data-dir=${join(dir, 'profile')}`, '--dump-dom', `file://${file}`,
  ], { encoding: 'utf8', timeout: 120_000, maxBuffer: 64 << 20 });
  assert.equal(r.status, 0, `chromium failed: ${r.error?.message ?? ''}\n${r.stderr.slice(-2000)}`);
  const dom = r.stdout;
  assert.match(dom, /<html[^>]*data-rendered="true"/, 'the script finished drawing');
  const charts = dom.match(/<svg class="chart"[^>]*>[\s\S]*?<\/svg>/g) ?? [];
  assert.equal(charts.length, 2 * 2 + 1, 'macro-F1 and loss for each of the 2 levels, and the learning rate');
  for (const chart of charts) {
    assert.match(chart, /data-rendered="true"/);
    const paths = chart.match(/<path [^>]*class="series"[^>]*>/g) ?? [];
    assert.equal(paths.length, runs, 'one line per run');
    for (const p of paths) assert.match(p, /\sd="M[\d.]+ [\d.]+(L[\d.]+ [\d.]+)+"/, 'each line has points');
  }
  assert.match(dom, /id="legend"[^>]*>.*crashed \[failed\]/s);
});

// `exp compare --html FILE`: one self-contained page (inline CSS, inline data, inline script that
// draws SVG line charts) that opens offline and can be mailed or attached to a report. The tables
// are the same sections the terminal shows; the learning curves are charts instead of sparklines.
// The script marks each drawn chart data-rendered="true" (and the <html> element once all are
// drawn), which is what the headless-Chromium test checks.
import { sections } from './compare-render.ts';
import type { CompareReport } from './compare.ts';

const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

/** A distinct colour per run: a fixed palette, then hues spaced by the golden angle. */
export function runColor(i: number): string {
  return i < PALETTE.length ? PALETTE[i] : `hsl(${Math.round((i * 137.508) % 360)}, 60%, 45%)`;
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** JSON inside <script>: "<" escaped so "</script>" in a run name cannot end the element. */
const scriptJson = (x: unknown): string => JSON.stringify(x).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;max-width:1200px;padding:0 16px;color:#222}
h1{font-size:20px;margin:0 0 4px}h2{font-size:15px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
.sub{color:#666;margin:0 0 16px}
table{border-collapse:collapse;font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;display:block;overflow-x:auto;max-width:100%}
th,td{padding:3px 10px;border-bottom:1px solid #eee;text-align:left;white-space:nowrap}th{background:#f6f6f6;position:sticky;top:0}
tr.baseline td{font-weight:600}
td.pos{color:#1a7f37}td.neg{color:#b42318}td.real{font-weight:700}
.status-failed,.status-interrupted{color:#b42318;font-weight:600}.status-running{color:#9a6700;font-weight:600}
ul.notes{margin:6px 0;color:#555}
.charts{display:flex;flex-wrap:wrap;gap:16px}figure{margin:0;flex:1 1 540px}figcaption{font-weight:600;margin-bottom:4px}
svg.chart{width:100%;height:auto;background:#fff;border:1px solid #eee}
svg.chart text{font:11px system-ui,sans-serif;fill:#555}
.legend{display:flex;flex-wrap:wrap;gap:4px 14px;margin:8px 0;font-size:12px}.legend span{display:inline-flex;align-items:center;gap:5px}
.legend i{width:14px;height:3px;display:inline-block}
`;

// Runs in the browser; kept to ES5-ish syntax and the DOM so any browser draws it.
const SCRIPT = `
(function () {
  var data = JSON.parse(document.getElementById('compare-data').textContent);
  var NS = 'http://www.w3.org/2000/svg';
  function el(name, attrs, parent) {
    var e = document.createElementNS(NS, name);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }
  function ticks(lo, hi, n) {
    var step = Math.pow(10, Math.floor(Math.log10((hi - lo) / n || 1)));
    var err = (hi - lo) / n / step;
    step *= err >= 5 ? 10 : err >= 2 ? 5 : err >= 1 ? 2 : 1;
    var out = [];
    for (var v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(+v.toFixed(10));
    return out;
  }
  function draw(svg, key) {
    var W = 640, H = 300, L = 56, R = 16, T = 14, B = 38;
    var xmax = 1, ylo = Infinity, yhi = -Infinity;
    data.series.forEach(function (s) {
      s.epochs.forEach(function (e, i) {
        var y = s[key][i];
        xmax = Math.max(xmax, e);
        if (y !== null) { ylo = Math.min(ylo, y); yhi = Math.max(yhi, y); }
      });
    });
    if (!(ylo <= yhi)) { el('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle' }, svg).textContent = 'no validated epochs'; return 0; }
    if (ylo === yhi) { ylo -= 0.5 * (Math.abs(ylo) || 1); yhi += 0.5 * (Math.abs(yhi) || 1); }
    var pad = (yhi - ylo) * 0.05; ylo -= pad; yhi += pad;
    var xlo = 1, xhi = Math.max(2, xmax);
    function X(e) { return L + (e - xlo) / (xhi - xlo) * (W - L - R); }
    function Y(v) { return T + (1 - (v - ylo) / (yhi - ylo)) * (H - T - B); }
    var axes = el('g', { 'class': 'axes' }, svg);
    ticks(ylo, yhi, 5).forEach(function (v) {
      el('line', { x1: L, x2: W - R, y1: Y(v), y2: Y(v), stroke: '#eee' }, axes);
      el('text', { x: L - 6, y: Y(v) + 4, 'text-anchor': 'end' }, axes).textContent = String(+v.toFixed(4));
    });
    ticks(xlo, xhi, 8).filter(function (e) { return e === Math.round(e); }).forEach(function (e) {
      el('text', { x: X(e), y: H - B + 16, 'text-anchor': 'middle' }, axes).textContent = String(e);
    });
    el('text', { x: (L + W - R) / 2, y: H - 6, 'text-anchor': 'middle' }, axes).textContent = 'epoch';
    el('rect', { x: L, y: T, width: W - L - R, height: H - T - B, fill: 'none', stroke: '#ccc' }, axes);
    var drawn = 0;
    data.series.forEach(function (s) {
      var d = '', pen = false;
      s.epochs.forEach(function (e, i) {
        var y = s[key][i];
        if (y === null) { pen = false; return; }
        d += (pen ? 'L' : 'M') + X(e).toFixed(1) + ' ' + Y(y).toFixed(1);
        pen = true;
      });
      if (!d) return;
      var p = el('path', { d: d, fill: 'none', stroke: s.color, 'stroke-width': s.baseline ? 2.5 : 1.6, 'stroke-linejoin': 'round', 'stroke-linecap': 'round',
        'stroke-dasharray': s.status === 'completed' ? 'none' : '5 3', 'class': 'series', 'data-run': s.id }, svg);
      el('title', {}, p).textContent = s.label + ' (' + s.status + ')';
      s.epochs.forEach(function (e, i) {
        var y = s[key][i];
        if (y !== null && s.epochs.length <= 60) el('circle', { cx: X(e), cy: Y(y), r: 2, fill: s.color }, svg);
      });
      drawn++;
    });
    return drawn;
  }
  var charts = document.querySelectorAll('svg.chart');
  var ok = true;
  for (var i = 0; i < charts.length; i++) {
    var n = draw(charts[i], charts[i].getAttribute('data-key'));
    charts[i].setAttribute('data-rendered', n > 0 ? 'true' : 'empty');
    if (!(n > 0)) ok = false;
  }
  var legend = document.getElementById('legend');
  data.series.forEach(function (s) {
    var span = document.createElement('span');
    var sw = document.createElement('i');
    sw.style.background = s.color;
    span.appendChild(sw);
    span.appendChild(document.createTextNode(s.label + (s.baseline ? ' (baseline)' : '') + (s.status === 'completed' ? '' : ' [' + s.status + ']')));
    legend.appendChild(span);
  });
  document.documentElement.setAttribute('data-rendered', ok && charts.length ? 'true' : 'partial');
})();
`;

function cellClass(header: string, cell: string): string {
  const classes: string[] = [];
  if (header === 'status') classes.push(`status-${cell}`);
  if (header === 'verdict' && cell === 'real') classes.push('real');
  // a delta after the value ("0.7653 +0.1543"), or a leading one in the significance table; zero stays plain
  const delta = /(?:^|\s)([+−])(\d+\.?\d*)/.exec(cell);
  if (delta && Number(delta[2]) !== 0) classes.push(delta[1] === '+' ? 'pos' : 'neg');
  return classes.length ? ` class="${classes.join(' ')}"` : '';
}

export function renderHtml(report: CompareReport, opts: { generated?: string } = {}): string {
  const body: string[] = [];
  body.push(`<h1>exp compare: ${report.runs.length} run(s)</h1>`);
  body.push(`<p class="sub">baseline <code>${esc(report.baseline)}</code>${opts.generated ? ` · generated ${esc(opts.generated)}` : ''}</p>`);
  for (const s of sections(report)) {
    if (s.sparkline) continue;
    body.push(`<section><h2>${esc(s.title)}</h2>`);
    if (s.header.length) {
      body.push('<table><thead><tr>' + s.header.map((h) => `<th>${esc(h)}</th>`).join('') + '</tr></thead><tbody>');
      for (const [ri, r] of s.rows.entries()) body.push((s.baselineFirst && ri === 0 ? '<tr class="baseline">' : '<tr>') + r.map((c, i) => `<td${cellClass(s.header[i], c)}>${esc(c)}</td>`).join('') + '</tr>');
      body.push('</tbody></table>');
    }
    if (s.notes.length) body.push('<ul class="notes">' + s.notes.map((n) => `<li>${esc(n)}</li>`).join('') + '</ul>');
    body.push('</section>');
  }
  const byId = new Map(report.runs.map((r, i) => [r.id, i]));
  const series = report.curves.runs.filter((c) => c.epochs.length).map((c) => {
    const i = byId.get(c.run) ?? 0;
    const r = report.runs[i];
    return { id: r.id, label: r.label, status: r.status, baseline: i === 0, color: runColor(i), epochs: c.epochs, macro_f1: c.macro_f1, loss: c.loss };
  });
  if (series.length) {
    const level = esc(report.curves.level);
    body.push(`<section><h2>learning curves: validation ${level} per epoch</h2><div id="legend" class="legend"></div><div class="charts">`);
    body.push(`<figure><figcaption>val ${level} macro-F1</figcaption><svg class="chart" data-key="macro_f1" viewBox="0 0 640 300" role="img" aria-label="val macro-F1 per epoch"></svg></figure>`);
    body.push(`<figure><figcaption>val ${level} loss</figcaption><svg class="chart" data-key="loss" viewBox="0 0 640 300" role="img" aria-label="val loss per epoch"></svg></figure>`);
    body.push('</div><p class="sub">dashed: runs that did not complete</p></section>');
  } else {
    body.push('<section><h2>learning curves</h2><p class="sub">no run has recorded epochs (history.jsonl)</p></section>');
  }
  return [
    '<!DOCTYPE html>',
    '<html lang="en"><head><meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>exp compare: ${esc(report.runs.map((r) => r.label).slice(0, 4).join(' vs '))}${report.runs.length > 4 ? ' …' : ''}</title>`,
    `<style>${CSS}</style></head><body>`,
    ...body,
    `<script type="application/json" id="compare-data">${scriptJson({ level: report.curves.level, series })}</script>`,
    series.length ? `<script>${SCRIPT}</script>` : '',
    '</body></html>',
    '',
  ].join('\n');
}

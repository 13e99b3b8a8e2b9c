// `exp compare --html FILE`: one self-contained page (inline CSS, inline data, inline script that
// draws SVG line charts) that opens offline and can be mailed or attached to a report. In the order
// a practitioner reads it: the answer (effect, interval, verdict) and what its words mean, the runs
// and their config diff, learning curves of every level (train and val loss, macro-F1, learning
// rate), the effect plot, hierarchy consistency, the classes that gained and lost most, the most
// confused pairs, then the detailed tables. Laid out to fit 1400 px without horizontal scrolling.
// The script marks each drawn chart data-rendered="true" (and the <html> element once all are
// drawn) and records the page's widths, which is what the headless-Chromium test checks.
import type { Headline } from './analysis.ts';
import type { CompareReport } from './report.ts';
import { sections, signed, type Section, type SectionId } from './render.ts';

const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

/** A distinct colour per run: a fixed palette, then hues spaced by the golden angle. */
export function runColor(i: number): string {
  return i < PALETTE.length ? PALETTE[i] : `hsl(${Math.round((i * 137.508) % 360)}, 60%, 45%)`;
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** JSON inside <script>: "<" escaped so "</script>" in a run name cannot end the element. */
const scriptJson = (x: unknown): string => JSON.stringify(x).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');

const CSS = `
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:20px auto;max-width:1320px;padding:0 16px;color:#222}
h1{font-size:20px;margin:0 0 4px}h2{font-size:15px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
.sub{color:#666;margin:0 0 16px}
table{border-collapse:collapse;font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;max-width:100%}
th,td{padding:3px 8px;border-bottom:1px solid #eee;text-align:left;vertical-align:top;overflow-wrap:anywhere}
th{background:#f6f6f6}
tr.baseline td{font-weight:600}tr.noise td,tr.noise td span{color:#888}
.pos{color:#1a7f37}.neg{color:#b42318}
.v-better{color:#1a7f37;font-weight:700}.v-worse{color:#b42318;font-weight:700}.v-cannot,.v-unknown,.v-none{color:#9a6700;font-weight:700}
.status-failed,.status-interrupted{color:#b42318;font-weight:600}.status-running{color:#9a6700;font-weight:600}
ul.notes{margin:6px 0;color:#555;padding-left:20px}
.answer{border:1px solid #ddd;border-radius:6px;padding:10px 14px;margin:10px 0;background:#fafafa}
.answer .title{font-weight:600}.answer .big{font-size:22px;font-weight:700;margin-right:10px}
.answer .facts{display:flex;flex-wrap:wrap;gap:4px 18px;margin:4px 0;color:#444}
dl.words{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;font-size:13px;color:#444;margin:8px 0}dl.words dt{font-weight:600}dl.words dd{margin:0}
.charts{display:grid;grid-template-columns:repeat(2,minmax(0,1fr));gap:16px}figure{margin:0;min-width:0}figcaption{font-weight:600;margin-bottom:4px}
svg.chart,svg.effect{width:100%;height:auto;background:#fff;border:1px solid #eee;display:block}
svg text{font:11px system-ui,sans-serif;fill:#555}
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
  // The values of one line: series s, key "lr" or "<level>/<train_loss|val_loss|macro_f1>".
  function values(s, key) {
    if (key === 'lr') return s.lr;
    var p = key.split('/');
    return (s.levels[p[0]] || {})[p[1]] || [];
  }
  function draw(svg, lines) {
    var W = 640, H = 300, L = 60, R = 16, T = 14, B = 38;
    var xmax = 1, ylo = Infinity, yhi = -Infinity;
    data.series.forEach(function (s) {
      lines.forEach(function (key) {
        var ys = values(s, key);
        s.epochs.forEach(function (e, i) {
          var y = ys[i];
          xmax = Math.max(xmax, e);
          if (y !== null && y !== undefined) { ylo = Math.min(ylo, y); yhi = Math.max(yhi, y); }
        });
      });
    });
    if (!(ylo <= yhi)) { el('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle' }, svg).textContent = 'no recorded epochs'; return 0; }
    if (ylo === yhi) { ylo -= 0.5 * (Math.abs(ylo) || 1); yhi += 0.5 * (Math.abs(yhi) || 1); }
    var pad = (yhi - ylo) * 0.05; ylo -= pad; yhi += pad;
    var xlo = 1, xhi = Math.max(2, xmax);
    function X(e) { return L + (e - xlo) / (xhi - xlo) * (W - L - R); }
    function Y(v) { return T + (1 - (v - ylo) / (yhi - ylo)) * (H - T - B); }
    var axes = el('g', { 'class': 'axes' }, svg);
    ticks(ylo, yhi, 5).forEach(function (v) {
      el('line', { x1: L, x2: W - R, y1: Y(v), y2: Y(v), stroke: '#eee' }, axes);
      el('text', { x: L - 6, y: Y(v) + 4, 'text-anchor': 'end' }, axes).textContent = String(+v.toPrecision(4));
    });
    ticks(xlo, xhi, 8).filter(function (e) { return e === Math.round(e); }).forEach(function (e) {
      el('text', { x: X(e), y: H - B + 16, 'text-anchor': 'middle' }, axes).textContent = String(e);
    });
    el('text', { x: (L + W - R) / 2, y: H - 6, 'text-anchor': 'middle' }, axes).textContent = 'epoch';
    el('rect', { x: L, y: T, width: W - L - R, height: H - T - B, fill: 'none', stroke: '#ccc' }, axes);
    var drawn = 0;
    data.series.forEach(function (s) {
      var any = false;
      lines.forEach(function (key, li) {
        var ys = values(s, key), d = '', pen = false;
        s.epochs.forEach(function (e, i) {
          var y = ys[i];
          if (y === null || y === undefined) { pen = false; return; }
          d += (pen ? 'L' : 'M') + X(e).toFixed(1) + ' ' + Y(y).toFixed(1);
          pen = true;
        });
        if (!d) return;
        // the first line of a chart is the run's main line; a second (training loss) is drawn faint
        var p = el('path', { d: d, fill: 'none', stroke: s.color, 'stroke-width': s.baseline ? 2.5 : 1.6, 'stroke-linejoin': 'round', 'stroke-linecap': 'round',
          'stroke-opacity': li === 0 ? 1 : 0.4, 'stroke-dasharray': s.status === 'completed' ? 'none' : '5 3', 'class': li === 0 ? 'series' : 'series train', 'data-run': s.id }, svg);
        el('title', {}, p).textContent = s.label + ' ' + key + ' (' + s.status + ')';
        if (li === 0) s.epochs.forEach(function (e, i) {
          var y = ys[i];
          if (y !== null && y !== undefined && s.epochs.length <= 60) el('circle', { cx: X(e), cy: Y(y), r: 2, fill: s.color }, svg);
        });
        any = true;
      });
      if (any) drawn++;
    });
    return drawn;
  }
  var charts = document.querySelectorAll('svg.chart');
  var ok = true;
  for (var i = 0; i < charts.length; i++) {
    var n = draw(charts[i], charts[i].getAttribute('data-lines').split(' '));
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
  // Widths at this window size: the page, and any table or chart wider than its box (scrolling).
  var root = document.documentElement, wide = [];
  var boxes = document.querySelectorAll('table, svg, figure, section');
  for (var j = 0; j < boxes.length; j++) if (boxes[j].getBoundingClientRect().right > root.clientWidth + 0.5) wide.push(boxes[j].tagName.toLowerCase() + (boxes[j].id ? '#' + boxes[j].id : ''));
  root.setAttribute('data-scroll-width', String(root.scrollWidth));
  root.setAttribute('data-client-width', String(root.clientWidth));
  root.setAttribute('data-overflow', wide.length ? wide.join(' ') : 'none');
  root.setAttribute('data-rendered', ok && charts.length ? 'true' : 'partial');
})();
`;

/** Text with every signed number coloured by its own sign (zero stays plain). */
const coloured = (text: string): string => esc(text).replace(/([+−])(\d+(?:\.\d+)?)/g, (m, s: string, x: string) => (Number(x) === 0 ? m : `<span class="${s === '+' ? 'pos' : 'neg'}">${m}</span>`));

function cellHtml(header: string, cell: string): string {
  return `<td${header === 'status' ? ` class="status-${esc(cell)}"` : ''}>${coloured(cell)}</td>`;
}

/** Long dotted keys may break after each dot. */
const headerHtml = (h: string): string => esc(h).replace(/\./g, '.<wbr>').replace(/_/g, '_<wbr>');

function tableHtml(s: Section): string {
  const out: string[] = [`<section id="${s.id}"><h2>${esc(s.title)}</h2>`];
  if (s.header.length) {
    out.push('<table><thead><tr>' + s.header.map((h) => `<th>${headerHtml(h)}</th>`).join('') + '</tr></thead><tbody>');
    for (const [ri, r] of s.rows.entries()) {
      const cls = [s.baselineFirst && ri === 0 ? 'baseline' : null, s.rowClass?.[ri] ?? null].filter(Boolean).join(' ');
      out.push((cls ? `<tr class="${cls}">` : '<tr>') + r.map((c, i) => cellHtml(s.header[i], c)).join('') + '</tr>');
    }
    out.push('</tbody></table>');
  }
  if (s.notes.length) out.push('<ul class="notes">' + s.notes.map((n) => `<li>${coloured(n)}</li>`).join('') + '</ul>');
  out.push('</section>');
  return out.join('\n');
}

const verdictClass = (v: string): string => ({ better: 'v-better', worse: 'v-worse', 'cannot tell': 'v-cannot', 'seed variance unknown': 'v-unknown', 'no effect': 'v-none' } as Record<string, string>)[v] ?? '';
const signClass = (x: number): string => (x > 0 ? 'pos' : x < 0 ? 'neg' : '');

function answerHtml(h: Headline): string {
  const e = h.effect;
  const head = `<div class="title">${esc(h.title)} <span class="sub">(${esc(h.metric)}${h.sweep ? `, sweep ${esc(h.sweep)}` : ''})</span></div>`;
  if (!e) return `<div class="answer">${head}<div>not comparable: ${esc(h.reason ?? 'no pairs')}</div></div>`;
  const unit = h.others.length ? 'pairs' : 'seeds';
  const facts = [
    e.seed_spread === null ? `interval (validation examples only): [${signed(e.lo, 3)}, ${signed(e.hi, 3)}]` : `95 % interval [${signed(e.lo, 3)}, ${signed(e.hi, 3)}]`,
    e.p_better === null ? null : `P(better) ${e.p_better.toFixed(2)}`,
    `seed spread ${e.seed_spread === null ? 'unknown' : `±${e.seed_spread.toFixed(4)}`}`,
    h.baseline_spread === null ? null : `baseline across seeds ±${h.baseline_spread.toFixed(4)}`,
    `wins ${e.wins} of ${e.pairs} ${e.pairs === 1 ? unit.slice(0, -1) : unit}`,
    e.t_check ? `paired t (cross-check) [${signed(e.t_check.lo, 3)}, ${signed(e.t_check.hi, 3)}]` : null,
  ].filter((x): x is string => x !== null);
  return `<div class="answer" data-verdict="${esc(e.verdict)}">${head}<div><span class="big ${signClass(e.effect)}">${esc(signed(e.effect, 4))}</span>` +
    `<span class="${verdictClass(e.verdict)}">${esc(e.text)}</span></div><div class="facts">${facts.map((f) => `<span>${coloured(f)}</span>`).join('')}</div></div>`;
}

/** The effect plot: per headline, the interval, the effect and the per-seed effects, on one axis with 0 marked. */
function effectPlot(hs: Headline[]): string {
  const rows = hs.filter((h) => h.effect);
  if (!rows.length) return '';
  const xs = rows.flatMap((h) => [h.effect!.lo, h.effect!.hi, h.effect!.effect, ...h.pairs.map((p) => p.delta ?? 0)]).concat(0);
  let lo = Math.min(...xs);
  let hi = Math.max(...xs);
  if (hi - lo < 1e-9) [lo, hi] = [lo - 0.01, hi + 0.01];
  const padX = (hi - lo) * 0.06;
  [lo, hi] = [lo - padX, hi + padX];
  const W = 1000;
  const L = 260;
  const R = 20;
  const rowH = 34;
  const T = 10;
  const H = T + rows.length * rowH + 34;
  const X = (v: number) => L + ((v - lo) / (hi - lo)) * (W - L - R);
  const step = (() => {
    const raw = (hi - lo) / 8;
    const p = 10 ** Math.floor(Math.log10(raw));
    return [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw)!;
  })();
  const parts: string[] = [`<svg class="effect" viewBox="0 0 ${W} ${H}" role="img" aria-label="effect per swept value with 95 % intervals">`];
  for (let v = Math.ceil(lo / step) * step; v <= hi; v += step) {
    const x = X(v).toFixed(1);
    parts.push(`<line x1="${x}" x2="${x}" y1="${T}" y2="${H - 28}" stroke="#f0f0f0"/><text x="${x}" y="${H - 12}" text-anchor="middle">${esc(signed(+v.toFixed(10), Math.max(0, -Math.floor(Math.log10(step)))))}</text>`);
  }
  parts.push(`<line x1="${X(0).toFixed(1)}" x2="${X(0).toFixed(1)}" y1="${T}" y2="${H - 28}" stroke="#999" stroke-dasharray="3 3"/>`);
  rows.forEach((h, k) => {
    const e = h.effect!;
    const y = T + k * rowH + rowH / 2;
    const band = e.lo > 0 ? '#1a7f37' : e.hi < 0 ? '#b42318' : '#888';
    const dot = e.effect > 0 ? '#1a7f37' : e.effect < 0 ? '#b42318' : '#555';
    parts.push(`<g class="effect-row" data-key="${esc(h.key)}" data-verdict="${esc(e.verdict)}"><title>${esc(`${h.title}: ${signed(e.effect)} [${signed(e.lo, 3)}, ${signed(e.hi, 3)}] ${e.text}`)}</title>`);
    parts.push(`<text x="${L - 10}" y="${y + 4}" text-anchor="end">${esc(h.title.length > 40 ? `${h.title.slice(0, 39)}…` : h.title)}</text>`);
    parts.push(`<line class="interval" x1="${X(e.lo).toFixed(1)}" x2="${X(e.hi).toFixed(1)}" y1="${y}" y2="${y}" stroke="${band}" stroke-width="3" stroke-linecap="round"/>`);
    for (const p of h.pairs) if (p.delta !== null) parts.push(`<circle class="seed" cx="${X(p.delta).toFixed(1)}" cy="${y - 8}" r="3" fill="none" stroke="${p.delta > 0 ? '#1a7f37' : p.delta < 0 ? '#b42318' : '#555'}"><title>${esc(`${p.seed}: ${signed(p.delta)}`)}</title></circle>`);
    parts.push(`<circle class="point" cx="${X(e.effect).toFixed(1)}" cy="${y}" r="5" fill="${dot}"/></g>`);
  });
  parts.push('</svg>');
  return parts.join('');
}

export function renderHtml(report: CompareReport, opts: { generated?: string } = {}): string {
  const all = sections(report);
  const pick = (...ids: SectionId[]) => all.filter((s) => ids.includes(s.id));
  const body: string[] = [];
  body.push(`<h1>exp compare: ${report.runs.length} run(s)</h1>`);
  body.push(`<p class="sub">baseline <code>${esc(report.baseline)}</code>${opts.generated ? ` · generated ${esc(opts.generated)}` : ''}</p>`);
  if (report.headline.length) {
    const head = pick('headline')[0];
    body.push(`<section id="answer"><h2>${esc(head.title)}</h2>${report.headline.map(answerHtml).join('\n')}`);
    // the t cross-check is among each answer's facts already
    const notes = head.notes.filter((n) => !/: paired t-interval over the/.test(n));
    if (notes.length) body.push('<ul class="notes">' + notes.map((n) => `<li>${coloured(n)}</li>`).join('') + '</ul>');
    body.push('<details open><summary>what the words mean</summary><dl class="words">' + report.definitions.map((d) => `<dt>${esc(d.term)}</dt><dd>${esc(d.meaning)}</dd>`).join('') + '</dl></details></section>');
  }
  for (const s of pick('runs', 'config', 'ensembles')) body.push(tableHtml(s));

  const byId = new Map(report.runs.map((r, i) => [r.id, i]));
  const series = report.curves.runs.filter((c) => c.epochs.length).map((c) => {
    const i = byId.get(c.run) ?? 0;
    const r = report.runs[i];
    return { id: r.id, label: r.label, status: r.status, baseline: i === 0, color: runColor(i), epochs: c.epochs, lr: c.lr, levels: c.levels };
  });
  if (series.length) {
    const chart = (caption: string, lines: string, level: string, key: string) =>
      `<figure><figcaption>${esc(caption)}</figcaption><svg class="chart" data-key="${key}" data-level="${esc(level)}" data-lines="${esc(lines)}" viewBox="0 0 640 300" role="img" aria-label="${esc(caption)}"></svg></figure>`;
    body.push('<section id="curves"><h2>learning curves per epoch, every level</h2><div id="legend" class="legend"></div><div class="charts">');
    for (const level of report.curves.levels) {
      body.push(chart(`${level}: validation macro-F1`, `${level}/macro_f1`, level, 'macro_f1'));
      body.push(chart(`${level}: validation loss (faint: training loss)`, `${level}/val_loss ${level}/train_loss`, level, 'loss'));
    }
    body.push(chart('learning rate', 'lr', '', 'lr'));
    body.push('</div><p class="sub">faint: training loss; dashed: runs that did not complete</p></section>');
  } else {
    body.push('<section id="curves"><h2>learning curves</h2><p class="sub">no run has recorded epochs (history.jsonl)</p></section>');
  }
  const plot = effectPlot(report.headline);
  if (plot) body.push(`<section id="effects"><h2>effect per swept value: 95 % interval (bar), effect (dot), each seed pair (rings); green / red: above / below 0</h2>${plot}</section>`);
  for (const s of pick('hierarchy')) body.push(tableHtml(s));
  const classes = pick('classes');
  const confusions = pick('confusions');
  for (const s of classes) body.push(tableHtml(s));
  for (const s of confusions) body.push(tableHtml(s));
  for (const s of pick('metrics', 'significance', 'sweep', 'notes')) body.push(tableHtml(s));
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

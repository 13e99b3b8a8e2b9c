// Text renderings of a compare report: terminal table, Markdown, JSON and CSV, the answer first in
// each. The table and Markdown are built from one list of sections (title, header, rows, notes) so
// the formats cannot drift apart; the HTML page (html.ts) reuses the same sections for its tables.
import { formatValue } from './config-diff.ts';
import { range, sparkline } from './curves.ts';
import type { Headline } from './analysis.ts';
import { valueText } from './groups.ts';
import { METRIC_KEYS, type MetricCell, type MetricKey } from './metrics.ts';
import { formatP, type PairResult } from './pairing.ts';
import type { CompareReport } from './report.ts';

export type SectionId = 'headline' | 'definitions' | 'runs' | 'config' | 'ensembles' | 'metrics' | 'hierarchy' | 'significance' | 'curves' | 'sweep' | 'classes' | 'confusions' | 'notes';

export interface Section {
  id: SectionId;
  title: string;
  header: string[];
  rows: string[][];
  notes: string[];
  /** Cells of these columns are sparklines (HTML leaves the section out: it draws charts instead). */
  sparkline?: boolean;
  /** The first row is the baseline run (HTML sets it in bold). */
  baselineFirst?: boolean;
  /** Per row, a class for the whole row (HTML: "noise" greys a noise reference). */
  rowClass?: (string | null)[];
}

export type Format = 'table' | 'md' | 'json' | 'csv';
export const FORMATS: readonly Format[] = ['table', 'md', 'json', 'csv'];

const METRIC_NAMES: Record<MetricKey, string> = { macro_f1: 'macro-F1', accuracy: 'acc', top5: 'top-5' };
const fmt = (x: number | null | undefined, d = 4): string => (x === null || x === undefined ? '' : x.toFixed(d));
export const signed = (x: number, d = 4): string => `${x > 0 ? '+' : x < 0 ? '−' : '±'}${Math.abs(x).toFixed(d)}`;

function clip(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** The headline rows: one per swept key and value. */
function headlineSection(h: Headline[], report: CompareReport): Section {
  const metrics = [...new Set(h.map((x) => x.metric))];
  const sweeps = [...new Set(h.map((x) => x.sweep ?? 'runs paired by config'))];
  const s: Section = {
    id: 'headline',
    title: `answer: ${metrics.join('; ')}, ${sweeps.map((x) => (x.startsWith('sw-') ? `sweep ${x}` : x)).join(', ')} (95 % interval over seeds and validation examples)`,
    header: ['change', 'effect', '95 % interval', 'P(better)', 'seed spread', 'baseline spread', 'wins', 'verdict'],
    rows: [],
    notes: [],
  };
  // with several sweeps the same key can appear in each: name the sweep in the row
  const name = (x: Headline) => (sweeps.length > 1 ? `${x.title} (${x.sweep ?? 'by config'})` : x.title);
  for (const x of h) {
    const e = x.effect;
    if (!e) {
      s.rows.push([name(x), '', '', '', '', '', '', `not comparable: ${x.reason ?? 'no pairs'}`]);
      continue;
    }
    const unit = x.others.length ? 'pairs' : 'seeds';
    s.rows.push([
      name(x), signed(e.effect, 4), e.seed_spread === null && e.lo === e.hi ? '' : `[${signed(e.lo, 3)}, ${signed(e.hi, 3)}]${e.seed_spread === null ? ' (examples only)' : ''}`,
      e.p_better === null ? '' : e.p_better.toFixed(2), e.seed_spread === null ? 'unknown' : `±${e.seed_spread.toFixed(4)}`,
      x.baseline_spread === null ? '' : `±${x.baseline_spread.toFixed(4)}`, `${e.wins} of ${plural(e.pairs, unit.slice(0, -1))}`, e.text,
    ]);
    const per = x.pairs.map((p) => `${p.seed}: ${p.delta === null ? 'n/a' : signed(p.delta)}`).join(', ');
    s.notes.push(`${x.title}, per ${x.others.length ? 'pair' : 'seed'}: ${per}${x.others.length ? ` (averaged over ${x.others.join(', ')})` : ''}`);
    if (e.seed_se !== null || e.example_se !== null) {
      s.notes.push(`${x.title}: standard error of the effect from the seeds ${e.seed_se === null ? 'unknown' : e.seed_se.toFixed(4)}, from the validation examples all pairs share ${e.example_se === null ? 'not counted (predictions not read)' : e.example_se.toFixed(4)}`);
    }
    if (e.t_check) s.notes.push(`${x.title}: paired t-interval over the ${e.pairs} per-seed effects alone (cross-check): [${signed(e.t_check.lo, 3)}, ${signed(e.t_check.hi, 3)}]`);
    if (x.hierarchy) s.notes.push(`${x.title}: hierarchy consistency ${x.hierarchy.baseline.toFixed(4)} → ${x.hierarchy.variant.toFixed(4)} (${signed(x.hierarchy.delta)}, mean over pairs)`);
    for (const u of x.unpaired) s.notes.push(`${x.title}: not paired: ${u}`);
  }
  if (report.significance === null && h.some((x) => x.source === 'metrics.json')) s.notes.push('values from metrics.json (no predictions were paired)');
  return s;
}

/** The report as sections. `maxCell` clips long config values (terminal only). */
export function sections(report: CompareReport, opts: { maxCell?: number } = {}): Section[] {
  const max = opts.maxCell ?? Infinity;
  const { runs } = report;
  const label = (i: number) => (i === 0 ? `${runs[0].label} (baseline)` : runs[i].label);
  const byId = new Map(runs.map((r, i) => [r.id, i]));
  const labelOf = (id: string | null) => (id === null ? '' : label(byId.get(id) ?? 0));
  const out: Section[] = [];

  if (report.headline.length) {
    out.push(headlineSection(report.headline, report));
    out.push({ id: 'definitions', title: 'what the words mean', header: [], rows: [], notes: report.definitions.map((d) => `${d.term}: ${d.meaning}`) });
  }

  out.push({
    id: 'runs',
    title: `runs (${runs.length})`,
    header: ['run', 'id', 'kind', 'status', 'epochs', 'note'],
    rows: runs.map((r, i) => [label(i), r.id, r.kind, r.status, String(r.epochs), r.error ? clip(r.error.replace(/\s+/g, ' '), 120) : '']),
    notes: [],
    baselineFirst: true,
  });

  // Config diff: keys as rows while the runs fit side by side, runs as rows beyond that.
  const diff = report.config;
  const swept = new Set(runs.flatMap((r) => r.sweep?.keys ?? []));
  const keyName = (k: string) => (swept.has(k) ? `${k} (swept)` : k);
  const otherKind = (i: number) => runs[i].kind !== runs[0].kind && report.ensembles.length > 0;
  const shown = (v: unknown, i: number) => (otherKind(i) ? `(${runs[i].kind})` : clip(formatValue(v), max));
  const cfg: Section = { id: 'config', title: 'config diff (keys that differ; name and description ignored)', header: [], rows: [], notes: [] };
  if (!diff.length) {
    cfg.notes.push(runs.length > 1 ? 'the configs are identical' : 'one run: nothing to diff');
  } else if (runs.length <= 5) {
    cfg.header = ['key', ...runs.map((_r, i) => label(i))];
    cfg.rows = diff.map((d) => [keyName(d.key), ...d.values.map(shown)]);
  } else {
    cfg.header = ['run', ...diff.map((d) => keyName(d.key))];
    cfg.rows = runs.map((_r, i) => [label(i), ...diff.map((d) => (otherKind(i) ? `(${runs[i].kind})` : clip(i > 0 && sameText(d.values[i], d.values[0]) ? '=' : formatValue(d.values[i]), max)))]);
    cfg.notes.push('= : same as the baseline');
    cfg.baselineFirst = true;
  }
  out.push(cfg);

  if (report.ensembles.length) {
    out.push({
      id: 'ensembles', title: 'ensembles (what each blends; their config is not a training config, so it is not in the diff)',
      header: ['ensemble', 'method', 'members (weight)'],
      rows: report.ensembles.map((e) => [labelOf(e.run), e.method ?? '', e.members.map((m) => `${labelOf(byId.has(m.run) ? m.run : null) || m.run} (${m.weight.toFixed(3)})`).join(', ')]),
      notes: [],
    });
  }

  for (const b of report.metrics) {
    const cols: { tta: string; key: MetricKey }[] = [];
    for (const tta of b.ttas) {
      for (const key of METRIC_KEYS) {
        if (key === 'top5' && b.top5Hidden) continue;
        if (b.rows.some((r) => r.values[tta]?.[key] !== null && r.values[tta]?.[key] !== undefined)) cols.push({ tta, key });
      }
    }
    const cell = (v: MetricCell | null, d: MetricCell | null, key: MetricKey, i: number) => {
      const x = v?.[key];
      if (x === null || x === undefined) return '';
      const dx = d?.[key];
      return i === 0 || dx === null || dx === undefined ? fmt(x) : `${fmt(x)} ${signed(dx)}`;
    };
    out.push({
      id: 'metrics',
      title: `metrics: ${b.split} / ${b.level} (deltas from the baseline)`,
      header: ['run', 'status', ...cols.map((c) => `${c.tta} ${METRIC_NAMES[c.key]}`)],
      rows: b.rows.map((r, i) => [label(i), runs[i].status, ...cols.map((c) => cell(r.values[c.tta], r.deltas[c.tta], c.key, i))]),
      notes: b.top5Hidden ? [b.top5Hidden] : [],
      baselineFirst: true,
    });
  }
  if (!report.metrics.length) out.push({ id: 'metrics', title: 'metrics', header: [], rows: [], notes: ['no run has metrics.json yet (runs still training, failed early, or without a labelled split)'] });

  if (report.hierarchy.some((h) => h.value !== null)) {
    out.push({
      id: 'hierarchy', title: 'hierarchy consistency: val, default TTA (share of images whose predicted species, genus and family agree with the label tree)',
      header: ['run', 'consistency', 'Δ vs its baseline'],
      rows: report.hierarchy.map((h, i) => [label(i), fmt(h.value), h.delta === null ? '' : `${signed(h.delta)}${h.vs && h.vs !== report.baseline ? ` (vs ${labelOf(h.vs)})` : ''}`]),
      notes: [], baselineFirst: true,
    });
  }

  const sig = report.significance;
  if (sig) {
    const ok = sig.pairs.filter((p): p is Extract<PairResult, { comparable: true }> => p.comparable);
    const s: Section = {
      id: 'significance',
      title: `per run vs its same-seed baseline: ${sig.split} / ${sig.level}, validation-example noise only (one run each side; bootstrap ${sig.resamples} resamples, seed ${sig.seed}, 95 % CI; McNemar on per-example correctness)`,
      header: ['run', 'vs', 'tta', 'n', 'Δ macro-F1 [95 % CI]', 'Δ accuracy [95 % CI]', 'McNemar p (A✓B✗ / A✗B✓)', 'verdict'],
      rows: ok.map((p) => {
        const f = p.bootstrap.macro_f1;
        const a = p.bootstrap.accuracy;
        return [label(byId.get(p.run) ?? 0), labelOf(p.vs), p.ttaA === p.ttaB ? String(p.ttaA) : `${p.ttaA}/${p.ttaB}`, String(p.n),
          `${signed(f.diff)} [${fmt(f.lo)}, ${fmt(f.hi)}]`, `${signed(a.diff)} [${fmt(a.lo)}, ${fmt(a.hi)}]`,
          `${formatP(p.mcnemar.p)} (${p.mcnemar.b}/${p.mcnemar.c})`, p.verdict === 'noise reference' ? `noise reference (${p.relation})` : p.verdict];
      }),
      rowClass: ok.map((p) => (p.verdict === 'noise reference' ? 'noise' : null)),
      notes: sig.pairs.filter((p): p is Extract<PairResult, { comparable: false }> => !p.comparable).map((p) => `${label(byId.get(p.run) ?? 0)}: not comparable pairwise: ${p.reason}`),
    };
    if (!ok.length) s.header = [];
    out.push(s);
  }

  const curves = report.curves.runs.filter((c) => c.epochs.length);
  if (curves.length) {
    const f1 = range(curves.map((c) => c.macro_f1));
    const loss = range(curves.map((c) => c.loss));
    const last = (xs: (number | null)[]) => [...xs].reverse().find((x) => x !== null) ?? null;
    const best = (xs: (number | null)[]) => range([xs])?.[1] ?? null;
    out.push({
      id: 'curves',
      title: `learning curves: val ${report.curves.level} per epoch (shared scales: macro-F1 ${fmt(f1?.[0], 3)}–${fmt(f1?.[1], 3)}, loss ${fmt(loss?.[0], 3)}–${fmt(loss?.[1], 3)})`,
      header: ['run', 'epochs', 'macro-F1', 'last', 'best', 'loss', 'last'],
      rows: curves.map((c) => [label(byId.get(c.run) ?? 0), String(c.epochs.length),
        f1 ? sparkline(c.macro_f1, f1[0], f1[1]) : '', fmt(last(c.macro_f1)), fmt(best(c.macro_f1)),
        loss ? sparkline(c.loss, loss[0], loss[1]) : '', fmt(last(c.loss))]),
      notes: [],
      sparkline: true,
    });
  }

  const sw = report.sweep;
  if (sw) {
    const point = (p: Record<string, unknown>) => Object.entries(p).map(([k, v]) => `${k}=${formatValue(v)}`).join(', ') || '(no other keys)';
    out.push({
      id: 'sweep',
      title: `sweep ${sw.id}: ${sw.metric}, paired by ${sw.seedKey ?? 'seed'} against ${point(sw.baselineGroup)}`,
      header: ['point', 'runs', 'mean Δ', `per-${sw.seedKey ?? 'seed'} Δ`],
      rows: sw.groups.map((g) => [point(g.point), String(g.runs.length), g.meanDelta === null ? '' : signed(g.meanDelta),
        g.perSeed.map((p) => `${p.seed}: ${p.delta === null ? 'n/a' : signed(p.delta)}`).join(', ')]),
      notes: report.headline.length ? ['the interval and verdict of each change are in the answer at the top'] : [],
    });
  }

  for (const c of report.classes) {
    const row = (kind: string) => (x: (typeof c.gained)[number]) => [kind, x.name ? `${x.name} (${x.id})` : x.id, String(x.support), fmt(x.baseline, 3), fmt(x.variant, 3), signed(x.delta, 3)];
    out.push({
      id: 'classes',
      title: `classes that gained and lost most: ${c.title} (val ${c.level} F1${c.runs > 1 ? `, mean over ${c.runs} pairs` : ''})`,
      header: c.gained.length || c.lost.length ? ['', 'class', 'support', 'baseline F1', 'variant F1', 'Δ F1'] : [],
      rows: [...c.gained.map(row('gained')), ...c.lost.map(row('lost'))],
      notes: c.gained.length || c.lost.length ? [] : ['no class changed'],
    });
  }
  for (const c of report.confusions) {
    const n = (x: number) => (Number.isInteger(x) ? String(x) : x.toFixed(1));
    out.push({
      id: 'confusions',
      title: `most confused pairs: ${c.title} (val ${c.level}, images per run)`,
      header: c.rows.length ? ['true class', 'predicted as', ...c.columns] : [],
      rows: c.rows.map((r) => [r.truth, r.predicted, ...r.counts.map(n)]),
      notes: c.rows.length ? [] : ['no confusions'],
    });
  }
  if (report.notes.length) out.push({ id: 'notes', title: 'notes', header: [], rows: [], notes: report.notes });
  return out;
}

function sameText(a: unknown, b: unknown): boolean {
  return a !== undefined && b !== undefined && formatValue(a) === formatValue(b);
}

const ANSI = { pos: '\x1b[32m', neg: '\x1b[31m', mid: '\x1b[33m', off: '\x1b[0m' };

/** Terminal colour of a cell: green / red by the sign of a leading signed number or a verdict word. */
function tone(cell: string): keyof typeof ANSI | null {
  if (/^better/.test(cell)) return 'pos';
  if (/^worse/.test(cell)) return 'neg';
  if (/^(cannot tell|seed variance unknown|no effect)/.test(cell)) return 'mid';
  const iv = /^\[([+−±])[\d.]+, ([+−±])/.exec(cell);
  if (iv) return iv[1] === '+' && iv[2] === '+' ? 'pos' : iv[1] === '−' && iv[2] === '−' ? 'neg' : null;
  const m = /^([+−])\d/.exec(cell);
  return m ? (m[1] === '+' ? 'pos' : 'neg') : null;
}

/** Plain-text table padded by display width (sparklines and arrows are one column each). */
function textTable(header: string[], rows: string[][], color = false): string {
  const all = [header, ...rows];
  const widths = header.map((_h, i) => Math.max(...all.map((r) => [...(r[i] ?? '')].length)));
  const pad = (s: string, w: number) => s + ' '.repeat(Math.max(0, w - [...s].length));
  const paint = (s: string, c: string, body: boolean) => {
    const t = body && color ? tone(c) : null;
    return t ? `${ANSI[t]}${s.trimEnd()}${ANSI.off}${s.slice(s.trimEnd().length)}` : s;
  };
  const line = (r: string[], body: boolean) => r.map((c, i) => paint(i === r.length - 1 ? c : pad(c, widths[i]), c, body)).join('  ').trimEnd();
  return [line(header, false), line(widths.map((w) => '-'.repeat(w)), false), ...rows.map((r) => line(r, true))].join('\n');
}

export function renderTable(report: CompareReport, opts: { color?: boolean } = {}): string {
  return sections(report, { maxCell: 48 })
    .map((s) => [s.title, ...(s.header.length ? [textTable(s.header, s.rows, opts.color && (s.id === 'headline' || s.id === 'significance'))] : []), ...s.notes.map((n) => `  ${n}`)].join('\n'))
    .join('\n\n') + '\n';
}

const mdCell = (s: string): string => s.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function renderMarkdown(report: CompareReport): string {
  const parts = [`## exp compare: ${report.runs.length} run(s), baseline ${report.baseline}`];
  for (const s of sections(report)) {
    parts.push(`### ${s.title}`);
    if (s.header.length) {
      const wrap = (c: string, i: number) => (s.sparkline && (i === 2 || i === 5) && c ? `\`${c}\`` : mdCell(c));
      parts.push([
        `| ${s.header.map(mdCell).join(' | ')} |`,
        `|${s.header.map((_h, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`,
        ...s.rows.map((r) => `| ${r.map(wrap).join(' | ')} |`),
      ].join('\n'));
    }
    if (s.notes.length) parts.push(s.notes.map((n) => `- ${mdCell(n)}`).join('\n'));
  }
  return parts.join('\n\n') + '\n';
}

/** JSON: the report itself, the headline first; config values a run does not set are the string "(unset)". */
export function renderJson(report: CompareReport): string {
  const config = report.config.map((d) => ({ key: d.key, values: d.values.map((v) => (v === undefined ? '(unset)' : v)) }));
  const { headline, definitions, ...rest } = report;
  return `${JSON.stringify({ headline, definitions, ...rest, config }, null, 2)}\n`;
}

const CSV_HEADER = ['run', 'label', 'status', 'section', 'split', 'tta', 'level', 'epoch', 'key', 'value', 'baseline', 'delta'];

function csvCell(x: unknown): string {
  const s = x === null || x === undefined ? '' : String(x);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** CSV in long form (one value per line) so every section fits one header, for spreadsheets and pandas; the headline first. */
export function renderCsv(report: CompareReport): string {
  const lines: unknown[][] = [CSV_HEADER];
  const { runs } = report;
  const idx = new Map(runs.map((r, i) => [r.id, i]));
  const row = (i: number, section: string, rest: Partial<Record<'split' | 'tta' | 'level' | 'epoch' | 'key' | 'value' | 'baseline' | 'delta', unknown>>) =>
    lines.push([runs[i].id, runs[i].label, runs[i].status, section, rest.split, rest.tta, rest.level, rest.epoch, rest.key, rest.value, rest.baseline, rest.delta]);
  for (const h of report.headline) {
    const e = h.effect;
    const first = idx.get(h.pairs[0]?.variant ?? '') ?? 0;
    const key = `${h.key}=${valueText(h.variant)} vs ${valueText(h.baseline)}`;
    if (!e) {
      row(first, 'headline', { key: `${key}: verdict`, value: `not comparable: ${h.reason ?? ''}` });
      continue;
    }
    for (const [k, v] of [['effect', e.effect], ['ci_lo', e.lo], ['ci_hi', e.hi], ['p_better', e.p_better], ['seed_spread', e.seed_spread], ['baseline_spread', h.baseline_spread], ['pairs', e.pairs], ['verdict', e.text]] as const) {
      row(first, 'headline', { key: `${key}: ${k}`, value: v });
    }
    for (const p of h.pairs) row(idx.get(p.variant) ?? 0, 'headline', { key: `${key}: ${p.seed}`, value: p.variant_value, baseline: p.baseline_value, delta: p.delta });
  }
  runs.forEach((r, i) => {
    row(i, 'run', { key: 'kind', value: r.kind });
    if (r.error) row(i, 'run', { key: 'error', value: r.error });
  });
  for (const d of report.config) runs.forEach((_r, i) => row(i, 'config', { key: d.key, value: formatValue(d.values[i]), baseline: formatValue(d.values[0]) }));
  for (const b of report.metrics) {
    b.rows.forEach((r, i) => {
      for (const tta of b.ttas) {
        const v = r.values[tta];
        if (!v) continue;
        for (const key of METRIC_KEYS) {
          if (v[key] === null) continue;
          row(i, 'metric', { split: b.split, tta, level: b.level, key, value: v[key], baseline: b.rows[0].values[tta]?.[key], delta: r.deltas[tta]?.[key] });
        }
      }
    });
  }
  const sig = report.significance;
  for (const p of sig?.pairs ?? []) {
    const i = idx.get(p.run) ?? 0;
    const at = { split: sig!.split, level: sig!.level };
    if (!p.comparable) {
      row(i, 'significance', { ...at, key: 'not_comparable', value: p.reason });
      continue;
    }
    const tta = p.ttaA === p.ttaB ? `tta${p.ttaA}` : `tta${p.ttaA}/tta${p.ttaB}`;
    row(i, 'significance', { ...at, tta, key: 'vs', value: p.vs });
    for (const m of ['macro_f1', 'accuracy'] as const) {
      const x = p.bootstrap[m];
      row(i, 'significance', { ...at, tta, key: m, value: x.b, baseline: x.a, delta: x.diff });
      row(i, 'significance', { ...at, tta, key: `${m}_ci_lo`, value: x.lo });
      row(i, 'significance', { ...at, tta, key: `${m}_ci_hi`, value: x.hi });
    }
    row(i, 'significance', { ...at, tta, key: 'mcnemar_p', value: p.mcnemar.p });
    row(i, 'significance', { ...at, tta, key: 'verdict', value: p.verdict });
  }
  for (const c of report.curves.runs) {
    c.epochs.forEach((e, k) => {
      row(idx.get(c.run) ?? 0, 'curve', { split: 'val', level: report.curves.level, epoch: e, key: 'macro_f1', value: c.macro_f1[k] });
      row(idx.get(c.run) ?? 0, 'curve', { split: 'val', level: report.curves.level, epoch: e, key: 'loss', value: c.loss[k] });
    });
  }
  for (const g of report.sweep?.groups ?? []) {
    for (const p of g.perSeed) {
      const run = g.runs[g.perSeed.indexOf(p)];
      row(idx.get(run) ?? 0, 'sweep', { key: `${report.sweep!.seedKey ?? 'seed'}=${p.seed}`, value: p.value, baseline: p.baseline, delta: p.delta });
    }
  }
  return lines.map((l) => l.map(csvCell).join(',')).join('\n') + '\n';
}

export function render(report: CompareReport, format: Format, opts: { color?: boolean } = {}): string {
  switch (format) {
    case 'table': return renderTable(report, opts);
    case 'md': return renderMarkdown(report);
    case 'json': return renderJson(report);
    case 'csv': return renderCsv(report);
  }
}

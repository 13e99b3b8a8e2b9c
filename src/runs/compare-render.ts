// Text renderings of a compare report: terminal table, Markdown, JSON and CSV. All of them are
// built from one list of sections (title, header, rows, notes) so the formats cannot drift apart;
// the HTML page (compare-html.ts) reuses the same sections for its tables.
import { formatP, formatValue, range, sparkline, type CompareReport, type MetricCell, type MetricKey, type PairResult } from './compare.ts';

export interface Section {
  title: string;
  header: string[];
  rows: string[][];
  notes: string[];
  /** Cells of these columns are sparklines (HTML leaves the section out: it draws charts instead). */
  sparkline?: boolean;
  /** The first row is the baseline run (HTML sets it in bold). */
  baselineFirst?: boolean;
}

export type Format = 'table' | 'md' | 'json' | 'csv';
export const FORMATS: readonly Format[] = ['table', 'md', 'json', 'csv'];

const METRIC_NAMES: Record<MetricKey, string> = { macro_f1: 'macro-F1', accuracy: 'acc', top5: 'top-5' };
const fmt = (x: number | null | undefined, d = 4): string => (x === null || x === undefined ? '' : x.toFixed(d));
const signed = (x: number, d = 4): string => `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(d)}`;

function clip(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

/** The report as sections. `maxCell` clips long config values (terminal only). */
export function sections(report: CompareReport, opts: { maxCell?: number } = {}): Section[] {
  const max = opts.maxCell ?? Infinity;
  const { runs } = report;
  const label = (i: number) => (i === 0 ? `${runs[0].label} (baseline)` : runs[i].label);
  const byId = new Map(runs.map((r, i) => [r.id, i]));
  const out: Section[] = [];

  out.push({
    title: `runs (${runs.length})`,
    header: ['run', 'id', 'kind', 'status', 'epochs', 'note'],
    rows: runs.map((r, i) => [label(i), r.id, r.kind, r.status, String(r.epochs), r.error ? clip(r.error.replace(/\s+/g, ' '), 120) : '']),
    notes: [],
    baselineFirst: true,
  });

  // Config diff: keys as rows while the runs fit side by side, runs as rows beyond that.
  const diff = report.config;
  const cfg: Section = { title: 'config diff (keys that differ; name and description ignored)', header: [], rows: [], notes: [] };
  if (!diff.length) {
    cfg.notes.push(runs.length > 1 ? 'the configs are identical' : 'one run: nothing to diff');
  } else if (runs.length <= 5) {
    cfg.header = ['key', ...runs.map((_r, i) => label(i))];
    cfg.rows = diff.map((d) => [d.key, ...d.values.map((v) => clip(formatValue(v), max))]);
  } else {
    cfg.header = ['run', ...diff.map((d) => d.key)];
    cfg.rows = runs.map((_r, i) => [label(i), ...diff.map((d) => clip(i > 0 && sameText(d.values[i], d.values[0]) ? '=' : formatValue(d.values[i]), max))]);
    cfg.notes.push('= : same as the baseline');
    cfg.baselineFirst = true;
  }
  out.push(cfg);

  for (const b of report.metrics) {
    const cols: { tta: string; key: MetricKey }[] = [];
    for (const tta of b.ttas) {
      for (const key of ['macro_f1', 'accuracy', 'top5'] as MetricKey[]) {
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
      title: `metrics: ${b.split} / ${b.level} (deltas from the baseline)`,
      header: ['run', 'status', ...cols.map((c) => `${c.tta} ${METRIC_NAMES[c.key]}`)],
      rows: b.rows.map((r, i) => [label(i), runs[i].status, ...cols.map((c) => cell(r.values[c.tta], r.deltas[c.tta], c.key, i))]),
      notes: [],
      baselineFirst: true,
    });
  }
  if (!report.metrics.length) out.push({ title: 'metrics', header: [], rows: [], notes: ['no run has metrics.json yet (runs still training, failed early, or without a labelled split)'] });

  const sig = report.significance;
  if (sig) {
    const ok = sig.pairs.filter((p): p is Extract<PairResult, { comparable: true }> => p.comparable);
    const s: Section = {
      title: `paired significance: ${sig.split} / ${sig.level} vs the baseline (bootstrap ${sig.resamples} resamples, seed ${sig.seed}, 95 % CI; McNemar on per-example correctness)`,
      header: ['run', 'tta', 'n', 'Δ macro-F1 [95 % CI]', 'Δ accuracy [95 % CI]', 'McNemar p (A✓B✗ / A✗B✓)', 'verdict'],
      rows: ok.map((p) => {
        const f = p.bootstrap.macro_f1;
        const a = p.bootstrap.accuracy;
        return [label(byId.get(p.run) ?? 0), p.ttaA === p.ttaB ? String(p.ttaA) : `${p.ttaA}/${p.ttaB}`, String(p.n),
          `${signed(f.diff)} [${fmt(f.lo)}, ${fmt(f.hi)}]`, `${signed(a.diff)} [${fmt(a.lo)}, ${fmt(a.hi)}]`,
          `${formatP(p.mcnemar.p)} (${p.mcnemar.b}/${p.mcnemar.c})`, p.verdict];
      }),
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
      title: `sweep ${sw.id}: ${sw.metric}, paired by ${sw.seedKey ?? 'seed'} against ${point(sw.baselineGroup)}`,
      header: ['point', 'runs', 'mean Δ', `per-${sw.seedKey ?? 'seed'} Δ`],
      rows: sw.groups.map((g) => [point(g.point), String(g.runs.length), g.meanDelta === null ? '' : signed(g.meanDelta),
        g.perSeed.map((p) => `${p.seed}: ${p.delta === null ? 'n/a' : signed(p.delta)}`).join(', ')]),
      notes: [],
    });
  }
  if (report.notes.length) out.push({ title: 'notes', header: [], rows: [], notes: report.notes });
  return out;
}

function sameText(a: unknown, b: unknown): boolean {
  return a !== undefined && b !== undefined && formatValue(a) === formatValue(b);
}

/** Plain-text table padded by display width (sparklines and arrows are one column each). */
function textTable(header: string[], rows: string[][]): string {
  const all = [header, ...rows];
  const widths = header.map((_h, i) => Math.max(...all.map((r) => [...(r[i] ?? '')].length)));
  const pad = (s: string, w: number) => s + ' '.repeat(Math.max(0, w - [...s].length));
  const line = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : pad(c, widths[i]))).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

export function renderTable(report: CompareReport): string {
  return sections(report, { maxCell: 48 })
    .map((s) => [s.title, ...(s.header.length ? [textTable(s.header, s.rows)] : []), ...s.notes.map((n) => `  ${n}`)].join('\n'))
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

/** JSON: the report itself; config values a run does not set are the string "(unset)". */
export function renderJson(report: CompareReport): string {
  const config = report.config.map((d) => ({ key: d.key, values: d.values.map((v) => (v === undefined ? '(unset)' : v)) }));
  return `${JSON.stringify({ ...report, config }, null, 2)}\n`;
}

const CSV_HEADER = ['run', 'label', 'status', 'section', 'split', 'tta', 'level', 'epoch', 'key', 'value', 'baseline', 'delta'];

function csvCell(x: unknown): string {
  const s = x === null || x === undefined ? '' : typeof x === 'number' ? String(x) : String(x);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** CSV in long form (one value per line) so every section fits one header, for spreadsheets and pandas. */
export function renderCsv(report: CompareReport): string {
  const lines: unknown[][] = [CSV_HEADER];
  const { runs } = report;
  const idx = new Map(runs.map((r, i) => [r.id, i]));
  const row = (i: number, section: string, rest: Partial<Record<'split' | 'tta' | 'level' | 'epoch' | 'key' | 'value' | 'baseline' | 'delta', unknown>>) =>
    lines.push([runs[i].id, runs[i].label, runs[i].status, section, rest.split, rest.tta, rest.level, rest.epoch, rest.key, rest.value, rest.baseline, rest.delta]);
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
        for (const key of ['macro_f1', 'accuracy', 'top5'] as MetricKey[]) {
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

export function render(report: CompareReport, format: Format): string {
  switch (format) {
    case 'table': return renderTable(report);
    case 'md': return renderMarkdown(report);
    case 'json': return renderJson(report);
    case 'csv': return renderCsv(report);
  }
}

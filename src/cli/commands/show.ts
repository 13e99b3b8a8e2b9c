// exp show <run>: one run's record, readable. run.json, metrics.json and history.jsonl are read
// through the validating reader, so a damaged file is an error naming it, never a crash.
import { resolve } from 'node:path';
import { readRun, resolveRunArgs } from '../../runs/read.ts';
import { table } from '../table.ts';

export async function run([arg]: string[], opts: { 'runs-dir'?: string; json?: boolean }): Promise<number> {
  const [dir] = resolveRunArgs([arg], resolve(opts['runs-dir'] ?? 'runs'));
  const view = readRun(dir);
  const r = view.run;
  if (opts.json) {
    process.stdout.write(`${JSON.stringify({ run: r, metrics: view.metrics() }, null, 2)}\n`);
    return 0;
  }
  const out: string[] = [];
  out.push(`${r.id}  (${r.kind}, ${r.status})`);
  out.push(`name       ${r.name}`);
  out.push(`started    ${r.started}${r.finished ? `   finished ${r.finished}` : ''}`);
  if (r.error) out.push(`error      ${r.error.message}${r.error.stage ? ` (stage ${r.error.stage})` : ''}`);
  const g = r.git as { available: boolean; sha?: string; branch?: string; dirty?: boolean; reason?: string };
  out.push(`git        ${g.available ? `${g.sha} on ${g.branch ?? '(detached)'}${g.dirty ? ', uncommitted changes in git.patch' : ', clean'}` : `not recorded: ${g.reason ?? 'no repository'}`}`);
  out.push(`identity   ${r.identity}`);
  out.push(`seed       ${r.seed ?? ''}`);
  if (r.backend) out.push(`backend    ${r.backend.name} (${r.backend.version ?? ''})${r.backend.deterministic ? ', deterministic' : ''}${(r.backend.replicas ?? 1) > 1 ? `, ${r.backend.replicas} replicas` : ''}`);
  const cpu = r.versions.cpu;
  if (cpu) out.push(`cpu        ${cpu.model ?? 'unknown model'}, ${cpu.isa ?? 'unknown ISA'}${cpu.simd.length ? ` (${cpu.simd.join(' ')})` : ''}, ${cpu.cores} core${cpu.cores === 1 ? '' : 's'}`);
  const a = r.backend?.adapter;
  if (a) out.push(`adapter    ${[a.vendor, a.architecture, a.device].filter(Boolean).join(' ') || '(unnamed)'}${a.description ? ` (${a.description})` : ''}${a.software ? ', software' : ''}`);
  if (r.data) out.push(`data       ${r.data.fingerprint.slice(0, 16)}…  ${Object.entries(r.data.counts).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  if (r.data?.decoder) out.push(`decoder    ${r.data.decoder}`);
  // images left out under data.on_bad_image: skip: the count per split and the first few files
  const bad = Object.entries(r.data?.bad_images ?? {});
  if (bad.length) {
    out.push(`bad images ${bad.map(([split, b]) => `${split} ${b.count}`).join(', ')} left out (data.on_bad_image: skip)`);
    for (const [split, b] of bad) {
      for (const f of b.files.slice(0, 10)) out.push(`  ${split}  ${f.file}  ${f.reason}${f.detail ? `: ${f.detail}` : ''}`);
      if (b.count > 10) out.push(`  ${split}  ... ${b.count - 10} more (${Math.min(b.count, b.files.length)} listed in run.json)`);
    }
  }
  if (r.overrides.length) out.push(`overrides  ${r.overrides.map((o) => `${o.key}=${JSON.stringify(o.value)} (${o.source})`).join(', ')}`);
  if (r.sweep) out.push(`sweep      ${r.sweep.id} ${JSON.stringify(r.sweep.point)}`);
  out.push('', 'stages:');
  out.push(table(['stage', 'status', 'seconds', 'cached'], r.stages.map((s) => [s.name, s.status, s.seconds?.toFixed(1) ?? '', s.cached ? 'yes' : ''])).trimEnd());
  const m = view.metrics();
  const rows: string[][] = [];
  for (const [split, byTta] of Object.entries(m)) {
    for (const [tta, byLevel] of Object.entries(byTta)) {
      for (const [level, v] of Object.entries(byLevel)) {
        if (typeof v === 'number') rows.push([split, tta, level, v.toFixed(4), '', '']);
        else rows.push([split, tta, level, v.macro_f1.toFixed(4), v.accuracy.toFixed(4), v.top5 === null ? '' : v.top5.toFixed(4)]);
      }
    }
  }
  if (rows.length) out.push('', 'metrics:', table(['split', 'tta', 'level', 'macro-F1', 'accuracy', 'top-5'], rows).trimEnd());
  const h = view.history();
  if (h.length) {
    const last = h[h.length - 1];
    out.push('', `history: ${h.length} epochs; last: train loss ${last.train_loss.toFixed(4)}, ${last.images_per_s.toFixed(1)} img/s`);
  }
  process.stdout.write(`${out.join('\n')}\n`);
  for (const note of view.notes) process.stderr.write(`note: ${note}\n`);
  return 0;
}

// Real run records for the compare tests and bench/compare.ts: written through createRun and
// RunRecord (so they validate against the run-record schemas under EXP_TEST=1) with .npy
// predictions from NpyWriter. Two levels: species (the target) and genus = species / 2.
import { writeFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { writeNpy } from '../../../src/eval/npy.ts';
import { macroF1FromCounts } from '../../../src/eval/metrics.ts';
import { createRun } from '../../../src/runs/record.ts';
import type { HistoryRecord, SweepInfo } from '../../../src/runs/schemas.ts';
import { Rng } from '../../../src/util/rng.ts';

export interface FixtureSpec {
  name: string;
  /** Deep-merged over the base config. */
  config?: Record<string, unknown>;
  status?: 'completed' | 'failed' | 'interrupted' | 'running';
  /** Image ids in the run's row order. */
  ids: (string | number)[];
  /** True species column per id (same order as ids). */
  labels: number[];
  /** Predicted species column per id. */
  pred: number[];
  /** Species class ids, one per column. */
  classes: (string | number)[];
  /** Per epoch: val species macro-F1 and loss. */
  epochs?: { f1: number; loss: number }[];
  /** TTA counts with predictions (the last is the default); [] writes none. */
  tta?: number[];
  sweep?: SweepInfo | null;
  seed?: number;
  /** Data fingerprint recorded in run.json. */
  fingerprint?: string;
  now?: Date;
  kind?: 'train' | 'ensemble';
  /** An ensemble's member run ids (weights equal); its config is then an ensemble's, as exp ensemble writes it. */
  members?: string[];
}

export const BASE_CONFIG = {
  name: 'base',
  seed: 1,
  data: {
    format: 'herbarium', train: '/data/herb/train', val: { fraction: 0.2, stratify: true, seed: 139 },
    levels: ['species', 'genus'], image: { resize: 40, size: 32 },
  },
  model: { backbone: { name: 'tiny', weights: null }, head: { pool: 'concat', hidden: 0, dropout: 0 } },
  loss: { type: 'focal', gamma: 2, weights: { species: 1.5, genus: 1 } },
  optimizer: { name: 'adam', lr: 0.003 },
  schedule: { type: 'step', milestones: [8, 12], factor: 0.5 },
  train: { epochs: 3, batch_size: 32 },
  augment: { hflip: true, color_jitter: { enabled: false, brightness: 0.2 } },
  tta: { count: 1, reduce: 'logits' },
};

function merge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const cur = out[k];
    const isMap = (x: unknown) => x && typeof x === 'object' && !Array.isArray(x);
    out[k] = isMap(v) && isMap(cur) ? merge(cur as Record<string, unknown>, v as Record<string, unknown>) : v;
  }
  return out;
}

function levelMetrics(labels: number[], pred: number[], C: number) {
  const tp = new Int32Array(C);
  const fp = new Int32Array(C);
  const fn = new Int32Array(C);
  let correct = 0;
  labels.forEach((t, i) => {
    if (t === pred[i]) {
      tp[t]++;
      correct++;
    } else {
      fp[pred[i]]++;
      fn[t]++;
    }
  });
  return { macro_f1: macroF1FromCounts(tp, fp, fn).macroF1, accuracy: correct / labels.length, top5: C >= 5 ? 1 : null, count: labels.length };
}

/** Top-k columns with `first` in front, the rest in column order. */
function topRows(pred: number[], C: number): Int32Array {
  const k = Math.min(5, C);
  const out = new Int32Array(pred.length * k);
  pred.forEach((p, i) => {
    out[i * k] = p;
    let j = 1;
    for (let c = 0; c < C && j < k; c++) if (c !== p) out[i * k + j++] = c;
  });
  return out;
}

/** Writes one run record under runsDir and returns its directory. */
export async function makeRun(runsDir: string, spec: FixtureSpec): Promise<string> {
  const members = spec.kind === 'ensemble' ? (spec.members ?? ['20260101-000000-member-abcdef']) : null;
  const weights = members?.map(() => 1 / members.length) ?? [];
  const config = members
    ? { kind: 'ensemble', method: 'logits', weights, optimize: null, splits: ['val'], tta: null, data: { levels: ['species', 'genus'] }, members: members.map((id, i) => ({ id, identity: 'e'.repeat(64), weight: weights[i] })) }
    : merge(BASE_CONFIG, { name: spec.name, ...(spec.config ?? {}) });
  const text = stringify(config);
  const record = await createRun({
    runsDir, name: spec.name, kind: spec.kind ?? 'train', experimentText: spec.kind === 'ensemble' ? null : text, experimentPath: null,
    resolvedConfigYaml: text, configHash: 'c'.repeat(64), seed: spec.seed ?? 1, sweep: spec.sweep ?? null,
    members: members ? members.map((id, i) => ({ id, identity: 'e'.repeat(64), weight: weights[i] })) : null, argv: ['run', 'x.yaml'], cwdForGit: runsDir, now: spec.now,
  });
  if (members) record.update({ ensemble: { method: 'logits', weights, optimized: null } });
  const C = spec.classes.length;
  const genusClasses = Array.from({ length: Math.ceil(C / 2) }, (_x, g) => `g${g}`);
  record.setData({ fingerprint: spec.fingerprint ?? 'f'.repeat(64), counts: { train: 100, val: spec.ids.length }, classes: { species: C, genus: genusClasses.length } });
  for (const [i, e] of (spec.epochs ?? []).entries()) {
    const row: HistoryRecord = {
      epoch: i + 1, lr: 0.003, train: { species: e.loss + 0.1, genus: e.loss }, train_loss: 2 * e.loss,
      val: { species: { loss: e.loss, macro_f1: e.f1, accuracy: e.f1, top5: null }, genus: { loss: e.loss / 2, macro_f1: e.f1, accuracy: e.f1, top5: null } },
      images_per_s: 100, seconds: 1,
    };
    record.appendHistory(row);
  }
  const ttas = spec.tta ?? [1];
  const genus = (xs: number[]) => xs.map((x) => Math.floor(x / 2));
  for (const [ti, tta] of ttas.entries()) {
    const dir = record.predictionsDir('val', tta);
    // A TTA count > 1 corrects a few predictions (chosen by id, not row, so row order cannot matter),
    // so the two counts differ as real runs do.
    const fixes = (id: string | number) => [...String(id)].reduce((h, ch) => (h * 31 + ch.charCodeAt(0)) % 7919, 0) % 7 === 0;
    const pred = tta === 1 ? spec.pred : spec.pred.map((p, i) => (fixes(spec.ids[i]) ? spec.labels[i] : p));
    for (const [level, _labels, p, cls] of [['species', spec.labels, pred, spec.classes], ['genus', genus(spec.labels), genus(pred), genusClasses]] as const) {
      const n = cls.length;
      await writeNpy(`${dir}/${level}.top5.npy`, topRows(p, n), { dtype: 'int32', cols: Math.min(5, n) });
      const scores = new Float32Array(p.length * n);
      p.forEach((c, i) => (scores[i * n + c] = 1));
      await writeNpy(`${dir}/${level}.npy`, scores, { dtype: 'float32', cols: n });
    }
    // per_class.json as predict writes it (only the class ids and names matter to compare)
    writeFileSync(`${dir}/per_class.json`, JSON.stringify({
      species: { classes: spec.classes, names: spec.classes.map((c) => `Species ${c}`), f1: [], precision: [], recall: [], support: [] },
      genus: { classes: genusClasses, names: genusClasses.map((g) => `Genus ${g}`), f1: [], precision: [], recall: [], support: [] },
    }));
    record.writePredictionIndex({
      split: 'val', ids: spec.ids, labels: { species: spec.labels, genus: genus(spec.labels) }, classes: { species: [...spec.classes], genus: genusClasses },
      tta, reduce: 'logits', dtype: 'float32', scores: 'logits', rows: spec.ids.length, levels: ['species', 'genus'],
    });
    record.addPredictions({ split: 'val', tta, reduce: 'logits', default: ti === ttas.length - 1 });
    // genus predictions are species / 2 here, so they always agree with the label tree
    record.writeMetrics({ val: { [`tta${tta}`]: { species: levelMetrics(spec.labels, pred, C), genus: levelMetrics(genus(spec.labels), genus(pred), genusClasses.length), hierarchy_consistency: 1 } } });
  }
  const status = spec.status ?? 'completed';
  if (status === 'completed') record.complete();
  else if (status === 'failed') record.fail(new Error('loss became NaN at epoch 2'), 'train');
  else if (status === 'interrupted') record.interrupt('SIGINT');
  return record.dir;
}

/** n examples over C classes with truth and a prediction that is right with probability `acc`. */
export function synthPredictions(n: number, C: number, acc: number, seed: number, truthSeed = 7): { ids: string[]; labels: number[]; pred: number[] } {
  const t = new Rng(truthSeed, 1);
  const r = new Rng(seed, 2);
  const ids = Array.from({ length: n }, (_x, i) => `img${i}`);
  const labels = ids.map(() => t.int(C));
  const pred = labels.map((l) => (r.next() < acc ? l : (l + 1 + r.int(C - 1)) % C));
  return { ids, labels, pred };
}

/** The same examples in another row order (a different loader or shuffle). */
export function shuffled<T extends { ids: unknown[]; labels: number[]; pred: number[] }>(x: T, seed: number): T {
  const r = new Rng(seed, 3);
  const order = x.ids.map((_v, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = r.int(i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  return { ...x, ids: order.map((i) => x.ids[i]), labels: order.map((i) => x.labels[i]), pred: order.map((i) => x.pred[i]) };
}

// Shared builders for the compare unit tests: runs as compare sees them, and prediction sides.
import type { CompareRun } from '../../../src/runs/compare/types.ts';
import type { PairSide } from '../../../src/runs/compare/pairing.ts';
import type { MetricsJson } from '../../../src/runs/schemas.ts';

export function run(id: string, metrics: MetricsJson, extra: Partial<CompareRun> = {}): CompareRun {
  return { id, label: id, dir: `/runs/${id}`, name: id, kind: 'train', status: 'completed', error: null, config: {}, metrics, history: [], sweep: null, seed: 1, levels: ['species', 'genus'], defaultTta: { val: 4 }, ...extra };
}
export const lv = (f: number, a: number, t: number | null = null) => ({ macro_f1: f, accuracy: a, top5: t });

export function side(id: string, x: { ids: (string | number)[]; labels: number[]; pred: number[] }, classes: (string | number)[], config: Record<string, unknown> | null = null): PairSide {
  return { id, ids: x.ids, labels: Int32Array.from(x.labels), classes, top1: Int32Array.from(x.pred), tta: 1, config, dataFingerprint: 'f' };
}
export const CLS = Array.from({ length: 8 }, (_x, i) => `c${i}`);

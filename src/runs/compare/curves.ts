// Learning curves from history.jsonl: per epoch the learning rate and, for every level, the
// training loss, the validation loss and the validation macro-F1; and the terminal's sparklines.
import type { HistoryRecord } from '../schemas.ts';

export interface LevelCurve {
  train_loss: (number | null)[];
  val_loss: (number | null)[];
  macro_f1: (number | null)[];
}

export interface Curve {
  run: string;
  epochs: number[];
  /** Validation macro-F1 of the target level per epoch; null where the epoch was not validated. */
  macro_f1: (number | null)[];
  /** Validation loss of the target level per epoch (the total val_loss when the level has none). */
  loss: (number | null)[];
  lr: (number | null)[];
  /** The training total loss per epoch. */
  train_loss: (number | null)[];
  /** Every level's curves. */
  levels: Record<string, LevelCurve>;
}

const num = (x: unknown): number | null => (typeof x === 'number' && Number.isFinite(x) ? x : null);

export function learningCurve(run: string, history: HistoryRecord[], level: string, levels: readonly string[] = [level]): Curve {
  const all = [level, ...levels.filter((l) => l !== level)];
  return {
    run,
    epochs: history.map((h) => h.epoch),
    macro_f1: history.map((h) => num(h.val?.[level]?.macro_f1)),
    loss: history.map((h) => num(h.val?.[level]?.loss) ?? num(h.val_loss)),
    lr: history.map((h) => num(h.lr)),
    train_loss: history.map((h) => num(h.train_loss)),
    levels: Object.fromEntries(all.map((l) => [l, {
      train_loss: history.map((h) => num(h.train?.[l])),
      val_loss: history.map((h) => num(h.val?.[l]?.loss)),
      macro_f1: history.map((h) => num(h.val?.[l]?.macro_f1)),
    }])),
  };
}

const BARS = '▁▂▃▄▅▆▇█';

/**
 * Unicode sparkline of `values` on the scale [lo, hi] (shared across runs, so heights compare);
 * gaps are spaces. Longer series are averaged into `width` buckets.
 */
export function sparkline(values: (number | null)[], lo: number, hi: number, width = 40): string {
  let v = values;
  if (v.length > width) {
    v = Array.from({ length: width }, (_x, i) => {
      const part = values.slice(Math.floor((i * values.length) / width), Math.floor(((i + 1) * values.length) / width)).filter((x): x is number => x !== null);
      return part.length ? part.reduce((s, x) => s + x, 0) / part.length : null;
    });
  }
  const span = hi - lo;
  return v.map((x) => (x === null ? ' ' : BARS[span > 0 ? Math.max(0, Math.min(7, Math.round(((x - lo) / span) * 7))) : 3])).join('');
}

/** [min, max] over every number in the series, or null when there is none. */
export function range(series: (number | null)[][]): [number, number] | null {
  let lo = Infinity;
  let hi = -Infinity;
  for (const s of series) for (const x of s) if (x !== null) {
    lo = Math.min(lo, x);
    hi = Math.max(hi, x);
  }
  return lo <= hi ? [lo, hi] : null;
}

// Learning-rate schedules as pure functions of the training position, so the rate of any step can
// be recomputed after a resume and the rate of each epoch recorded in history.jsonl.
// Epochs count from 0. A position is epoch + stepInEpoch / stepsPerEpoch; the step and cosine
// schedules' milestones are epoch indices like PyTorch's MultiStepLR stepped once per epoch:
// milestone 10 means epochs 0..9 use the base rate and epoch 10 the first reduced one.
import { Registry } from '../registry.ts';
import { UserError } from '../errors.ts';

export interface ScheduleSpec {
  type: string; // 'constant' | 'step' | 'cosine'
  milestones?: number[]; // step
  factor?: number; // step: multiplied in at each milestone passed (0.5 = halve)
  warmup_epochs?: number; // cosine: linear warmup length (may be fractional)
  min_lr?: number; // cosine: the rate the cosine decays to at the end of training
}

export interface SchedulePosition {
  epoch: number;
  stepInEpoch?: number;
  stepsPerEpoch?: number;
  /** Total epochs of the run (cosine needs its end). */
  epochs: number;
}

export type ScheduleFn = (spec: ScheduleSpec, baseLr: number, pos: SchedulePosition) => number;

const bad = (msg: string): never => {
  throw new UserError(`schedule: ${msg}. Fix the experiment's schedule block.`);
};

export const schedules = new Registry<ScheduleFn>('schedule');

schedules.register('constant', 'the optimizer lr throughout', (_s, baseLr) => baseLr);

schedules.register('step', 'lr times factor at each milestone epoch passed', (spec, baseLr, pos) => {
  const factor = spec.factor ?? 0.1;
  let lr = baseLr;
  for (const m of spec.milestones ?? []) if (pos.epoch >= m) lr *= factor;
  return lr;
});

schedules.register('cosine', 'linear warmup (warmup_epochs) then cosine decay to min_lr', (spec, baseLr, pos) => {
  const warm = spec.warmup_epochs ?? 0;
  const minLr = spec.min_lr ?? 0;
  const spe = Math.max(1, pos.stepsPerEpoch ?? 1);
  const t = pos.epoch + (pos.stepInEpoch ?? 0) / spe;
  // warmup reaches baseLr on its last step rather than starting at a useless 0
  // (capped at baseLr: a warmup that ends between two steps would overshoot on its last step;
  // the uncapped expression is kept so that every rate at or below baseLr is bit-identical)
  if (t < warm) return Math.min(baseLr, (baseLr * (t + 1 / spe)) / warm);
  const span = pos.epochs - warm;
  const progress = span > 0 ? Math.min(1, (t - warm) / span) : 1;
  return minLr + (baseLr - minLr) * 0.5 * (1 + Math.cos(Math.PI * progress));
});

export function checkSchedule(spec: ScheduleSpec, epochs?: number): void {
  schedules.get(spec.type);
  if (spec.type === 'step') {
    const ms = spec.milestones ?? [];
    if (ms.some((m, i) => !Number.isInteger(m) || m < 0 || (i > 0 && m <= ms[i - 1]))) {
      bad(`milestones must be increasing epoch indices >= 0 (got [${ms.join(', ')}])`);
    }
    const f = spec.factor ?? 0.1;
    if (!(f > 0)) bad(`factor must be > 0 (got ${f})`);
  }
  if (spec.type === 'cosine') {
    const w = spec.warmup_epochs ?? 0;
    if (!(w >= 0)) bad(`warmup_epochs must be >= 0 (got ${w})`);
    if (epochs !== undefined && w > epochs) bad(`warmup_epochs (${w}) exceeds train.epochs (${epochs})`);
    if ((spec.min_lr ?? 0) < 0) bad(`min_lr must be >= 0 (got ${spec.min_lr})`);
  }
}

/** The learning rate at a position, for an optimizer whose configured lr is baseLr. */
export function lrAt(spec: ScheduleSpec, baseLr: number, pos: SchedulePosition): number {
  return schedules.get(spec.type)(spec, baseLr, pos);
}

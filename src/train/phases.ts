// Optimizer phases: one optimizer for the whole run, an explicit list of epoch ranges, or a cycle
// ("AdamEva": Adam for 5 epochs, SGD with momentum 0.8 for 5, repeating). Each distinct optimizer
// is created once and keeps its own slots across all of its phases, so Adam's moments survive the
// SGD stretch between two Adam stretches. Epochs count from 0; ranges are [from_epoch, to_epoch).
import { createOptimizer, type Optimizer, type OptimizerConfig, type OptimizerState } from '../model/optimizers.ts';
import { stableStringify } from '../util/hash.ts';
import { UserError } from '../errors.ts';

export interface PhaseSpec {
  optimizer: OptimizerConfig;
  from_epoch: number;
  to_epoch: number;
}

/** The experiment's `optimizer` block: a single optimizer, a phase list, or a cycle. */
export type OptimizerPlan =
  | OptimizerConfig
  | { phases: PhaseSpec[] }
  | { cycle: { every: number; optimizers: OptimizerConfig[] } };

const bad = (msg: string): never => {
  throw new UserError(`optimizer: ${msg}. Fix the experiment's optimizer block.`);
};

export class OptimizerPhases {
  /** Distinct optimizer configs; identical configs in two phases are one optimizer. */
  private readonly configs: OptimizerConfig[] = [];
  private readonly instances = new Map<number, Optimizer>();
  private readonly pick: (epoch: number) => number;

  constructor(plan: OptimizerPlan, epochs?: number) {
    const index = (cfg: OptimizerConfig): number => {
      const key = stableStringify(cfg);
      let i = this.configs.findIndex((c) => stableStringify(c) === key);
      if (i < 0) i = this.configs.push(cfg) - 1;
      return i;
    };
    if ('phases' in plan) {
      const phases = [...plan.phases].sort((a, b) => a.from_epoch - b.from_epoch);
      if (phases.length === 0) bad('phases is empty');
      let next = 0;
      for (const p of phases) {
        if (!(Number.isInteger(p.from_epoch) && Number.isInteger(p.to_epoch) && p.to_epoch > p.from_epoch)) {
          bad(`phase [${p.from_epoch}, ${p.to_epoch}) must have integer from_epoch < to_epoch`);
        }
        if (p.from_epoch !== next) {
          bad(`phases must cover the epochs from 0 without gaps or overlaps; a phase starts at ${p.from_epoch} where ${next} was expected`);
        }
        next = p.to_epoch;
      }
      if (epochs !== undefined && next < epochs) bad(`phases end at epoch ${next} but train.epochs is ${epochs}`);
      const idx = phases.map((p) => index(p.optimizer));
      this.pick = (e) => {
        const k = phases.findIndex((p) => e >= p.from_epoch && e < p.to_epoch);
        if (k < 0) throw new Error(`no optimizer phase covers epoch ${e}`);
        return idx[k];
      };
    } else if ('cycle' in plan) {
      const { every, optimizers } = plan.cycle;
      if (!(Number.isInteger(every) && every > 0)) bad(`cycle.every must be a positive integer (got ${every})`);
      if (!optimizers?.length) bad('cycle.optimizers is empty');
      const idx = optimizers.map(index);
      this.pick = (e) => idx[Math.floor(e / every) % idx.length];
    } else {
      const i = index(plan);
      this.pick = () => i;
    }
    // fail on a bad optimizer config before training starts, not at its first phase
    this.configs.forEach((_c, i) => this.instance(i));
  }

  private instance(i: number): Optimizer {
    let o = this.instances.get(i);
    if (!o) {
      o = createOptimizer(this.configs[i]);
      this.instances.set(i, o);
    }
    return o;
  }

  /** The optimizer that trains `epoch`, and its configured (base) lr. */
  optimizerForEpoch(epoch: number): { optimizer: Optimizer; baseLr: number; index: number } {
    const i = this.pick(epoch);
    return { optimizer: this.instance(i), baseLr: this.configs[i].lr, index: i };
  }

  getState(): OptimizerState[] {
    return this.configs.map((_c, i) => this.instance(i).getState());
  }

  setState(states: OptimizerState[]): void {
    if (states.length !== this.configs.length) {
      throw new UserError(
        `the checkpoint holds ${states.length} optimizer states but the experiment defines ${this.configs.length}; ` +
          `resume with the optimizer block the run was started with.`,
      );
    }
    states.forEach((s, i) => this.instance(i).setState(s));
  }

  dispose(): void {
    for (const o of this.instances.values()) o.dispose();
    this.instances.clear();
  }
}

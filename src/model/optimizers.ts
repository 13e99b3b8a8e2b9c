// Optimizers written on tf.Variables with explicit slot state. tfjs' own optimizers hide their
// slots behind auto-generated variable names and have no decoupled weight decay; ours expose
// getState() (named Float32Arrays, what model/last/state.json stores) and setState(), take the
// learning rate per step from the schedule, and follow PyTorch's update rules so the reference
// recipe's hyper-parameters mean the same thing here.
import { tf } from './tf.ts';
import { Registry } from '../registry.ts';
import { UserError } from '../errors.ts';
import { fusedAdamUpdate } from './kernels/adam.ts';

/** One entry of the `optimizer` block. */
export interface OptimizerConfig {
  name: string; // 'adam' | 'adamw' | 'sgd'
  lr: number;
  weight_decay?: number; // adam/sgd: L2 added to the gradient; adamw: decoupled (p -= lr*wd*p)
  beta1?: number; // adam/adamw, default 0.9
  beta2?: number; // adam/adamw, default 0.999
  epsilon?: number; // adam/adamw, default 1e-8 (PyTorch's; tfjs uses 1e-7)
  momentum?: number; // sgd, default 0
  nesterov?: boolean; // sgd, default false
}

/** A trainable parameter under a name that survives save/load (the weight's originalName). */
export interface Param {
  key: string;
  variable: tf.Variable;
}

/** Serialisable optimizer state: its step count and one Float32Array per slot ("<key>/m"). */
export interface OptimizerState {
  name: string;
  step: number;
  slots: Record<string, Float32Array>;
}

export interface Optimizer {
  readonly name: string;
  /** Learning rate used by the next apply(); the loop sets it from the schedule. */
  lr: number;
  /** Updates each param with its gradient (same order as params). Disposes nothing it is given. */
  apply(params: Param[], grads: tf.Tensor[]): void;
  getState(): OptimizerState;
  setState(state: OptimizerState): void;
  dispose(): void;
}

abstract class SlotOptimizer implements Optimizer {
  abstract readonly name: string;
  lr: number;
  protected step = 0;
  private readonly slots = new Map<string, tf.Variable>();
  /** Slots restored by setState, materialised with their param's shape on first use. */
  private readonly pending = new Map<string, Float32Array>();

  constructor(protected readonly cfg: OptimizerConfig) {
    this.lr = cfg.lr;
  }

  /** Slot variable for a param: restored state, or zeros on first use (PyTorch's initial state). */
  protected slot(p: Param, suffix: string): tf.Variable {
    const k = `${p.key}/${suffix}`;
    let v = this.slots.get(k);
    if (!v) {
      const saved = this.pending.get(k);
      if (saved && saved.length !== p.variable.size) {
        throw new Error(`optimizer slot ${k} has ${saved.length} values, parameter ${p.variable.size}`);
      }
      // called inside apply()'s tidy: the initial tensor is freed, the variable keeps its data
      v = tf.variable(saved ? tf.tensor(saved, p.variable.shape, 'float32') : tf.zerosLike(p.variable), false);
      this.pending.delete(k);
      this.slots.set(k, v);
    }
    return v;
  }

  apply(params: Param[], grads: tf.Tensor[]): void {
    if (params.length !== grads.length) throw new Error(`${params.length} params, ${grads.length} gradients`);
    this.step++;
    params.forEach((p, i) => tf.tidy(() => this.update(p, grads[i])));
  }

  protected abstract update(p: Param, g: tf.Tensor): void;

  getState(): OptimizerState {
    const slots: Record<string, Float32Array> = {};
    for (const [k, arr] of this.pending) slots[k] = arr;
    for (const [k, v] of this.slots) slots[k] = v.dataSync() as Float32Array;
    return { name: this.name, step: this.step, slots };
  }

  setState(state: OptimizerState): void {
    if (state.name !== this.name) throw new Error(`state of optimizer ${state.name} given to ${this.name}`);
    this.disposeSlots();
    this.step = state.step;
    for (const [k, arr] of Object.entries(state.slots)) this.pending.set(k, Float32Array.from(arr));
  }

  private disposeSlots(): void {
    for (const v of this.slots.values()) v.dispose();
    this.slots.clear();
    this.pending.clear();
  }

  dispose(): void {
    this.disposeSlots();
  }
}

/** Adam (Kingma & Ba), PyTorch's form; `decoupled` makes it AdamW (Loshchilov & Hutter). */
class Adam extends SlotOptimizer {
  constructor(cfg: OptimizerConfig, readonly name: string, private readonly decoupled: boolean) {
    super(cfg);
  }

  protected update(p: Param, g0: tf.Tensor): void {
    const b1 = this.cfg.beta1 ?? 0.9;
    const b2 = this.cfg.beta2 ?? 0.999;
    const eps = this.cfg.epsilon ?? 1e-8;
    const wd = this.cfg.weight_decay ?? 0;
    const mVar = this.slot(p, 'm');
    const vVar = this.slot(p, 'v');
    // one kernel where the backend has it (native): the same float32 steps as the ops below
    const fused = fusedAdamUpdate(p.variable, g0, mVar, vVar, {
      beta1: b1, beta2: b2, epsilon: eps, lr: this.lr, step: this.step, weightDecay: wd, decoupled: this.decoupled,
    });
    if (fused) {
      mVar.assign(fused[1]);
      vVar.assign(fused[2]);
      p.variable.assign(fused[0]);
      return;
    }
    let w: tf.Tensor = p.variable;
    let g = g0;
    if (wd !== 0) {
      if (this.decoupled) w = tf.mul(w, 1 - this.lr * wd);
      else g = tf.add(g, tf.mul(w, wd));
    }
    const m = tf.add(tf.mul(mVar, b1), tf.mul(g, 1 - b1));
    const v = tf.add(tf.mul(vVar, b2), tf.mul(tf.square(g), 1 - b2));
    const bc1 = 1 - Math.pow(b1, this.step);
    const bc2 = 1 - Math.pow(b2, this.step);
    // p -= lr * (m / bc1) / (sqrt(v / bc2) + eps), written as PyTorch does
    const denom = tf.add(tf.div(tf.sqrt(v), Math.sqrt(bc2)), eps);
    const next = tf.sub(w, tf.mul(tf.div(m, denom), this.lr / bc1));
    mVar.assign(m);
    vVar.assign(v);
    p.variable.assign(next);
  }
}

/** SGD with momentum, Nesterov and L2 weight decay (PyTorch's form, dampening 0). */
class Sgd extends SlotOptimizer {
  readonly name = 'sgd';

  protected update(p: Param, g0: tf.Tensor): void {
    const mu = this.cfg.momentum ?? 0;
    const wd = this.cfg.weight_decay ?? 0;
    let g = wd !== 0 ? tf.add(g0, tf.mul(p.variable, wd)) : g0;
    if (mu !== 0) {
      const bufVar = this.slot(p, 'momentum');
      // buf starts at 0, so the first step gives buf = g, as PyTorch's first step does
      const buf = tf.add(tf.mul(bufVar, mu), g);
      bufVar.assign(buf);
      g = this.cfg.nesterov ? tf.add(g, tf.mul(buf, mu)) : buf;
    }
    p.variable.assign(tf.sub(p.variable, tf.mul(g, this.lr)));
  }
}

function checkConfig(cfg: OptimizerConfig): void {
  const bad = (what: string) => {
    throw new UserError(`optimizer ${cfg.name}: ${what}. Fix it in the experiment's optimizer block.`);
  };
  if (!(cfg.lr > 0) || !Number.isFinite(cfg.lr)) bad(`lr must be a positive number (got ${cfg.lr})`);
  if ((cfg.weight_decay ?? 0) < 0) bad(`weight_decay must be >= 0 (got ${cfg.weight_decay})`);
  for (const k of ['beta1', 'beta2'] as const) {
    const b = cfg[k];
    if (b !== undefined && !(b >= 0 && b < 1)) bad(`${k} must be in [0, 1) (got ${b})`);
  }
  const mu = cfg.momentum ?? 0;
  if (!(mu >= 0 && mu < 1)) bad(`momentum must be in [0, 1) (got ${mu})`);
  if (cfg.nesterov && mu === 0) bad('nesterov needs momentum > 0');
}

/** Optimizers by the name used in `optimizer.name`. */
export const optimizers = new Registry<(cfg: OptimizerConfig) => Optimizer>('optimizer');
optimizers.register('adam', 'Adam; weight_decay is L2 added to the gradient (PyTorch Adam)', (c) => new Adam(c, 'adam', false));
optimizers.register('adamw', 'Adam with decoupled weight decay (PyTorch AdamW)', (c) => new Adam(c, 'adamw', true));
optimizers.register('sgd', 'SGD with momentum, optional Nesterov, L2 weight decay', (c) => new Sgd(c));

export function createOptimizer(cfg: OptimizerConfig): Optimizer {
  const make = optimizers.get(cfg.name);
  checkConfig(cfg);
  return make(cfg);
}

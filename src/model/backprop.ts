// Gradients of a scalar loss with respect to variables, as tf.variableGrads, but freeing memory as
// the backward pass goes. tfjs keeps every intermediate gradient and every tensor saved for the
// backward pass until the whole pass ends, so its peak holds all of them at once: a se_resnext50
// step at 224 px, batch 8, peaked at 3.3-3.7 GB of live wasm heap, near wasm32's 4 GB. Here each
// node's output gradients are freed once that node has propagated them (a tensor has one producer,
// so nothing later reads them) and its saved tensors once its gradient has run, unless a gradient
// still held refers to them; each node's gradient runs in its own scope, so what its gradient
// function makes on the way goes with it. Only tensors made by this backward pass are ever freed
// here (a gradient function may hand back a forward tensor, a variable or a constant of the
// caller's: those are left alone, as tfjs leaves them). The same kernels run in the same order on
// the same values, so results are tfjs' bit for bit; only the lifetimes differ.
//
// This walks tfjs' tape itself (the engine's startTape/endTape, state.activeTape and tape nodes'
// inputs/outputs/saved/gradient, tfjs-core 4.x; a node's saved tensors are its own handles, which
// the engine and customGrad make by cloning); engine() and tapeOf() fail loudly if those change.
import { tf } from './tf.ts';

interface TapeNode {
  id: number;
  kernelName: string;
  inputs: Record<string, tf.Tensor>;
  outputs: tf.Tensor[];
  saved?: tf.Tensor[];
  gradient?: (dys: (tf.Tensor | null)[]) => Record<string, () => tf.Tensor>;
}

interface EngineInternals {
  state: { activeTape: TapeNode[] | null; gradientDepth: number };
  scopedRun<T>(start: () => void, end: () => void, f: () => T): T;
  startTape(): void;
  endTape(): void;
  tidy<T extends tf.TensorContainer>(name: string, f: () => T): T;
  tidy<T extends tf.TensorContainer>(f: () => T): T;
}

function engine(): EngineInternals {
  const e = tf.engine() as unknown as EngineInternals;
  if (typeof e.startTape !== 'function' || typeof e.endTape !== 'function' || typeof e.scopedRun !== 'function'
    || !e.state || !('gradientDepth' in e.state)) {
    throw new Error('internal: this tfjs-core engine does not expose the tape exp walks (see src/model/backprop.ts)');
  }
  return e;
}

function tapeOf(e: EngineInternals): TapeNode[] {
  const tape = e.state.activeTape;
  if (!Array.isArray(tape)) throw new Error('internal: the tfjs-core engine kept no tape (see src/model/backprop.ts)');
  return tape;
}

/**
 * The tape nodes on a path from one of `xs` to `y`, in tape order, each with only the inputs that
 * depend on `xs` (the others need no gradient).
 */
function pathNodes(tape: TapeNode[], xs: tf.Tensor[], y: tf.Tensor): TapeNode[] {
  const fromX = new Set<number>(xs.map((x) => x.id));
  const reachable = new Set<number>(); // nodes fed (transitively) by xs
  for (const node of tape) {
    if (Object.values(node.inputs).some((t) => fromX.has(t.id))) {
      reachable.add(node.id);
      for (const o of node.outputs) fromX.add(o.id);
    }
  }
  const toY = new Set<number>([y.id]);
  const leads = new Set<number>(); // nodes that feed y
  for (let i = tape.length - 1; i >= 0; i--) {
    const node = tape[i];
    if (node.outputs.some((o) => toY.has(o.id))) {
      leads.add(node.id);
      for (const t of Object.values(node.inputs)) toY.add(t.id);
    }
  }
  const out: TapeNode[] = [];
  for (const node of tape) {
    if (!reachable.has(node.id) || !leads.has(node.id)) continue;
    const inputs: Record<string, tf.Tensor> = {};
    for (const [k, t] of Object.entries(node.inputs)) if (fromX.has(t.id)) inputs[k] = t;
    out.push({ ...node, inputs });
  }
  return out;
}

/**
 * Gradients held by tensor id; a tensor object may be held under several ids (an Add's dy). Frees
 * only tensors this backward pass made (ids from `firstId` on).
 */
class GradientMap {
  private readonly byId = new Map<number, tf.Tensor>();
  private readonly holds = new Map<tf.Tensor, number>();

  constructor(private readonly firstId: number) {}

  /** Free t unless a gradient holds it or it is not this pass's. */
  drop(t: tf.Tensor): void {
    if (!this.holds.has(t) && t.id >= this.firstId) t.dispose();
  }

  get(id: number): tf.Tensor | undefined {
    return this.byId.get(id);
  }

  holdsTensor(t: tf.Tensor): boolean {
    return this.holds.has(t);
  }

  set(id: number, t: tf.Tensor): void {
    this.release(id);
    this.byId.set(id, t);
    this.holds.set(t, (this.holds.get(t) ?? 0) + 1);
  }

  /** Forget id's gradient (set() does so for the one it replaces); free the tensor when no other id holds it. */
  release(id: number): void {
    const t = this.byId.get(id);
    if (!t) return;
    this.byId.delete(id);
    const n = (this.holds.get(t) ?? 1) - 1;
    if (n > 0) this.holds.set(t, n);
    else {
      this.holds.delete(t);
      this.drop(t);
    }
  }
}

/**
 * engine.gradients(f, xs) with early freeing; the gradient of y is `dy` (ones when absent). A pass
 * run from inside another one's backward (a recomputed segment's, see recompute.ts) leaves that
 * one's tape in place.
 */
function gradients(f: () => tf.Tensor, xs: tf.Tensor[], dy?: tf.Tensor): { value: tf.Tensor; grads: (tf.Tensor | undefined)[] } {
  const e = engine();
  const outer = e.state.gradientDepth === 0 ? e.state.activeTape : null; // a backward pass in progress
  const y = e.scopedRun(() => e.startTape(), () => e.endTape(), () => e.tidy('forward', f));
  if (!(y instanceof tf.Tensor)) throw new Error('the loss function must return a tensor');
  if (dy && !tf.util.arraysEqual(dy.shape, y.shape)) throw new Error(`the gradient of y has shape [${dy.shape}], y [${y.shape}]`);
  const tape = tapeOf(e);
  const nested = e.state.gradientDepth > 0; // inside another gradient: its tape still needs ours
  const nodes = pathNodes(tape, xs, y);
  const xIds = new Set(xs.map((x) => x.id));
  return e.tidy('backward', () => {
    // as tfjs: an upload, no kernel an outer tape would record; a given dy is cloned so that this
    // pass frees only its own handle
    const seed = dy ? dy.clone() : tf.ones(y.shape);
    const acc = new GradientMap(seed.id);
    acc.set(y.id, seed);
    for (let i = nodes.length - 1; i >= 0; i--) {
      const node = nodes[i];
      if (!node.gradient) throw new Error(`Cannot compute gradient: gradient function not found for ${node.kernelName}.`);
      const names = Object.keys(node.inputs);
      const dys = node.outputs.map((o) => acc.get(o.id) ?? null);
      // one scope per node: the zeros for outputs without a gradient and whatever the gradient
      // function makes eagerly go when its input gradients are out
      const dxs = e.tidy(() => {
        const inputGradients = node.gradient!(dys);
        return names.map((name) => {
          const thunk = inputGradients[name];
          if (!thunk) {
            throw new Error(`Cannot backprop through input ${name} of ${node.kernelName}. Available gradients: ${Object.keys(inputGradients)}.`);
          }
          const dx = e.tidy(thunk);
          const x = node.inputs[name];
          if (dx.dtype !== 'float32') throw new Error(`the gradient of ${node.kernelName}'s input ${name} is ${dx.dtype}, not float32`);
          if (!tf.util.arraysEqual(dx.shape, x.shape)) {
            throw new Error(`the gradient of ${node.kernelName}'s input ${name} has shape [${dx.shape}], the input [${x.shape}]`);
          }
          return dx;
        });
      });
      names.forEach((name, k) => {
        const x = node.inputs[name], cur = acc.get(x.id);
        acc.set(x.id, cur ? tf.add(cur, dxs[k]) : dxs[k]); // set frees cur unless another id holds it
      });
      // summed in, unless also held as some gradient (a dy passed through, one tensor for two inputs)
      for (const dx of dxs) acc.drop(dx);
      // this node was its outputs' only producer: their gradients are spent
      for (const o of node.outputs) if (!xIds.has(o.id)) acc.release(o.id);
      if (!nested) for (const t of node.saved ?? []) if (!acc.holdsTensor(t)) t.dispose();
    }
    const grads = xs.map((x) => acc.get(x.id));
    if (!nested) {
      for (const node of tape) for (const t of node.saved ?? []) if (!acc.holdsTensor(t)) t.dispose();
      e.state.activeTape = outer;
    }
    return { value: y, grads };
  });
}

/**
 * The vector-Jacobian product of f at xs: the gradient of sum(f() * dy) with respect to each of
 * `xs` (undefined where f does not depend on it), with f's value; freeing as variableGrads does.
 */
export function vjp(f: () => tf.Tensor, xs: tf.Tensor[], dy: tf.Tensor): { value: tf.Tensor; grads: (tf.Tensor | undefined)[] } {
  return gradients(f, xs, dy);
}

/**
 * tf.variableGrads(f, vars) with the backward pass freeing as it goes: the gradient of the scalar
 * f() for each trainable variable of `vars` (by variable name; absent where f does not depend on it).
 */
export function variableGrads(f: () => tf.Scalar, vars: tf.Variable[]): { value: tf.Scalar; grads: Record<string, tf.Tensor> } {
  const trainable = vars.filter((v) => v.trainable);
  if (trainable.length === 0) throw new Error(`variableGrads: none of the ${vars.length} variables is trainable`);
  const { value, grads } = gradients(f, trainable);
  if (value.rank !== 0) {
    value.dispose();
    grads.forEach((g) => g?.dispose());
    throw new Error(`variableGrads: the loss must be a scalar, got rank ${value.rank}`);
  }
  if (grads.every((g) => !g)) {
    value.dispose();
    throw new Error('variableGrads: the loss does not depend on any of the variables (are the operations that use them inside f?)');
  }
  const named: Record<string, tf.Tensor> = {};
  trainable.forEach((v, i) => {
    const g = grads[i];
    if (g) named[v.name] = g;
  });
  return { value: value as tf.Scalar, grads: named };
}

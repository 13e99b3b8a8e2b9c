// Activation recomputation (gradient checkpointing) for a functional layers model in training.
// A training forward normally keeps, until the backward pass, every tensor some gradient needs:
// for se_resnext50 at 224 px that is ~200 MB an image, and the wasm and native backends hold all
// tensors in one WebAssembly memory of at most 4 GB. Here the model's graph is cut into segments at
// tensors that alone carry everything forward (a residual block's output); each segment runs as one
// custom-gradient op that keeps only its input. Its backward pass runs the segment's forward again
// from that input, on the tape this time, and takes the gradient through it (backprop.ts's vjp):
// one segment's activations are alive at a time, at the cost of a second forward of the segments
// (about a third more compute in a training step).
//
// The same kernels run on the same values in the same order as model.apply (the layers in tfjs'
// own execution order, a depth-first sort from the outputs), so gradients are bit-identical to a
// step without recomputation. What the recomputed forward writes into non-trainable weights (batch
// norm's moving averages, updated by every training forward) is put back afterwards, so they move
// once a step, as without recomputation. Segments holding a layer with per-call state (dropout's
// mask counter) are not recomputed: they run as usual.
import { tf } from './tf.ts';
import { vjp } from './backprop.ts';
import { SeededDropout } from './layers/dropout.ts';

type ST = tf.SymbolicTensor;

/** One segment recomputed in the backward pass: sorted[start..end] with input `input`, output sorted[end]. */
interface Segment {
  kind: 'recompute';
  input: ST;
  start: number;
  end: number;
  /** Whether the gradient of the segment's input is needed (not for the model's image input). */
  inputGrad: boolean;
  params: tf.Variable[];
  state: tf.LayerVariable[];
}

interface Plain {
  kind: 'plain';
  start: number;
  end: number;
}

export interface RecomputePlan {
  /** Every symbolic tensor of the graph in execution order (tfjs-layers' order). */
  sorted: ST[];
  steps: (Segment | Plain)[];
}

/** The symbolic tensors `fetches` depend on, inputs first, as tfjs-layers' execute orders them. */
function executionOrder(fetches: ST[]): ST[] {
  const order: ST[] = [];
  const taken = new Set<string>();
  for (const fetch of fetches) {
    // post-order depth-first walk from this fetch; each fetch walks with its own visited set and
    // the orders are concatenated without repeats
    const visited = new Set<string>();
    const stack: { t: ST; expanded: boolean }[] = [{ t: fetch, expanded: false }];
    const sorted: ST[] = [];
    while (stack.length) {
      const top = stack[stack.length - 1];
      if (visited.has(top.t.name)) { stack.pop(); continue; }
      if (top.t.inputs.length === 0 || top.expanded) {
        stack.pop();
        sorted.push(top.t);
        visited.add(top.t.name);
        continue;
      }
      top.expanded = true;
      for (const input of top.t.inputs) if (!visited.has(input.name)) stack.push({ t: input, expanded: false });
    }
    for (const t of sorted) {
      if (!taken.has(t.name)) {
        taken.add(t.name);
        order.push(t);
      }
    }
  }
  return order;
}

/** The outputs of the layer call that produced t (all of them for a multi-output layer). */
function callOutputs(t: ST): ST[] {
  return t.sourceLayer.inboundNodes[t.nodeIndex].outputTensors;
}

const isInput = (t: ST): boolean => t.inputs.length === 0;

/**
 * Cuts the model's graph into segments. A cut is a tensor that is, at its place in the execution
 * order, the only one still needed later. A segment runs from one cut to the next that closes a
 * merge (a layer with several inputs, such as a residual add) or two layers with weights (a
 * convolution and its batch norm in a plain chain), so each holds a whole residual block or a
 * conv-bn pair. What follows the last cut, and any segment without trainable weights, runs as
 * usual.
 */
export function planRecompute(model: tf.LayersModel): RecomputePlan {
  const sorted = executionOrder(model.outputs);
  const pos = new Map(sorted.map((t, i) => [t.name, i]));
  const lastUse = sorted.map(() => -1);
  sorted.forEach((t, i) => { for (const x of t.inputs) lastUse[pos.get(x.name)!] = i; });
  const outputs = new Set(model.outputs.map((t) => t.name));
  // a tensor is "live" after position i if it was made at or before i and is read after i (or is an output)
  const live = new Set<number>();
  const cut = sorted.map(() => false);
  sorted.forEach((t, i) => {
    if (lastUse[i] > i || outputs.has(t.name)) live.add(i);
    for (const x of t.inputs) {
      const j = pos.get(x.name)!;
      if (lastUse[j] === i && !outputs.has(x.name)) live.delete(j);
    }
    cut[i] = live.size === 1 && live.has(i) && !outputs.has(t.name);
  });

  // which tensors need a gradient: those with a trainable weight upstream
  const needsGrad = sorted.map(() => false);
  sorted.forEach((t, i) => {
    needsGrad[i] = (!isInput(t) && t.sourceLayer.trainableWeights.length > 0)
      || t.inputs.some((x) => needsGrad[pos.get(x.name)!]);
  });

  const steps: (Segment | Plain)[] = [];
  let from = sorted.findIndex(isInput); // position of the current segment's input
  let next = 0; // first position not yet in a step
  let merged = false, weighted = 0;
  for (let i = from + 1; i < sorted.length; i++) {
    const t = sorted[i];
    if (isInput(t)) continue;
    if (t.inputs.length > 1) merged = true;
    if (t.sourceLayer.weights.length > 0) weighted++;
    if (!cut[i] || !(merged || weighted >= 2)) continue;
    const layers = new Set<tf.layers.Layer>();
    for (let k = from + 1; k <= i; k++) if (!isInput(sorted[k])) layers.add(sorted[k].sourceLayer);
    const params = [...layers].flatMap((l) => l.trainableWeights.map((w) => w.read() as tf.Variable));
    // dropout keeps a per-call mask counter: a second forward would draw another mask
    if (params.length > 0 && ![...layers].some((l) => l instanceof SeededDropout)) {
      if (next <= from) steps.push({ kind: 'plain', start: next, end: from });
      steps.push({
        kind: 'recompute', input: sorted[from], start: from + 1, end: i, inputGrad: needsGrad[from], params,
        state: [...layers].flatMap((l) => l.nonTrainableWeights),
      });
      next = i + 1;
    }
    from = i;
    merged = false;
    weighted = 0;
  }
  if (next < sorted.length) steps.push({ kind: 'plain', start: next, end: sorted.length - 1 });
  return { sorted, steps };
}

const plans = new WeakMap<tf.LayersModel, RecomputePlan>();

/** The plan of `model`, made once. */
export function recomputePlan(model: tf.LayersModel): RecomputePlan {
  let plan = plans.get(model);
  if (!plan) {
    plan = planRecompute(model);
    plans.set(model, plan);
  }
  return plan;
}

/** Runs sorted[start..end] as tfjs-layers' execute does, reading and filling `values` (by tensor name). */
function run(sorted: ST[], start: number, end: number, values: Map<string, tf.Tensor>, kwargs: Record<string, unknown>): void {
  for (let i = start; i <= end; i++) {
    const t = sorted[i];
    if (isInput(t) || values.has(t.name)) continue;
    const inputs = t.inputs.map((x) => {
      const v = values.get(x.name);
      if (!v) throw new Error(`internal: recompute has no value for ${x.name}, an input of ${t.sourceLayer.name}`);
      return v;
    });
    const out = t.sourceLayer.apply(inputs, kwargs) as tf.Tensor | tf.Tensor[];
    const outs = Array.isArray(out) ? out : [out];
    callOutputs(t).forEach((s, k) => { if (!values.has(s.name)) values.set(s.name, outs[k]); });
  }
}

/** The output of the segment from `x`. */
function segmentForward(plan: RecomputePlan, seg: Segment, x: tf.Tensor, kwargs: Record<string, unknown>): tf.Tensor {
  const values = new Map<string, tf.Tensor>([[seg.input.name, x]]);
  run(plan.sorted, seg.start, seg.end, values, kwargs);
  return values.get(plan.sorted[seg.end].name)!;
}

function recomputed(plan: RecomputePlan, seg: Segment, kwargs: Record<string, unknown>): (...inputs: tf.Tensor[]) => tf.Tensor {
  return tf.customGrad((...args: unknown[]) => {
    const x = args[0] as tf.Tensor;
    const save = args[args.length - 1] as (ts: tf.Tensor[]) => void;
    save([x]);
    const value = segmentForward(plan, seg, x, kwargs);
    const gradFunc = (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]): tf.Tensor[] => {
      const x0 = saved[0];
      const state = seg.state.map((v) => v.read().clone());
      try {
        const wrt: tf.Tensor[] = seg.inputGrad ? [x0, ...seg.params] : [...seg.params];
        const { value: y, grads } = vjp(() => segmentForward(plan, seg, x0, kwargs), wrt, dy as tf.Tensor);
        y.dispose();
        const full = wrt.map((w, k) => grads[k] ?? tf.zerosLike(w));
        return seg.inputGrad ? full : [tf.zerosLike(x0), ...full];
      } finally {
        // the recomputed forward updated the moving statistics again: undo that
        seg.state.forEach((v, k) => { v.write(state[k]); state[k].dispose(); });
      }
    };
    return { value, gradFunc };
  }) as unknown as (...inputs: tf.Tensor[]) => tf.Tensor;
}

/**
 * model.apply(x, { training: true }) for a single-input functional model, recomputing each
 * segment's activations in the backward pass instead of keeping them.
 */
export function applyRecomputing(model: tf.LayersModel, x: tf.Tensor): tf.Tensor | tf.Tensor[] {
  if (model.inputs.length !== 1) throw new Error(`internal: recompute needs a single-input model (${model.name} has ${model.inputs.length})`);
  const plan = recomputePlan(model);
  const kwargs = { training: true };
  return tf.tidy(() => {
    const values = new Map<string, tf.Tensor>([[model.inputs[0].name, x]]);
    for (const step of plan.steps) {
      if (step.kind === 'plain') run(plan.sorted, step.start, step.end, values, kwargs);
      else {
        const input = values.get(step.input.name)!;
        values.set(plan.sorted[step.end].name, recomputed(plan, step, kwargs)(input, ...step.params));
      }
    }
    const outs = model.outputs.map((o) => values.get(o.name)!);
    return outs.length === 1 ? outs[0] : outs;
  });
}

/** How many segments are recomputed (0: the model has no block to cut at, recomputation saves nothing). */
export function recomputedSegments(model: tf.LayersModel): number {
  return recomputePlan(model).steps.filter((s) => s.kind === 'recompute').length;
}

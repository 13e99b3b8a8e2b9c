// Grouped 2-D convolution (ResNeXt's "cardinality"), which tfjs-layers lacks (tfjs issue #3900).
// The input channels are split into `groups` equal slices; slice g is convolved with its own
// kernel slice and the results are concatenated, so the kernel has PyTorch's layout transposed
// to NHWC: [kh, kw, inChannels / groups, filters] (torch [out, in/groups, kh, kw] -> (2, 3, 1, 0)).
//
// Formulation: split + conv2d per group + concat: the grouped conv's FLOPs and kernel size. The
// alternative, a dense conv with a block-diagonal kernel, does `groups` times the work and keeps
// a `groups` times larger kernel and kernel gradient. Measured forward at se_resnext50 layer2
// shape (28x28x256, 32 groups, on a loaded 2-core machine): cpu batch 1 365 ms vs 5847 ms dense;
// wasm batch 4 627 ms vs 524 ms (XNNPACK is poor at 8-channel convs, so it is close there).
// A third, as one depthwise convolution: the input's channels gathered out to (group, output,
// input) order, a depthwise conv of one filter per copy, and a sum over each group's inputs; the
// same FLOPs, but the gathered input and the conv's output are in/groups times the activation.
// Measured on wasm, batch 16, 32 groups, forward + both gradients: 597 vs 513 ms at 28x28x128 (4
// channels a group), 480 vs 139 ms at 14x14x256, 471 vs 86 ms at 7x7x512: not used.
// Gradients come from tfjs' own split/conv2d/concat gradients. Backends that register exp's
// grouped-convolution kernels (native: oneDNN's grouped convolutions; webgpu: WGSL) run it as one
// op with its own gradient instead (kernels/group-conv.ts): no split, concat or per-group tape.
//
// Padding: tfjs' 'same'/'valid', or a number: PyTorch's symmetric zero padding of that many pixels
// on every side, which the convolution kernels apply themselves (tfjs' 'same' pads asymmetrically
// at stride 2). The builder also uses this layer with groups = 1 for every dense convolution that
// needs such padding (resnet's 7x7/2 stem and its 3x3/2 convs): a separate zero-padding layer
// would cost a PadV2 forward and a Slice backward over whole activations.
import { tf } from '../tf.ts';
import { groupConvOp } from '../kernels/group-conv.ts';

/** tfjs' 'valid' / 'same', or PyTorch's symmetric padding in pixels. */
export type Padding = 'valid' | 'same' | number;

export interface GroupConv2DArgs {
  filters: number;
  kernelSize: number;
  strides?: number;
  groups: number;
  padding?: Padding;
  useBias?: boolean;
  /** Seed of the kernel initialiser (He normal over the per-group fan-in). */
  seed?: number;
  name?: string;
  trainable?: boolean;
}

type Shape = (number | null)[];

/** Output length of a convolution along one axis (tfjs semantics for 'same'/'valid', PyTorch's
 * floor((n + 2p - k) / s) + 1 for a numeric padding p). */
export function convOutputLength(n: number | null, k: number, stride: number, padding: Padding): number | null {
  if (n === null) return null;
  if (padding === 'same') return Math.ceil(n / stride);
  const p = padding === 'valid' ? 0 : padding;
  return Math.floor((n + 2 * p - k) / stride) + 1;
}

/** Throws unless `padding` is 'valid', 'same' or a whole number of pixels (`what`: the layer, for the message). */
export function checkPadding(what: string, padding: Padding): void {
  if (typeof padding === 'number' ? !Number.isInteger(padding) || padding < 0 : padding !== 'valid' && padding !== 'same') {
    throw new Error(`${what}: padding must be 'valid', 'same' or a whole number >= 0, got ${JSON.stringify(padding)}`);
  }
}

export class GroupConv2D extends tf.layers.Layer {
  static className = 'GroupConv2D';
  readonly filters: number;
  readonly kernelSize: number;
  readonly strides: number;
  readonly groups: number;
  readonly padding: Padding;
  readonly useBias: boolean;
  readonly seed: number | undefined;
  private kernel: tf.LayerVariable | null = null;
  private bias: tf.LayerVariable | null = null;

  constructor(args: GroupConv2DArgs) {
    super({ name: args.name, trainable: args.trainable });
    this.filters = args.filters;
    this.kernelSize = args.kernelSize;
    this.strides = args.strides ?? 1;
    this.groups = args.groups;
    this.padding = args.padding ?? 'valid';
    this.useBias = args.useBias ?? false;
    this.seed = args.seed;
    if (!Number.isInteger(this.groups) || this.groups < 1 || this.filters % this.groups !== 0) {
      throw new Error(`GroupConv2D ${this.name}: filters ${this.filters} not divisible by groups ${this.groups}`);
    }
    checkPadding(`GroupConv2D ${this.name}`, this.padding);
  }

  override build(inputShape: Shape | Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
    const cin = shape[shape.length - 1];
    if (cin === null || cin % this.groups !== 0) {
      throw new Error(`GroupConv2D ${this.name}: input channels ${cin} not divisible by groups ${this.groups}`);
    }
    const k = this.kernelSize;
    // He normal over the real fan-in of one output (k*k*cin/groups), as torchvision's kaiming init.
    const init = tf.initializers.varianceScaling({ scale: 2, mode: 'fanIn', distribution: 'normal', seed: this.seed });
    this.kernel = this.addWeight('kernel', [k, k, cin / this.groups, this.filters], 'float32', init);
    if (this.useBias) this.bias = this.addWeight('bias', [this.filters], 'float32', tf.initializers.zeros());
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const s = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
    const k = this.kernelSize;
    return [s[0], convOutputLength(s[1], k, this.strides, this.padding),
      convOutputLength(s[2], k, this.strides, this.padding), this.filters];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
      const kernel = this.kernel!.read() as tf.Tensor4D;
      const y = groupConv2d(x, kernel, this.groups, this.strides, this.padding);
      return this.bias ? tf.add(y, this.bias.read()) : y;
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    const cfg: tf.serialization.ConfigDict = {
      filters: this.filters, kernelSize: this.kernelSize, strides: this.strides, groups: this.groups,
      padding: this.padding, useBias: this.useBias,
    };
    if (this.seed !== undefined) cfg.seed = this.seed;
    return { ...super.getConfig(), ...cfg };
  }
}
tf.serialization.registerClass(GroupConv2D);

/** The grouped convolution as a plain op: x [n,h,w,cin], kernel [kh,kw,cin/groups,cout]. */
export function groupConv2d(
  x: tf.Tensor4D, kernel: tf.Tensor4D, groups: number, strides: number, padding: Padding,
): tf.Tensor4D {
  if (groups === 1) return tf.conv2d(x, kernel, strides, padding) as tf.Tensor4D;
  const fused = groupConvOp(x, kernel, { groups, strides, pad: padding, dilations: 1 });
  if (fused) return fused;
  return tf.tidy(() => {
    const xs = tf.split(x, groups, 3);
    const ks = tf.split(kernel, groups, 3);
    const ys = xs.map((xi, g) => tf.conv2d(xi as tf.Tensor4D, ks[g] as tf.Tensor4D, strides, padding));
    return tf.concat(ys, 3) as tf.Tensor4D;
  });
}

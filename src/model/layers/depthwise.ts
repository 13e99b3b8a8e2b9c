// Depthwise convolution with PyTorch's symmetric zero padding done by the convolution kernel
// itself (tfjs' DepthwiseConv2D takes only 'same'/'valid', and 'same' pads asymmetrically at
// stride 2). The builder uses it for the strided depthwise convolutions of mobilenet_v2 and
// efficientnet_b0, which used to carry a ZeroPadding2D layer in front: a PadV2 over the whole
// activation forward and a Slice backward per layer and step. Its weight keeps tfjs'
// DepthwiseConv2D name and layout, `depthwise_kernel` [kh, kw, C, 1] (depth multiplier 1), so
// weight imports and saved weight directories name it as before; the same initialiser on the same
// shape gives the same initial values.
import { tf } from '../tf.ts';
import type { Padding } from './group-conv.ts';
import { checkPadding, convOutputLength } from './group-conv.ts';

export interface PaddedDepthwiseConv2DArgs {
  kernelSize: number;
  strides?: number;
  /** PyTorch's symmetric padding in pixels, or tfjs' 'same' / 'valid'. */
  padding: Padding;
  useBias?: boolean;
  /** He normal scale over tfjs' fan-in of [k, k, C, 1] (k*k*C: the builder passes 2*C for 2/(k*k)). */
  initScale: number;
  /** Seed of the kernel initialiser. */
  seed?: number;
  name?: string;
  trainable?: boolean;
}

type Shape = (number | null)[];

export class PaddedDepthwiseConv2D extends tf.layers.Layer {
  static className = 'PaddedDepthwiseConv2D';
  readonly kernelSize: number;
  readonly strides: number;
  readonly padding: Padding;
  readonly useBias: boolean;
  readonly initScale: number;
  readonly seed: number | undefined;
  private kernel: tf.LayerVariable | null = null;
  private bias: tf.LayerVariable | null = null;

  constructor(args: PaddedDepthwiseConv2DArgs) {
    super({ name: args.name, trainable: args.trainable });
    this.kernelSize = args.kernelSize;
    this.strides = args.strides ?? 1;
    this.padding = args.padding;
    this.useBias = args.useBias ?? false;
    this.initScale = args.initScale;
    this.seed = args.seed;
    checkPadding(`PaddedDepthwiseConv2D ${this.name}`, this.padding);
  }

  override build(inputShape: Shape | Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
    const c = shape[shape.length - 1];
    if (c === null) throw new Error(`PaddedDepthwiseConv2D ${this.name}: needs a known channel count`);
    const k = this.kernelSize;
    // what the builder gave tfjs' DepthwiseConv2D: the same values for the same seed
    const init = tf.initializers.varianceScaling({ scale: this.initScale, mode: 'fanIn', distribution: 'normal', seed: this.seed });
    this.kernel = this.addWeight('depthwise_kernel', [k, k, c, 1], 'float32', init);
    if (this.useBias) this.bias = this.addWeight('bias', [c], 'float32', tf.initializers.zeros());
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const s = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
    const k = this.kernelSize;
    return [s[0], convOutputLength(s[1], k, this.strides, this.padding),
      convOutputLength(s[2], k, this.strides, this.padding), s[3]];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
      const y = tf.depthwiseConv2d(x, this.kernel!.read() as tf.Tensor4D, this.strides, this.padding);
      return this.bias ? tf.add(y, this.bias.read()) : y;
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    const cfg: tf.serialization.ConfigDict = {
      kernelSize: this.kernelSize, strides: this.strides, padding: this.padding, useBias: this.useBias, initScale: this.initScale,
    };
    if (this.seed !== undefined) cfg.seed = this.seed;
    return { ...super.getConfig(), ...cfg };
  }
}
tf.serialization.registerClass(PaddedDepthwiseConv2D);

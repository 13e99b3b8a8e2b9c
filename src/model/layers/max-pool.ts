// Max pooling with PyTorch's padding semantics: padded positions never win (as if they held
// -inf), whatever the sign of the inputs. tfjs' MaxPooling2D layer only knows 'same'/'valid', and a
// zero-padding layer in front of it would let a padded 0 beat negative inputs and costs a PadV2
// forward and a Slice backward over the whole activation. Here the pooling kernel pads itself:
// every backend's MaxPool/MaxPoolGrad skips positions outside the input.
// `padding` is PyTorch's symmetric padding in pixels, or explicit [[top, bottom], [left, right]]
// (exp uses that for ceil_mode=True: extra bottom/right padding so the last partial window counts).
import { tf } from '../tf.ts';

export type PoolPadding = number | [[number, number], [number, number]];

export interface PaddedMaxPooling2DArgs {
  poolSize: number;
  strides?: number;
  padding?: PoolPadding;
  name?: string;
}

type Shape = (number | null)[];

function checkPad(p: number, name: string | undefined): void {
  if (!Number.isInteger(p) || p < 0) throw new Error(`PaddedMaxPooling2D ${name}: padding must be whole numbers >= 0, got ${p}`);
}

export class PaddedMaxPooling2D extends tf.layers.Layer {
  static className = 'PaddedMaxPooling2D';
  readonly poolSize: number;
  readonly strides: number;
  readonly padding: PoolPadding;

  constructor(args: PaddedMaxPooling2DArgs) {
    super({ name: args.name });
    this.poolSize = args.poolSize;
    this.strides = args.strides ?? args.poolSize;
    this.padding = args.padding ?? 0;
    const pads = typeof this.padding === 'number' ? [this.padding] : this.padding.flat();
    for (const p of pads) checkPad(p, this.name);
    // PyTorch: "pad should be at most half of effective kernel size"; beyond that a window can lie
    // wholly in the padding and have no input to take the maximum of
    if (pads.some((p) => 2 * p > this.poolSize)) {
      throw new Error(`PaddedMaxPooling2D ${this.name}: padding ${JSON.stringify(this.padding)} exceeds half the pool size ${this.poolSize}`);
    }
  }

  /** [[top, bottom], [left, right]] */
  private pads(): [[number, number], [number, number]] {
    const p = this.padding;
    return typeof p === 'number' ? [[p, p], [p, p]] : p;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const s = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
    const [[t, b], [l, r]] = this.pads();
    const out = (n: number | null, before: number, after: number) =>
      n === null ? null : Math.floor((n + before + after - this.poolSize) / this.strides) + 1;
    return [s[0], out(s[1], t, b), out(s[2], l, r), s[3]];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
    const p = this.padding;
    // a symmetric pad goes to the kernel as a number; tfjs' ExplicitPadding otherwise
    const pad = typeof p === 'number' ? p : [[0, 0], p[0], p[1], [0, 0]] as tf.backend_util.ExplicitPadding;
    return tf.maxPool(x, this.poolSize, this.strides, pad);
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), poolSize: this.poolSize, strides: this.strides, padding: this.padding };
  }
}
tf.serialization.registerClass(PaddedMaxPooling2D);

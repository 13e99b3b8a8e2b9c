// Building blocks shared by the backbones: a small builder that names every layer like its
// PyTorch module (so a weights importer maps by name), pads like PyTorch (symmetric padding where
// tfjs' 'same' would pad asymmetrically: the convolution or pooling kernel pads itself, see
// conv() and maxPool()), and seeds every initialiser from (model seed, layer name) so the same seed
// gives the same weights in any build order.
import { tf } from '../tf.ts';
import { mixKeys } from '../../util/rng.ts';
import { GroupConv2D } from './group-conv.ts';
import { ResidualRelu } from './residual.ts';
import { PaddedDepthwiseConv2D } from './depthwise.ts';
import { Relu6, Swish } from './swish.ts';
import { PaddedMaxPooling2D, type PoolPadding } from './max-pool.ts';
import { batchNorm } from './batch-norm.ts';
import type { BatchNormActivation } from '../kernels/batch-norm-names.ts';
import { fnv1a32 } from '../../util/hash.ts';

type ST = tf.SymbolicTensor;
export type Activation = 'relu' | 'relu6' | 'swish' | 'sigmoid';

/** The initialiser seed of the layer `name` in a model seeded with `seed`: it depends on the
 * layer's name, not on its position, so adding a layer does not reseed the others. */
export function layerSeed(seed: number, name: string): number {
  return mixKeys(seed, fnv1a32(name));
}

export interface ConvOpts {
  filters: number;
  kernel: number;
  stride?: number;
  /** PyTorch's symmetric padding; default kernel // 2. */
  padding?: number;
  groups?: number;
  bias?: boolean;
}

/** Applies a layer to symbolic input(s); tfjs types apply() for eager tensors too. */
export function sym(layer: tf.layers.Layer, x: ST | ST[]): ST {
  return layer.apply(x) as ST;
}

export class NetBuilder {
  constructor(readonly seed: number) {}

  /** He (kaiming) normal over the fan-in, as torchvision initialises convolutions. */
  heNormal(name: string, scale = 2): ReturnType<typeof tf.initializers.varianceScaling> {
    return tf.initializers.varianceScaling({ scale, mode: 'fanIn', distribution: 'normal', seed: layerSeed(this.seed, name) });
  }

  /**
   * Convolution named `name`; groups = 1 dense, = input channels depthwise, otherwise grouped.
   * Padding that tfjs' 'same' gives exactly (stride 1, pad (k-1)/2) stays 'same'; other padding
   * goes to the convolution itself as a number (GroupConv2D, which with groups = 1 is a plain
   * convolution with the same `kernel` weight as tfjs' Conv2D), or, for depthwise convolutions, to
   * PaddedDepthwiseConv2D, whose weight keeps tfjs' DepthwiseConv2D `depthwise_kernel` that the
   * weights importer and saved weight directories name. No zero-padding layers.
   */
  conv(x: ST, name: string, o: ConvOpts): ST {
    const cin = x.shape[3] as number;
    const k = o.kernel;
    const stride = o.stride ?? 1;
    const pad = o.padding ?? Math.floor(k / 2);
    const groups = o.groups ?? 1;
    const depthwise = groups > 1 && groups === cin && o.filters === cin;
    const same = pad > 0 && stride === 1 && 2 * pad === k - 1;
    if (pad > 0 && !same && !depthwise) {
      return sym(new GroupConv2D({
        filters: o.filters, kernelSize: k, strides: stride, groups, padding: pad, useBias: o.bias ?? false,
        seed: layerSeed(this.seed, name), name,
      }), x);
    }
    if (pad > 0 && !same) {
      // the depthwise initialiser below, on the same shape: the same initial values
      return sym(new PaddedDepthwiseConv2D({
        kernelSize: k, strides: stride, padding: pad, useBias: o.bias ?? false, initScale: 2 * cin,
        seed: layerSeed(this.seed, name), name,
      }), x);
    }
    const padding: 'same' | 'valid' = same ? 'same' : 'valid';
    const common = { kernelSize: k, strides: stride, padding, useBias: o.bias ?? false, name };
    if (groups === 1) {
      return sym(tf.layers.conv2d({ ...common, filters: o.filters, kernelInitializer: this.heNormal(name) }), x);
    }
    if (depthwise) {
      // tfjs counts the fan-in of a depthwise kernel [k,k,C,1] as k*k*C; one output really sees
      // k*k inputs, so scale by C to get He variance 2/(k*k).
      return sym(tf.layers.depthwiseConv2d({
        ...common, depthMultiplier: 1, depthwiseInitializer: this.heNormal(name, 2 * cin),
      }), x);
    }
    return sym(new GroupConv2D({
      filters: o.filters, kernelSize: k, strides: stride, groups, padding, useBias: o.bias ?? false,
      seed: layerSeed(this.seed, name), name,
    }), x);
  }

  bn(x: ST, name: string, epsilon = 1e-5): ST {
    return sym(batchNorm(name, epsilon), x);
  }

  /** Batch norm `name` and the activation after it as one layer (FreezableBatchNorm's
   * `activation`): on wasm and native the activation runs in the normalisation's own pass. */
  bnAct(x: ST, name: string, kind: BatchNormActivation, epsilon = 1e-5): ST {
    return sym(batchNorm(name, epsilon, kind), x);
  }

  /** An activation layer; swish and relu6 are exp's (one fused kernel each way on native, layers/swish.ts). */
  act(x: ST, name: string, kind: Activation): ST {
    if (kind === 'swish') return sym(new Swish({ name }), x);
    if (kind === 'relu6') return sym(new Relu6({ name }), x);
    return sym(tf.layers.activation({ activation: kind, name }), x);
  }

  add(a: ST, b: ST, name: string): ST {
    return sym(tf.layers.add({ name }), [a, b]);
  }

  /** relu(x + shortcut), or relu(x * gate + shortcut) with a squeeze-excitation gate: one layer
   * (layers/residual.ts), one kernel each way on native. */
  residualRelu(x: ST, shortcut: ST, name: string, gate?: ST): ST {
    return sym(new ResidualRelu({ name }), gate ? [x, shortcut, gate] : [x, shortcut]);
  }

  /** Max pooling with PyTorch's padding (padded positions never win), done by the pooling kernel:
   * symmetric pixels, or [[top, bottom], [left, right]]. */
  maxPool(x: ST, name: string, kernel: number, stride: number, pad: PoolPadding): ST {
    return sym(new PaddedMaxPooling2D({ poolSize: kernel, strides: stride, padding: pad, name }), x);
  }

  /**
   * Squeeze-and-excitation: global average -> 1x1 conv (reduce, with bias) -> act -> 1x1 conv
   * (expand, with bias) -> sigmoid -> channel-wise scale of x. `names` are the two convs'
   * PyTorch names (pretrainedmodels: se_module.fc1/fc2; timm: se.conv_reduce/conv_expand).
   */
  se(x: ST, prefix: string, reduced: number, act: Activation, names: [string, string]): ST {
    return sym(tf.layers.multiply({ name: `${prefix}.scale` }), [x, this.seGate(x, prefix, reduced, act, names)]);
  }

  /** The squeeze-excitation gate alone, [N,1,1,C] (for a block that scales with it itself). */
  seGate(x: ST, prefix: string, reduced: number, act: Activation, names: [string, string]): ST {
    const c = x.shape[3] as number;
    let s = sym(tf.layers.globalAveragePooling2d({ name: `${prefix}.pool` }), x);
    s = sym(tf.layers.reshape({ targetShape: [1, 1, c], name: `${prefix}.reshape` }), s);
    s = this.conv(s, `${prefix}.${names[0]}`, { filters: reduced, kernel: 1, bias: true });
    s = this.act(s, `${prefix}.act`, act);
    s = this.conv(s, `${prefix}.${names[1]}`, { filters: c, kernel: 1, bias: true });
    return this.act(s, `${prefix}.gate`, 'sigmoid');
  }
}

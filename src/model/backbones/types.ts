import type { tf } from '../tf.ts';

export interface BackboneOpts {
  /** Model seed; every layer's initialiser seed is derived from it and the layer name. */
  seed: number;
  /** Channel width multiplier (only backbones that define one accept it). */
  width?: number;
}

export interface Backbone {
  name: string;
  description: string;
  /** Appends the backbone to `input` (NHWC) and returns its last feature map (NHWC). */
  build(input: tf.SymbolicTensor, opts: BackboneOpts): tf.SymbolicTensor;
  featureChannels: number;
  /** Parameters of the reference definition without its classifier (PyTorch `parameters()`). */
  referenceParams: number;
  /** Where referenceParams comes from and how it was computed. */
  referenceSource: string;
  /**
   * For the PyTorch weights importer. Layer names here equal the reference's module names
   * (e.g. "layer1.0.conv1"), so by default a torch parameter "<module>.<param>" maps to layer
   * "<module>" and needs no table. Set this only where a name differs: tfjs layer name -> torch
   * module name. Layers without torch weights (".pad", ".act", ".pool", ".scale", ...) have no
   * weights either. Weight conversions: conv weight [o,i,kh,kw] -> kernel [kh,kw,i,o]
   * (GroupConv2D the same with i = in/groups); depthwise [c,1,kh,kw] -> depthwise_kernel
   * [kh,kw,c,1]; conv bias -> bias; BatchNorm weight/bias/running_mean/running_var ->
   * gamma/beta/moving_mean/moving_variance.
   */
  torchNames?: Record<string, string>;
}

/** Rejects a width multiplier on backbones that have none. */
export function noWidth(name: string, opts: BackboneOpts): void {
  if (opts.width !== undefined && opts.width !== 1) {
    throw new Error(`backbone ${name} has no width multiplier (got ${opts.width})`);
  }
}

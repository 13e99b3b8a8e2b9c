// exp's grouped-convolution op (ResNeXt's cardinality) as one op with its own gradient, for the
// backends that register its three kernels: native (the oneDNN addon's grouped convolutions,
// native.ts) and webgpu (WGSL, webgpu/group-conv.ts). Contract shared by every implementation:
// - ExpGroupConv2D {x, filter} -> y
// - ExpGroupConv2DBackpropInput {dy, filter} (+ attr inputShape) -> dx
// - ExpGroupConv2DBackpropFilter {x, dy} (+ attr filterShape) -> dfilter
// attrs {groups, strides: [sh, sw], pad: number (symmetric pixels, PyTorch) | 'same' | 'valid',
// dilations: [dh, dw]}; NHWC; filter [kh, kw, cin / groups, cout], group g reading input channels
// [g*cin/groups, (g+1)*cin/groups) and writing outputs [g*cout/groups, (g+1)*cout/groups).
// Elsewhere (cpu, plain wasm, tensorflow) the layer keeps the split/conv2d/concat composite
// (layers/group-conv.ts), whose result the kernel tests compare against.
import { tf } from '../tf.ts';

export const GROUP_CONV = 'ExpGroupConv2D';
export const GROUP_CONV_BACKPROP_INPUT = 'ExpGroupConv2DBackpropInput';
export const GROUP_CONV_BACKPROP_FILTER = 'ExpGroupConv2DBackpropFilter';

export interface GroupConvAttrs {
  groups: number;
  strides: number | [number, number];
  pad: number | 'same' | 'valid';
  dilations: number | [number, number];
}

/** Whether the active backend has all three grouped-convolution kernels. */
export function groupConvAvailable(): boolean {
  const b = tf.getBackend();
  return !!tf.getKernel(GROUP_CONV, b) && !!tf.getKernel(GROUP_CONV_BACKPROP_INPUT, b)
    && !!tf.getKernel(GROUP_CONV_BACKPROP_FILTER, b);
}

const pair = (v: number | [number, number]): [number, number] => (typeof v === 'number' ? [v, v] : v);

/**
 * The grouped convolution through exp's kernels, differentiable through x and the filter (one
 * tape entry; the gradient is the two backprop kernels). Undefined when the active backend does
 * not register them or the tensors are not float32: the caller then runs the composite.
 */
export function groupConvOp(x: tf.Tensor4D, filter: tf.Tensor4D, a: GroupConvAttrs): tf.Tensor4D | undefined {
  if (!groupConvAvailable() || x.dtype !== 'float32' || filter.dtype !== 'float32') return undefined;
  const attrs = { groups: a.groups, strides: pair(a.strides), pad: a.pad, dilations: pair(a.dilations) };
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xi, f] = args as tf.Tensor4D[];
    const save = args[2] as tf.GradSaveFunc;
    const y = tf.engine().runKernel(GROUP_CONV, { x: xi, filter: f },
      attrs as unknown as tf.NamedAttrMap) as tf.Tensor4D;
    save([xi, f]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sx, sf] = saved;
        return [
          tf.engine().runKernel(GROUP_CONV_BACKPROP_INPUT, { dy, filter: sf },
            { ...attrs, inputShape: sx.shape } as unknown as tf.NamedAttrMap) as tf.Tensor,
          tf.engine().runKernel(GROUP_CONV_BACKPROP_FILTER, { x: sx, dy },
            { ...attrs, filterShape: sf.shape } as unknown as tf.NamedAttrMap) as tf.Tensor,
        ];
      },
    };
  });
  return op(x, filter) as tf.Tensor4D;
}

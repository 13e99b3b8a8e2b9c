// The grouped convolution (ResNeXt) and both its gradients as one WGSL kernel each, for tfjs'
// webgpu backend, under the names of exp's grouped-convolution op (kernels/group-conv.ts): ExpGroupConv2D {x, filter},
// ExpGroupConv2DBackpropInput {dy, filter} (+ inputShape), ExpGroupConv2DBackpropFilter {x, dy}
// (+ filterShape), attrs {groups, strides, pad: number | 'same' | 'valid', dilations}; NHWC,
// filter [kh, kw, cin / groups, cout] (group g: input channels [g*cg, (g+1)*cg), outputs
// [g*og, (g+1)*og)). The composite they replace (split, one conv2d per group, concat) is 32
// convolutions and their gradients per ResNeXt block, each a few dispatches over 4..32 channels.
// - forward and input gradient: one invocation per output pixel and 4 channels (one channel when
//   the group's width is not a multiple of 4), summing over the filter window and the group's
//   channels with vec4 loads along the channel axis;
// - filter gradient: one workgroup per 4 x 4 block of filter values (fewer on narrow groups),
//   its 128 invocations striding over the n*oh*ow output pixels, then a tree sum in workgroup
//   memory (no atomics, so each result is the same sum in the same order every time).
import type { KernelConfig, KernelFunc } from '@tensorflow/tfjs';
import { tf } from '../tf.ts';
import { flatDispatch, vec, WORKGROUP_INDEX, zero, type Program, type Uniform, type WebgpuBackendLike } from './program.ts';
import { GROUP_CONV, GROUP_CONV_BACKPROP_FILTER, GROUP_CONV_BACKPROP_INPUT, type GroupConvAttrs } from '../kernels/group-conv.ts';

export { GROUP_CONV, GROUP_CONV_BACKPROP_FILTER, GROUP_CONV_BACKPROP_INPUT, type GroupConvAttrs };

interface Geometry {
  n: number; h: number; w: number; cin: number;
  oh: number; ow: number; cout: number;
  kh: number; kw: number; cg: number; og: number;
  uniforms: Uniform[];
}

/** Shapes, padding and the uniforms shared by the three kernels; checks the grouping. */
export function groupGeometry(xShape: number[], filterShape: number[], a: GroupConvAttrs): Geometry {
  const [n, h, w, cin] = xShape;
  const [kh, kw, cg, cout] = filterShape;
  const groups = a.groups;
  if (!(Number.isInteger(groups) && groups >= 1 && cin % groups === 0 && cout % groups === 0 && cg * groups === cin)) {
    throw new Error(`${GROUP_CONV}: input [${xShape}] and filter [${filterShape}] do not fit ${groups} groups ` +
      '(need cin = groups * filter[2] and cout divisible by groups)');
  }
  const info = tf.backend_util.computeConv2DInfo([n, h, w, cin], [kh, kw, cg, cout], a.strides, a.dilations,
    a.pad, undefined, false, 'channelsLast');
  return {
    n, h, w, cin, oh: info.outHeight, ow: info.outWidth, cout, kh, kw, cg, og: cout / groups,
    uniforms: [
      { type: 'int32', data: [info.strideHeight, info.strideWidth] },
      { type: 'int32', data: [info.padInfo.top, info.padInfo.left] },
      { type: 'int32', data: [info.dilationHeight, info.dilationWidth] },
      { type: 'int32', data: [cout / groups] },
    ],
  };
}

const UNIFORMS = 'strides : vec2<i32>, pads : vec2<i32>, dilations : vec2<i32>, og : i32,';

/** y[b, oy, ox, co..co+CO) = sum over the window and the group's input channels. */
function forwardProgram(g: Geometry): Program {
  const CI = g.cg % 4 === 0 ? 4 : 1;
  const CO = g.og % 4 === 0 ? 4 : 1;
  const outputShape = [g.n, g.oh, g.ow, g.cout];
  const w = (k: string) => (CO === 4 ? `W[(wb + (ci + ${k}) * cout) / 4]` : `W[wb + (ci + ${k}) * cout]`);
  const body = CI === 4 && CO === 4
    ? `let xv = x[(xb + ci) / 4];
        acc += xv.x * ${w('0')} + xv.y * ${w('1')} + xv.z * ${w('2')} + xv.w * ${w('3')};`
    : CI === 4
      ? `acc += dot(x[(xb + ci) / 4], vec4<f32>(${w('0')}, ${w('1')}, ${w('2')}, ${w('3')}));`
      : `acc += x[xb + ci] * ${w('0')};`;
  return {
    outputShape, shaderKey: `expGroupConv_${CI}_${CO}`, dispatchLayout: { x: [0, 1, 2, 3] },
    dispatch: flatDispatch(outputShape, CO), variableNames: ['x', 'W'], variableComponents: [CI, CO],
    outputComponent: CO, workgroupSize: [64, 1, 1], size: true, uniforms: UNIFORMS,
    getUserCode: () => `
  fn main(index : i32) {
    if (index >= uniforms.size) { return; }
    let cout = uniforms.outShape[3];
    let quads = cout / ${CO};
    let pix = index / quads;
    let co = (index - pix * quads) * ${CO};
    let ox = pix % uniforms.outShape[2];
    let t = pix / uniforms.outShape[2];
    let oy = t % uniforms.outShape[1];
    let b = t / uniforms.outShape[1];
    let H = uniforms.xShape[1];
    let Wd = uniforms.xShape[2];
    let cin = uniforms.xShape[3];
    let KH = uniforms.wShape[0];
    let KW = uniforms.wShape[1];
    let cg = uniforms.wShape[2];
    let g = co / uniforms.og;
    var acc = ${zero(CO)};
    for (var kh = 0; kh < KH; kh++) {
      let iy = oy * uniforms.strides.x - uniforms.pads.x + kh * uniforms.dilations.x;
      if (iy < 0 || iy >= H) { continue; }
      for (var kw = 0; kw < KW; kw++) {
        let ix = ox * uniforms.strides.y - uniforms.pads.y + kw * uniforms.dilations.y;
        if (ix < 0 || ix >= Wd) { continue; }
        let xb = ((b * H + iy) * Wd + ix) * cin + g * cg;
        let wb = (kh * KW + kw) * cg * cout + co;
        for (var ci = 0; ci < cg; ci += ${CI}) {
          ${body}
        }
      }
    }
    result[index] = acc;
  }`,
  };
}

/** dx[b, iy, ix, c..c+CI) = sum over the filter taps that reach it and the group's outputs. */
function backpropInputProgram(g: Geometry): Program {
  const CI = g.cg % 4 === 0 ? 4 : 1;
  const OV = g.og % 4 === 0 ? 4 : 1;
  const outputShape = [g.n, g.h, g.w, g.cin];
  const w = (j: number) => (OV === 4 ? `W[(wb + ${j} * cout + o) / 4]` : `W[wb + ${j} * cout + o]`);
  const body = CI === 4 && OV === 4
    ? `let d = dy[(db + o) / 4];
          acc += vec4<f32>(dot(d, ${w(0)}), dot(d, ${w(1)}), dot(d, ${w(2)}), dot(d, ${w(3)}));`
    : CI === 4
      ? `acc += dy[db + o] * vec4<f32>(${w(0)}, ${w(1)}, ${w(2)}, ${w(3)});`
      : OV === 4 ? `acc += dot(dy[(db + o) / 4], ${w(0)});` : `acc += dy[db + o] * ${w(0)};`;
  return {
    outputShape, shaderKey: `expGroupConvDx_${CI}_${OV}`, dispatchLayout: { x: [0, 1, 2, 3] },
    dispatch: flatDispatch(outputShape, CI), variableNames: ['dy', 'W'], variableComponents: [OV, OV],
    outputComponent: CI, workgroupSize: [64, 1, 1], size: true, uniforms: UNIFORMS,
    getUserCode: () => `
  fn main(index : i32) {
    if (index >= uniforms.size) { return; }
    let cin = uniforms.outShape[3];
    let quads = cin / ${CI};
    let pix = index / quads;
    let c = (index - pix * quads) * ${CI};
    let ix = pix % uniforms.outShape[2];
    let t = pix / uniforms.outShape[2];
    let iy = t % uniforms.outShape[1];
    let b = t / uniforms.outShape[1];
    let OH = uniforms.dyShape[1];
    let OW = uniforms.dyShape[2];
    let cout = uniforms.dyShape[3];
    let KH = uniforms.wShape[0];
    let KW = uniforms.wShape[1];
    let cg = uniforms.wShape[2];
    let og = uniforms.og;
    let g = c / cg;
    let ci = c - g * cg;
    var acc = ${zero(CI)};
    for (var kh = 0; kh < KH; kh++) {
      let ty = iy + uniforms.pads.x - kh * uniforms.dilations.x;
      if (ty < 0) { break; }
      let oy = ty / uniforms.strides.x;
      if (oy * uniforms.strides.x != ty || oy >= OH) { continue; }
      for (var kw = 0; kw < KW; kw++) {
        let tx = ix + uniforms.pads.y - kw * uniforms.dilations.y;
        if (tx < 0) { break; }
        let ox = tx / uniforms.strides.y;
        if (ox * uniforms.strides.y != tx || ox >= OW) { continue; }
        let db = ((b * OH + oy) * OW + ox) * cout + g * og;
        let wb = ((kh * KW + kw) * cg + ci) * cout + g * og;
        for (var o = 0; o < og; o += ${OV}) {
          ${body}
        }
      }
    }
    result[index] = acc;
  }`,
  };
}

const FILTER_WG = 128;

/** dW[kh, kw, ci..ci+CI, co..co+CO) = sum over the output pixels, by one workgroup. */
function backpropFilterProgram(g: Geometry): Program {
  const CI = g.cg % 4 === 0 ? 4 : 1;
  const CO = g.og % 4 === 0 ? 4 : 1;
  const outputShape = [g.kh, g.kw, g.cg, g.cout];
  const tiles = g.kh * g.kw * (g.cg / CI) * (g.cout / CO);
  const lanes = ['x', 'y', 'z', 'w'];
  const accumulate = CI === 4
    ? lanes.map((l, j) => `acc[${j}] += xv.${l} * d;`).join(' ')
    : 'acc[0] += xv * d;';
  return {
    outputShape, shaderKey: `expGroupConvDw_${CI}_${CO}`, dispatchLayout: { x: [0, 1, 2, 3] },
    dispatch: [tiles, 1, 1], variableNames: ['x', 'dy'], variableComponents: [CI, CO],
    outputComponent: CO, workgroupSize: [FILTER_WG, 1, 1], size: false, uniforms: UNIFORMS,
    getUserCode: () => `
  var<workgroup> part : array<${vec(CO)}, ${FILTER_WG * CI}>;
  fn main(index : i32) {
    let KH = uniforms.outShape[0];
    let KW = uniforms.outShape[1];
    let cg = uniforms.outShape[2];
    let cout = uniforms.outShape[3];
    let coQuads = cout / ${CO};
    let ciQuads = cg / ${CI};
    let tile = ${WORKGROUP_INDEX};
    // no early return: WGSL sees workgroupId as non-uniform, and every lane must reach the barriers
    let valid = tile < KH * KW * ciQuads * coQuads;
    let co = (tile % coQuads) * ${CO};
    let t1 = tile / coQuads;
    let ci = (t1 % ciQuads) * ${CI};
    let t2 = t1 / ciQuads;
    let kw = t2 % KW;
    let kh = t2 / KW;
    let g = co / uniforms.og;
    let H = uniforms.xShape[1];
    let Wd = uniforms.xShape[2];
    let cin = uniforms.xShape[3];
    let OH = uniforms.dyShape[1];
    let OW = uniforms.dyShape[2];
    let rows = select(0, uniforms.dyShape[0] * OH * OW, valid);
    let lane = i32(localIndex);
    var acc : array<${vec(CO)}, ${CI}>;
    for (var j = 0; j < ${CI}; j++) { acc[j] = ${zero(CO)}; }
    for (var r = lane; r < rows; r += ${FILTER_WG}) {
      let ox = r % OW;
      let t = r / OW;
      let oy = t % OH;
      let b = t / OH;
      let iy = oy * uniforms.strides.x - uniforms.pads.x + kh * uniforms.dilations.x;
      let ix = ox * uniforms.strides.y - uniforms.pads.y + kw * uniforms.dilations.y;
      if (iy < 0 || iy >= H || ix < 0 || ix >= Wd) { continue; }
      let xi = ((b * H + iy) * Wd + ix) * cin + g * cg + ci;
      let xv = x[xi${CI === 4 ? ' / 4' : ''}];
      let d = dy[(r * cout + co)${CO === 4 ? ' / 4' : ''}];
      ${accumulate}
    }
    for (var j = 0; j < ${CI}; j++) { part[j * ${FILTER_WG} + lane] = acc[j]; }
    workgroupBarrier();
    for (var s = ${FILTER_WG / 2}; s > 0; s = s >> 1u) {
      if (lane < s) {
        for (var j = 0; j < ${CI}; j++) { part[j * ${FILTER_WG} + lane] += part[j * ${FILTER_WG} + lane + s]; }
      }
      workgroupBarrier();
    }
    if (lane == 0 && valid) {
      for (var j = 0; j < ${CI}; j++) {
        result[(((kh * KW + kw) * cg + ci + j) * cout + co)${CO === 4 ? ' / 4' : ''}] = part[j * ${FILTER_WG}];
      }
    }
  }`,
  };
}

type Args = { inputs: Record<string, tf.TensorInfo>; attrs: Record<string, unknown>; backend: WebgpuBackendLike };

const attrsOf = (a: Record<string, unknown>): GroupConvAttrs => ({
  groups: a.groups as number, strides: (a.strides ?? 1) as GroupConvAttrs['strides'],
  pad: a.pad as GroupConvAttrs['pad'], dilations: (a.dilations ?? 1) as GroupConvAttrs['dilations'],
});

function checkFloat(name: string, ...ts: tf.TensorInfo[]): void {
  for (const t of ts) {
    if (t.dtype !== 'float32' || t.shape.length !== 4) throw new Error(`${name} on webgpu: needs float32 rank-4 tensors, got ${t.dtype} [${t.shape}]`);
  }
}

function groupConv({ inputs: { x, filter }, attrs, backend }: Args): tf.TensorInfo {
  checkFloat(GROUP_CONV, x, filter);
  const g = groupGeometry(x.shape, filter.shape, attrsOf(attrs));
  return backend.runWebGPUProgram(forwardProgram(g), [x, filter], 'float32', g.uniforms);
}

function groupConvBackpropInput({ inputs: { dy, filter }, attrs, backend }: Args): tf.TensorInfo {
  checkFloat(GROUP_CONV_BACKPROP_INPUT, dy, filter);
  const g = groupGeometry(attrs.inputShape as number[], filter.shape, attrsOf(attrs));
  return backend.runWebGPUProgram(backpropInputProgram(g), [dy, filter], 'float32', g.uniforms);
}

function groupConvBackpropFilter({ inputs: { x, dy }, attrs, backend }: Args): tf.TensorInfo {
  checkFloat(GROUP_CONV_BACKPROP_FILTER, x, dy);
  const g = groupGeometry(x.shape, attrs.filterShape as number[], attrsOf(attrs));
  return backend.runWebGPUProgram(backpropFilterProgram(g), [x, dy], 'float32', g.uniforms);
}

const kernel = (kernelName: string, f: (a: Args) => tf.TensorInfo): KernelConfig =>
  ({ kernelName, backendName: 'webgpu', kernelFunc: f as unknown as KernelFunc });

export const groupConvKernels: KernelConfig[] = [
  kernel(GROUP_CONV, groupConv),
  kernel(GROUP_CONV_BACKPROP_INPUT, groupConvBackpropInput),
  kernel(GROUP_CONV_BACKPROP_FILTER, groupConvBackpropFilter),
];

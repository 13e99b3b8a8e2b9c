// EfficientNet-B0 as timm's `efficientnet_b0` (same architecture and parameter count as
// torchvision's): stem 3x3/2 -> 16 MBConv blocks with SE (reduce to in/4, SiLU) -> 1x1 head conv
// to 1280, SiLU ("swish") everywhere. PyTorch-symmetric padding. Names follow timm's modules:
// conv_stem, bn1, blocks.1.0.conv_pw, blocks.1.0.se.conv_reduce, conv_head, bn2.
// Stochastic depth (drop_path) is not implemented: blocks always keep their residual branch.
import type { tf } from '../tf.ts';
import type { Backbone } from './types.ts';
import { noWidth } from './types.ts';
import { NetBuilder } from '../layers/blocks.ts';

type ST = tf.SymbolicTensor;

// [expand ratio, kernel, stride, out channels, repeats] per stage (timm arch_def of b0).
const STAGES: [number, number, number, number, number][] = [
  [1, 3, 1, 16, 1], [6, 3, 2, 24, 2], [6, 5, 2, 40, 2], [6, 3, 2, 80, 3],
  [6, 5, 1, 112, 3], [6, 5, 2, 192, 4], [6, 3, 1, 320, 1],
];

function mbconv(b: NetBuilder, x: ST, p: string, e: number, k: number, s: number, out: number): ST {
  const cin = x.shape[3] as number;
  const mid = cin * e;
  const rd = Math.max(1, Math.floor(cin / 4));
  let y = x;
  let bnDw = 'bn1';
  if (e !== 1) {
    // timm InvertedResidual: conv_pw, bn1, conv_dw, bn2, se, conv_pwl, bn3
    y = b.bnAct(b.conv(y, `${p}.conv_pw`, { filters: mid, kernel: 1 }), `${p}.bn1`, 'swish');
    bnDw = 'bn2';
  }
  y = b.conv(y, `${p}.conv_dw`, { filters: mid, kernel: k, stride: s, groups: mid });
  y = b.bnAct(y, `${p}.${bnDw}`, 'swish');
  y = b.se(y, `${p}.se`, rd, 'swish', ['conv_reduce', 'conv_expand']);
  // timm DepthwiseSeparableConv: conv_dw, bn1, se, conv_pw, bn2
  const [proj, bnProj] = e === 1 ? ['conv_pw', 'bn2'] : ['conv_pwl', 'bn3'];
  y = b.bn(b.conv(y, `${p}.${proj}`, { filters: out, kernel: 1 }), `${p}.${bnProj}`);
  return s === 1 && cin === out ? b.add(y, x, `${p}.add`) : y;
}

export const efficientnetB0: Backbone = {
  name: 'efficientnet_b0',
  description: 'EfficientNet-B0 (timm efficientnet_b0 / torchvision), MBConv + SE + swish, 4.0M parameters',
  featureChannels: 1280,
  referenceParams: 4_007_548,
  referenceSource: 'torchvision.models.efficientnet_b0() 5,288,548 minus classifier (1,281,000); '
    + 'timm efficientnet_b0 has the same count',
  build(input, opts) {
    noWidth('efficientnet_b0', opts);
    const b = new NetBuilder(opts.seed);
    let x = b.conv(input, 'conv_stem', { filters: 32, kernel: 3, stride: 2 });
    x = b.bnAct(x, 'bn1', 'swish');
    STAGES.forEach(([e, k, s, out, n], i) => {
      for (let j = 0; j < n; j++) x = mbconv(b, x, `blocks.${i}.${j}`, e, k, j === 0 ? s : 1, out);
    });
    x = b.conv(x, 'conv_head', { filters: 1280, kernel: 1 });
    return b.bnAct(x, 'bn2', 'swish');
  },
};

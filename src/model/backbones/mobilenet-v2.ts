// torchvision MobileNetV2 (inverted residuals, ReLU6, linear bottlenecks), names as its modules:
// features.0.0 (conv), features.0.1 (bn), features.3.conv.1.0 (depthwise), features.18.0, ...
// `width` is torchvision's width_mult (channels rounded to multiples of 8).
import type { tf } from '../tf.ts';
import type { Backbone } from './types.ts';
import { NetBuilder } from '../layers/blocks.ts';

type ST = tf.SymbolicTensor;

// [expand t, out c, repeats n, stride s] (torchvision inverted_residual_setting)
const SETTING: [number, number, number, number][] = [
  [1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1],
];

/** torchvision's _make_divisible: round to a multiple of 8, never below 90 % of v. */
function makeDivisible(v: number, d = 8): number {
  let n = Math.max(d, Math.floor((v + d / 2) / d) * d);
  if (n < 0.9 * v) n += d;
  return n;
}

function convBnRelu6(b: NetBuilder, x: ST, p: string, filters: number, kernel: number, stride: number, groups = 1): ST {
  return b.bnAct(b.conv(x, `${p}.0`, { filters, kernel, stride, groups }), `${p}.1`, 'relu6');
}

function invertedResidual(b: NetBuilder, x: ST, p: string, t: number, out: number, stride: number): ST {
  const cin = x.shape[3] as number;
  const hidden = Math.round(cin * t);
  let y = x;
  let i = 0;
  if (t !== 1) y = convBnRelu6(b, y, `${p}.conv.${i++}`, hidden, 1, 1);
  y = convBnRelu6(b, y, `${p}.conv.${i++}`, hidden, 3, stride, hidden);
  y = b.conv(y, `${p}.conv.${i++}`, { filters: out, kernel: 1 });
  y = b.bn(y, `${p}.conv.${i}`);
  return stride === 1 && cin === out ? b.add(x, y, `${p}.add`) : y;
}

export const mobilenetV2: Backbone = {
  name: 'mobilenet_v2',
  description: 'torchvision MobileNetV2 (width_mult via `width`), 2.2M parameters',
  featureChannels: 1280,
  referenceParams: 2_223_872,
  referenceSource: 'torchvision.models.mobilenet_v2() 3,504,872 minus classifier (1,281,000)',
  build(input, opts) {
    const w = opts.width ?? 1;
    const b = new NetBuilder(opts.seed);
    let x = convBnRelu6(b, input, 'features.0', makeDivisible(32 * w), 3, 2);
    let f = 1;
    for (const [t, c, n, s] of SETTING) {
      for (let j = 0; j < n; j++) {
        x = invertedResidual(b, x, `features.${f++}`, t, makeDivisible(c * w), j === 0 ? s : 1);
      }
    }
    return convBnRelu6(b, x, `features.${f}`, makeDivisible(1280 * Math.max(1, w)), 1, 1);
  },
};

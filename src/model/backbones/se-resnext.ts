// SE-ResNeXt-50 32x4d as Cadene's pretrainedmodels defines it (the reference recipe's backbone):
// stem layer0 (7x7 conv, bn, relu, 3x3/2 max pool with ceil_mode), four stages of
// SEResNeXtBottleneck (1x1 -> grouped 3x3 carrying the stride -> 1x1, SE with reduction 16),
// downsample = 1x1 conv + bn. Names follow its modules: layer0.conv1, layer1.0.se_module.fc1, ...
import type { tf } from '../tf.ts';
import type { Backbone } from './types.ts';
import { noWidth } from './types.ts';
import { NetBuilder } from '../layers/blocks.ts';

type ST = tf.SymbolicTensor;
const GROUPS = 32;
const BASE_WIDTH = 4;
const REDUCTION = 16;

function block(b: NetBuilder, x: ST, p: string, planes: number, stride: number): ST {
  const width = Math.floor(planes * BASE_WIDTH / 64) * GROUPS;
  const out = planes * 4;
  let y = b.conv(x, `${p}.conv1`, { filters: width, kernel: 1 });
  y = b.bnAct(y, `${p}.bn1`, 'relu');
  y = b.conv(y, `${p}.conv2`, { filters: width, kernel: 3, stride, groups: GROUPS });
  y = b.bnAct(y, `${p}.bn2`, 'relu');
  y = b.bn(b.conv(y, `${p}.conv3`, { filters: out, kernel: 1 }), `${p}.bn3`);
  const gate = b.seGate(y, `${p}.se_module`, Math.floor(out / REDUCTION), 'relu', ['fc1', 'fc2']);
  let r = x;
  if (stride !== 1 || x.shape[3] !== out) {
    r = b.bn(b.conv(x, `${p}.downsample.0`, { filters: out, kernel: 1, stride, padding: 0 }), `${p}.downsample.1`);
  }
  return b.residualRelu(y, r, `${p}.add_relu`, gate); // relu(y * gate + r)
}

/** Bottom/right padding that makes a 'valid' pool match PyTorch's ceil_mode=True (no padding). */
function ceilModePad(n: number, k: number, s: number): number {
  const out = Math.ceil((n - k) / s) + 1;
  return Math.max(0, (out - 1) * s + k - n);
}

export const seResnext50: Backbone = {
  name: 'se_resnext50_32x4d',
  description: 'SE-ResNeXt-50 32x4d (pretrainedmodels; the reference recipe backbone), 25.5M parameters',
  featureChannels: 2048,
  // pretrainedmodels.se_resnext50_32x4d(): 27,559,896 parameters minus last_linear (2048*1000+1000);
  // counted with the SENet definition written out in Python/PyTorch (pretrainedmodels is not
  // packaged for Debian), see the report of this module.
  referenceParams: 25_510_896,
  referenceSource: 'pretrainedmodels se_resnext50_32x4d 27,559,896 minus last_linear (2,049,000)',
  build(input, opts) {
    noWidth('se_resnext50_32x4d', opts);
    const b = new NetBuilder(opts.seed);
    let x = b.conv(input, 'layer0.conv1', { filters: 64, kernel: 7, stride: 2, padding: 3 });
    x = b.bnAct(x, 'layer0.bn1', 'relu');
    const h = x.shape[1] as number;
    const w = x.shape[2] as number;
    x = b.maxPool(x, 'layer0.pool', 3, 2, [[0, ceilModePad(h, 3, 2)], [0, ceilModePad(w, 3, 2)]]);
    [64, 128, 256, 512].forEach((planes, i) => {
      const n = [3, 4, 6, 3][i];
      for (let j = 0; j < n; j++) x = block(b, x, `layer${i + 1}.${j}`, planes, j === 0 && i > 0 ? 2 : 1);
    });
    return x;
  },
};

// torchvision ResNets (v1.5: the stride of a bottleneck sits on its 3x3 conv), NHWC, layer
// names as torchvision's modules: conv1, bn1, layer1.0.conv1, layer1.0.downsample.0, ...
import type { tf } from '../tf.ts';
import type { Backbone } from './types.ts';
import { noWidth } from './types.ts';
import { NetBuilder } from '../layers/blocks.ts';

type ST = tf.SymbolicTensor;
const WIDTHS = [64, 128, 256, 512];

function basic(b: NetBuilder, x: ST, p: string, planes: number, stride: number): ST {
  let y = b.conv(x, `${p}.conv1`, { filters: planes, kernel: 3, stride });
  y = b.bnAct(y, `${p}.bn1`, 'relu');
  y = b.bn(b.conv(y, `${p}.conv2`, { filters: planes, kernel: 3 }), `${p}.bn2`);
  return b.residualRelu(y, shortcut(b, x, p, planes, stride), `${p}.add_relu`);
}

function bottleneck(b: NetBuilder, x: ST, p: string, planes: number, stride: number): ST {
  let y = b.conv(x, `${p}.conv1`, { filters: planes, kernel: 1 });
  y = b.bnAct(y, `${p}.bn1`, 'relu');
  y = b.conv(y, `${p}.conv2`, { filters: planes, kernel: 3, stride });
  y = b.bnAct(y, `${p}.bn2`, 'relu');
  y = b.bn(b.conv(y, `${p}.conv3`, { filters: planes * 4, kernel: 1 }), `${p}.bn3`);
  return b.residualRelu(y, shortcut(b, x, p, planes * 4, stride), `${p}.add_relu`);
}

/** Identity, or the 1x1 conv + bn projection torchvision calls `downsample`. */
function shortcut(b: NetBuilder, x: ST, p: string, out: number, stride: number): ST {
  if (stride === 1 && x.shape[3] === out) return x;
  return b.bn(b.conv(x, `${p}.downsample.0`, { filters: out, kernel: 1, stride }), `${p}.downsample.1`);
}

function resnet(name: string, blocks: number[], kind: 'basic' | 'bottleneck', params: number, tvTotal: number): Backbone {
  const block = kind === 'basic' ? basic : bottleneck;
  const expansion = kind === 'basic' ? 1 : 4;
  return {
    name,
    description: `torchvision ${name} (${kind} blocks ${blocks.join('-')}), ${(params / 1e6).toFixed(1)}M parameters`,
    featureChannels: 512 * expansion,
    referenceParams: params,
    referenceSource: `torchvision.models.${name}() parameters ${tvTotal.toLocaleString('en')} minus fc `
      + `(${(tvTotal - params).toLocaleString('en')}), torchvision 0.14 via python3-torchvision`,
    build(input, opts) {
      noWidth(name, opts);
      const b = new NetBuilder(opts.seed);
      let x = b.conv(input, 'conv1', { filters: 64, kernel: 7, stride: 2 });
      x = b.bnAct(x, 'bn1', 'relu');
      x = b.maxPool(x, 'maxpool', 3, 2, 1);
      WIDTHS.forEach((planes, i) => {
        for (let j = 0; j < blocks[i]; j++) {
          x = block(b, x, `layer${i + 1}.${j}`, planes, j === 0 && i > 0 ? 2 : 1);
        }
      });
      return x;
    },
  };
}

export const resnet18 = resnet('resnet18', [2, 2, 2, 2], 'basic', 11_176_512, 11_689_512);
export const resnet34 = resnet('resnet34', [3, 4, 6, 3], 'basic', 21_284_672, 21_797_672);
export const resnet50 = resnet('resnet50', [3, 4, 6, 3], 'bottleneck', 23_508_032, 25_557_032);

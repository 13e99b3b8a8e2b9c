// EfficientNet-B0. exp follows timm's efficientnet_b0 names (conv_stem, bn1, blocks.S.J.conv_pw /
// bn1 / conv_dw / bn2 / se.conv_reduce / se.conv_expand / conv_pwl / bn3, conv_head, bn2,
// classifier). torchvision's efficientnet_b0 has the same architecture (and BatchNorm eps 1e-5)
// under other names, mapped here:
//   features.0.{0,1}                 -> conv_stem, bn1
//   features.S.J.block.K.{0,1}       -> blocks.(S-1).J.<conv>, <bn> (K-th conv of the block)
//   features.S.J.block.K.fc{1,2}     -> blocks.(S-1).J.se.conv_reduce / conv_expand
//   features.8.{0,1}                 -> conv_head, bn2;  classifier.1 -> classifier
// Stage 1 blocks (expand ratio 1) are [dw, se, project]; the others [expand, dw, se, project].
import type { WeightNames } from './weight-names.ts';

const CONV_BN: Record<string, [string, string][]> = {
  // per block kind: K -> [conv name, bn name]
  dw: [['conv_dw', 'bn1'], ['', ''], ['conv_pw', 'bn2']],
  mb: [['conv_pw', 'bn1'], ['conv_dw', 'bn2'], ['', ''], ['conv_pwl', 'bn3']],
};

function fromTorchvision(m: string): string {
  if (m === 'features.0.0') return 'conv_stem';
  if (m === 'features.0.1') return 'bn1';
  if (m === 'features.8.0') return 'conv_head';
  if (m === 'features.8.1') return 'bn2';
  if (m === 'classifier.1') return 'classifier';
  const r = /^features\.(\d)\.(\d+)\.block\.(\d)\.(0|1|fc1|fc2)$/.exec(m);
  if (!r) return m;
  const [, s, j, k, part] = r;
  const p = `blocks.${Number(s) - 1}.${j}`;
  if (part === 'fc1') return `${p}.se.conv_reduce`;
  if (part === 'fc2') return `${p}.se.conv_expand`;
  const pair = CONV_BN[s === '1' ? 'dw' : 'mb'][Number(k)];
  if (!pair || !pair[0]) return m;
  return `${p}.${part === '0' ? pair[0] : pair[1]}`;
}

export const efficientnetWeights: WeightNames = {
  reference: 'timm efficientnet_b0 (also torchvision.models.efficientnet_b0)',
  head: ['classifier', 'classifier.1'],
  headLayer: 'classifier',
  toLayer: (m) => (m.startsWith('features.') || m === 'classifier.1' ? fromTorchvision(m) : m),
};

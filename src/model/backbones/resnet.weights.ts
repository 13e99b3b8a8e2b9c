// torchvision resnet18/34/50: exp's layers carry torchvision's module names (conv1, bn1,
// layer1.0.conv1, layer1.0.downsample.0, ...), so only the classifier `fc` is declared.
import type { WeightNames } from './weight-names.ts';

export const resnetWeights = (name: string): WeightNames => ({
  reference: `torchvision.models.${name}`,
  head: ['fc'],
  headLayer: 'fc',
});

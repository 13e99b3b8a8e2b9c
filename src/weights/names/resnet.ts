// torchvision resnet18/34/50: exp's layers carry torchvision's module names (conv1, bn1,
// layer1.0.conv1, layer1.0.downsample.0, ...), so only the classifier `fc` is declared.
import type { NameTable } from './types.ts';

export const resnetNames = (name: string): NameTable => ({
  reference: `torchvision.models.${name}`,
  head: ['fc'],
  headLayer: 'fc',
});

// torchvision mobilenet_v2: features.0.0 (conv), features.0.1 (bn), features.N.conv.M..., as exp.
// The classifier is Sequential(Dropout, Linear): `classifier.1`.
import type { WeightNames } from './weight-names.ts';

export const mobilenetV2Weights: WeightNames = {
  reference: 'torchvision.models.mobilenet_v2',
  head: ['classifier.1'],
  headLayer: 'classifier.1',
};

// pretrainedmodels (Cadene) se_resnext50_32x4d: layer0.conv1/bn1, layerN.M.conv1..3, bn1..3,
// se_module.fc1/fc2 (1x1 convs with bias), downsample.0/1, classifier `last_linear`; exp uses
// the same names. timm's port (`seresnext50_32x4d`) names the stem conv1/bn1 and the SE
// se.fc1/fc2: mapped too, so its weights import; note that timm's stem max pool pads by 1 where
// pretrainedmodels uses ceil_mode, so border activations differ slightly from timm's own model.
import type { WeightNames } from './weight-names.ts';

export const seResnextWeights: WeightNames = {
  reference: 'pretrainedmodels.se_resnext50_32x4d (also timm seresnext50_32x4d)',
  head: ['last_linear', 'fc'],
  headLayer: 'last_linear',
  toLayer(m) {
    if (m === 'conv1' || m === 'bn1') return `layer0.${m}`;
    if (m === 'fc') return 'last_linear';
    return m.replace(/^(layer\d+\.\d+)\.se\.(fc[12])$/, '$1.se_module.$2');
  },
};

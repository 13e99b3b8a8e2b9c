// tiny is exp's own: a checkpoint of it uses exp's layer names (block0.conv, block0.bn, ...), and
// it has no reference classifier.
import type { WeightNames } from './weight-names.ts';

export const tinyWeights: WeightNames = { reference: 'exp tiny (its own layer names)', head: [], headLayer: 'fc' };

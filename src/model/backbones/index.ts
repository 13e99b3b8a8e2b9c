// The backbone registry: every backbone exp can build, by name, with the table that maps its
// reference PyTorch checkpoints onto its layers (<name>.weights.ts). Tests iterate over it, so a
// backbone added here is built, counted against its reference, trained one step and imported
// from a checkpoint in its reference naming by them; `npm run gen` puts its name in the schema.
import { Registry } from '../../registry.ts';
import type { tf } from '../tf.ts';
import type { Backbone } from './types.ts';
import type { WeightNames } from './weight-names.ts';
import { tiny } from './tiny.ts';
import { tinyWeights } from './tiny.weights.ts';
import { resnet18, resnet34, resnet50 } from './resnet.ts';
import { resnetWeights } from './resnet.weights.ts';
import { seResnext50 } from './se-resnext.ts';
import { seResnextWeights } from './se-resnext.weights.ts';
import { efficientnetB0 } from './efficientnet.ts';
import { efficientnetWeights } from './efficientnet.weights.ts';
import { mobilenetV2 } from './mobilenet-v2.ts';
import { mobilenetV2Weights } from './mobilenet-v2.weights.ts';
import '../layers/index.ts'; // registers the custom layer classes

export type { Backbone, BackboneOpts } from './types.ts';
export type { WeightNames } from './weight-names.ts';

/** A backbone as registered: its builder and its weight-name table. */
export interface RegisteredBackbone extends Backbone {
  weightNames: WeightNames;
}

export const backbones = new Registry<RegisteredBackbone>('backbone');
const register = (b: Backbone, weightNames: WeightNames): void => {
  backbones.register(b.name, b.description, { ...b, weightNames });
};
register(tiny, tinyWeights);
register(resnet18, resnetWeights('resnet18'));
register(resnet34, resnetWeights('resnet34'));
register(resnet50, resnetWeights('resnet50'));
register(seResnext50, seResnextWeights);
register(efficientnetB0, efficientnetWeights);
register(mobilenetV2, mobilenetV2Weights);

/**
 * Parameters as PyTorch counts them (`parameters()`): every weight except batch-norm moving
 * statistics, which PyTorch keeps as buffers. Independent of which layers are frozen.
 */
export function countParameters(model: tf.LayersModel): number {
  let n = 0;
  for (const w of model.weights) {
    if (/\/moving_(mean|variance)(_\d+)?$/.test(w.name)) continue;
    n += w.shape.reduce((a: number, d) => a * (d ?? 1), 1);
  }
  return n;
}

// The backbone registry: every backbone exp can build, by name. Tests iterate over it, so a
// backbone added here is built, counted against its reference and trained one step by them.
import { Registry } from '../../registry.ts';
import type { tf } from '../tf.ts';
import type { Backbone } from './types.ts';
import { tiny } from './tiny.ts';
import { resnet18, resnet34, resnet50 } from './resnet.ts';
import { seResnext50 } from './se_resnext.ts';
import { efficientnetB0 } from './efficientnet.ts';
import { mobilenetV2 } from './mobilenet_v2.ts';
import '../layers/index.ts'; // registers the custom layer classes

export type { Backbone, BackboneOpts } from './types.ts';

export const backbones = new Registry<Backbone>('backbone');
for (const b of [tiny, resnet18, resnet34, resnet50, seResnext50, efficientnetB0, mobilenetV2]) {
  backbones.register(b.name, b.description, b);
}

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

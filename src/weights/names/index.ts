// One name table per registered backbone (see types.ts). A backbone without a table here
// cannot be imported; the registry's own `torchNames` (exp layer -> torch module) is applied too.
import { UserError } from '../../errors.ts';
import type { NameTable } from './types.ts';
import { resnetNames } from './resnet.ts';
import { mobilenetV2Names } from './mobilenet_v2.ts';
import { seResnextNames } from './se_resnext.ts';
import { efficientnetNames } from './efficientnet.ts';

export type { NameTable } from './types.ts';

export const NAME_TABLES: Record<string, NameTable> = {
  // tiny is exp's own: a checkpoint of it uses exp's layer names (block0.conv, block0.bn, ...)
  tiny: { reference: 'exp tiny (its own layer names)', head: [], headLayer: 'fc' },
  resnet18: resnetNames('resnet18'),
  resnet34: resnetNames('resnet34'),
  resnet50: resnetNames('resnet50'),
  se_resnext50_32x4d: seResnextNames,
  efficientnet_b0: efficientnetNames,
  mobilenet_v2: mobilenetV2Names,
};

export function nameTable(backbone: string): NameTable {
  const t = NAME_TABLES[backbone];
  if (!t) {
    throw new UserError(`backbone '${backbone}' has no PyTorch name table, so its weights cannot be imported. `
      + `Importable: ${Object.keys(NAME_TABLES).join(', ')}`);
  }
  return t;
}

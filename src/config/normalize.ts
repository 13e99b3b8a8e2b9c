// The one documented step between YAML and ajv. ajv applies `default`s only where a schema has a
// single shape (it ignores defaults inside oneOf/anyOf, ajv issue #2375), so the schema gives
// every section one object shape and the shorthands users like are rewritten here first:
//
//   augment.color_jitter, augment.random_resized_crop, train.ema, decode.hierarchical:
//       true | false          -> { enabled: true | false }
//   loss.class_balance:  none | false -> { enabled: false };  true -> { enabled: true }
//
// and two implied values are filled in from what the file says (not from defaults):
//   data.val.path given, data.val.fraction not written   -> fraction: null
//   random_resized_crop enabled, augment.random_crop not written -> random_crop: false
import { isMap } from './source.ts';

const ENABLE_SHORTHANDS: ReadonlyArray<readonly [string, string]> = [
  ['augment', 'color_jitter'],
  ['augment', 'random_resized_crop'],
  ['train', 'ema'],
  ['decode', 'hierarchical'],
  ['loss', 'class_balance'],
];

/** Rewrites shorthands in place. Idempotent, so it runs on each layer and again after overrides. */
export function expandShorthands(config: unknown): void {
  if (!isMap(config)) return;
  for (const [section, key] of ENABLE_SHORTHANDS) {
    const parent = config[section];
    if (!isMap(parent) || !(key in parent)) continue;
    const v = parent[key];
    if (typeof v === 'boolean') parent[key] = { enabled: v };
    else if (key === 'class_balance' && v === 'none') parent[key] = { enabled: false };
  }
}

/** Fills values implied by other keys that were written. Runs once, on the merged config. */
export function fillImplied(config: unknown): void {
  if (!isMap(config)) return;
  const data = config.data;
  if (isMap(data) && isMap(data.val) && typeof data.val.path === 'string' && !('fraction' in data.val)) {
    data.val.fraction = null;
  }
  const augment = config.augment;
  if (isMap(augment) && isMap(augment.random_resized_crop) && augment.random_resized_crop.enabled === true && !('random_crop' in augment)) {
    augment.random_crop = false;
  }
}

// The one documented step between YAML and ajv. ajv applies `default`s only where a schema has a
// single shape (it ignores defaults inside oneOf/anyOf, ajv issue #2375), so every section of the
// schema is one object shape, and the shorthands users like are rewritten here first, as the
// schema's `x-shorthand` tables say (the shipped schema accepts exactly these values, so an editor
// and exp agree):
//
//   augment.color_jitter, augment.random_resized_crop, train.ema, decode.hierarchical:
//       true | false          -> { enabled: true | false }
//   loss.class_balance:  none | false -> { enabled: false };  true -> { enabled: true }
//
// and two implied values are filled in from what the file says (not from defaults):
//   data.val.path given, data.val.fraction not written   -> fraction: null
//   random_resized_crop enabled, augment.random_crop not written -> random_crop: false
import { isMap } from './source.ts';
import { shorthands } from './schema.ts';

/** Rewrites shorthands in place. Idempotent, so it runs on each layer and again after overrides. */
export function expandShorthands(config: unknown): void {
  for (const { path, table } of shorthands()) {
    let parent: unknown = config;
    for (const seg of path.slice(0, -1)) parent = isMap(parent) ? parent[seg] : undefined;
    const key = path[path.length - 1];
    if (!isMap(parent) || !(key in parent)) continue;
    const value = parent[key];
    const hit = table.find((s) => s.value === value);
    if (hit) parent[key] = structuredClone(hit.means);
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

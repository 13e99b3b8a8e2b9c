// The experiment schema (schemas/experiment.schema.json, the one source of truth for the config
// shape) and a small walker over it: which keys exist at a path (for "did you mean", --set and
// sweep grid keys) and the schema's key order (so resolved configs print in a stable order).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export type Seg = string | number;
export type SchemaNode = {
  type?: string | string[];
  properties?: Record<string, SchemaNode>;
  additionalProperties?: boolean | SchemaNode;
  items?: SchemaNode;
  $ref?: string;
  $defs?: Record<string, SchemaNode>;
  default?: unknown;
  description?: string;
  enum?: unknown[];
  required?: string[];
  [k: string]: unknown;
};

export const SCHEMA_PATH = fileURLToPath(new URL('../../schemas/experiment.schema.json', import.meta.url));

let cached: SchemaNode | undefined;
export function experimentSchema(): SchemaNode {
  cached ??= JSON.parse(readFileSync(SCHEMA_PATH, 'utf8')) as SchemaNode;
  return cached;
}

/** Follows a local "#/$defs/name" reference (the only kind the schema uses). */
export function deref(node: SchemaNode, root: SchemaNode = experimentSchema()): SchemaNode {
  if (!node.$ref) return node;
  const name = node.$ref.replace(/^#\/\$defs\//, '');
  const target = root.$defs?.[name];
  if (!target) throw new Error(`schema: unresolved $ref ${node.$ref}`);
  return target;
}

/** The schema of one child segment, or undefined when the schema does not allow it. */
export function childSchema(node: SchemaNode, seg: Seg, root = experimentSchema()): SchemaNode | undefined {
  const n = deref(node, root);
  const key = String(seg);
  if (n.properties && Object.hasOwn(n.properties, key)) return n.properties[key];
  if (n.items && /^\d+$/.test(key)) return n.items;
  if (typeof n.additionalProperties === 'object') return n.additionalProperties;
  return undefined;
}

export function schemaAt(path: readonly Seg[], root = experimentSchema()): SchemaNode | undefined {
  let node: SchemaNode | undefined = root;
  for (const seg of path) {
    if (!node) return undefined;
    node = childSchema(node, seg, root);
  }
  return node;
}

/** Named keys allowed in the map at a path (empty where any key goes, e.g. loss.weights). */
export function allowedKeys(node: SchemaNode, root = experimentSchema()): string[] {
  return Object.keys(deref(node, root).properties ?? {});
}

export type KeyCheck = { ok: true } | { ok: false; index: number; allowed: string[] };

/** Checks that every segment of a dotted key names something the schema allows. */
export function checkKeyPath(path: readonly Seg[], root = experimentSchema()): KeyCheck {
  let node: SchemaNode = root;
  for (let i = 0; i < path.length; i++) {
    const next = childSchema(node, path[i], root);
    if (!next) return { ok: false, index: i, allowed: allowedKeys(node, root) };
    node = next;
  }
  return { ok: true };
}

/** Every dotted key of the schema's named properties (maps inside lists are not descended). */
export function configKeys(root = experimentSchema()): string[] {
  const out: string[] = [];
  const walk = (node: SchemaNode, prefix: string): void => {
    for (const [k, child] of Object.entries(deref(node, root).properties ?? {})) {
      const key = prefix ? `${prefix}.${k}` : k;
      out.push(key);
      walk(child, key);
    }
  };
  walk(root, '');
  return out;
}

/** A copy with map keys in schema order (unknown keys last), so config.yaml reads like the docs. */
export function orderBySchema(value: unknown, node: SchemaNode | undefined = experimentSchema(), root = experimentSchema()): unknown {
  if (Array.isArray(value)) {
    const items = node ? deref(node, root).items : undefined;
    return value.map((v) => orderBySchema(v, items, root));
  }
  if (value === null || typeof value !== 'object') return value;
  const obj = value as Record<string, unknown>;
  const props = node ? deref(node, root).properties ?? {} : {};
  const keys = [...Object.keys(props).filter((k) => k in obj), ...Object.keys(obj).filter((k) => !(k in props))];
  const out: Record<string, unknown> = {};
  for (const k of keys) out[k] = orderBySchema(obj[k], node ? childSchema(node, k, root) : undefined, root);
  return out;
}

// The experiment schema (schemas/experiment.schema.json, the one source of truth for the config
// shape) and a small walker over it: which keys exist at a path (for "did you mean", --set and
// sweep grid keys) and the schema's key order (so resolved configs print in a stable order).
//
// The shipped schema describes a file as written, which is what an editor checks: a map may
// also be written as a shorthand (`color_jitter: true`, listed under `x-shorthand`), and a file
// with `extends` needs no required key (its parents give them). `resolvedSchema()` derives the
// schema of the config after loading (shorthands expanded, `extends` merged and consumed): ajv
// validates against it and the TypeScript types are generated from it.
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
  /** The values a map may also be written as, and the map each stands for (see normalize.ts). */
  'x-shorthand'?: Shorthand[];
  /** The registry (by kind) whose names `enum` lists; `npm run gen` writes the enum. */
  'x-registry'?: string;
  [k: string]: unknown;
};

export interface Shorthand {
  value: unknown;
  means: Record<string, unknown>;
}

/** Keywords of the schema that are not JSON Schema's: annotations for exp and editors
 *  (`enumDescriptions` and `patternErrorMessage` are the YAML language server's). */
export const ANNOTATIONS = ['x-shorthand', 'x-registry', 'enumDescriptions', 'patternErrorMessage'] as const;

export const SCHEMA_PATH = fileURLToPath(new URL('../../schemas/experiment.schema.json', import.meta.url));

let cached: SchemaNode | undefined;
export function experimentSchema(): SchemaNode {
  cached ??= JSON.parse(readFileSync(SCHEMA_PATH, 'utf8')) as SchemaNode;
  return cached;
}

let resolved: SchemaNode | undefined;
/** The schema of the loaded config: every `x-shorthand` map takes only the map form, and the
 *  required keys apply unconditionally (the root's `else` branch, taken when there is no `extends`). */
export function resolvedSchema(root: SchemaNode = experimentSchema()): SchemaNode {
  if (root === cached && resolved) return resolved;
  const out = structuredClone(root);
  const walk = (node: SchemaNode): void => {
    if (node['x-shorthand']) {
      node.type = 'object';
      delete node.if;
      delete node.then;
    }
    for (const child of Object.values(node.properties ?? {})) walk(child);
    if (node.items) walk(node.items);
    if (typeof node.additionalProperties === 'object') walk(node.additionalProperties);
    for (const def of Object.values(node.$defs ?? {})) walk(def);
  };
  walk(out);
  const otherwise = out.else as SchemaNode | undefined;
  if (otherwise) {
    out.required = otherwise.required;
    for (const [k, p] of Object.entries(otherwise.properties ?? {})) {
      if (p.required) out.properties![k].required = p.required;
    }
    delete out.if;
    delete out.else;
  }
  if (root === cached) resolved = out;
  return out;
}

/** Every map the shipped schema lets a file write as a shorthand, by config path. */
export function shorthands(root: SchemaNode = experimentSchema()): Array<{ path: string[]; table: Shorthand[] }> {
  const out: Array<{ path: string[]; table: Shorthand[] }> = [];
  const walk = (node: SchemaNode, path: string[]): void => {
    for (const [k, child] of Object.entries(node.properties ?? {})) {
      if (child['x-shorthand']) out.push({ path: [...path, k], table: child['x-shorthand'] });
      walk(child, [...path, k]);
    }
  };
  walk(root, []);
  return out;
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

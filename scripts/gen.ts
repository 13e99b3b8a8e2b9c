// Generates, from schemas/experiment.schema.json (the one source of truth for the config shape)
// and the registries in src/ (the one source of names for pluggable kinds):
//   schemas/experiment.schema.json  in place: the `enum` and `enumDescriptions` of every node with
//                                   `x-registry` (that registry's names and descriptions) and every
//                                   `title` (the key path, the heading of an editor's hover)
//   src/config/types.gen.ts         `ExperimentConfig`, the fully defaulted config (json-schema-to-typescript)
//   src/registry-names.gen.ts       every registry's names, for code that must not load the registries
//   docs/experiment.md              the reference page: every key with type, default, allowed values, description
// and, from schemas/run/*.schema.json, src/runs/validators.gen.ts (scripts/gen-validators.ts),
// and, from native/params.json, the addon's parameter layouts native/params.gen.h and
// src/model/kernels/params.gen.ts (scripts/gen-params.ts).
// `npm run gen` writes them; `npm run gen -- --check` exits 1 when any is stale. The tests
// test/config/schema.test.ts, test/runs/validators.test.ts and test/model/native-params.test.ts
// regenerate them in memory and compare.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { compile } from 'json-schema-to-typescript';
import type { Registry } from '../src/registry.ts';
import { resolvedSchema, ANNOTATIONS } from '../src/config/schema.ts';
import { renderRunValidators, RUN_VALIDATORS_FILE } from './gen-validators.ts';
import { renderParams } from './gen-params.ts';

type Node = Record<string, any>;

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const SCHEMA_FILE = `${ROOT}schemas/experiment.schema.json`;
export const TYPES_FILE = `${ROOT}src/config/types.gen.ts`;
export const DOCS_FILE = `${ROOT}docs/experiment.md`;
export const NAMES_FILE = `${ROOT}src/registry-names.gen.ts`;

/**
 * Every registry in src/, keyed by its kind (what `x-registry` names). test/registry.test.ts
 * checks that each `new Registry` in src/ is listed here. Imported lazily: they load tfjs and sharp.
 */
export async function loadRegistries(): Promise<Map<string, Registry<unknown>>> {
  const list: Registry<unknown>[] = [
    (await import('../src/model/backbones/index.ts')).backbones,
    (await import('../src/model/losses.ts')).losses,
    (await import('../src/model/optimizers.ts')).optimizers,
    (await import('../src/model/schedules.ts')).schedules,
    (await import('../src/model/backend.ts')).backends,
    (await import('../src/train/sampler.ts')).samplers,
    (await import('../src/data/formats/index.ts')).formats,
    (await import('../src/runs/sweep/launchers.ts')).launchers,
  ] as Registry<unknown>[];
  return new Map(list.map((r) => [r.kind, r]));
}

export function readSchema(): Node {
  return JSON.parse(readFileSync(SCHEMA_FILE, 'utf8')) as Node;
}

/** `node` with `key` first (titles lead, so the file reads like the hover). */
function withFirst(node: Node, key: string, value: unknown): Node {
  const { [key]: _, ...rest } = node;
  return { [key]: value, ...rest };
}

/**
 * A key's title: its path and type, e.g. "train.epochs (integer)". Editors head hovers with it,
 * and the YAML language server names a map by it in "Incorrect type. Expected ..." messages.
 */
function titleOf(path: string, node: Node): string {
  const short = node['x-shorthand'] as Node[] | undefined;
  const type = node.$ref ? 'map' : short ? `map or ${short.map((h) => String(h.value)).join('/')}` : typeOf(node, {});
  return `${path} (${type})`;
}

/** The schema with registry enums and key-path titles filled in (the rest as written). */
export function fillSchema(schema: Node, registries: Map<string, Registry<unknown>>): Node {
  const fill = (node: Node, path: string): Node => {
    let out: Node = { ...node };
    const kind = node['x-registry'];
    if (kind !== undefined) {
      const r = registries.get(kind);
      if (!r) throw new Error(`schema ${path}: x-registry '${kind}' is not a registry (known: ${[...registries.keys()].join(', ')})`);
      const entries = r.list();
      if ('default' in node && !r.has(node.default)) throw new Error(`schema ${path}: default '${node.default}' is not a registered ${kind}`);
      const rebuilt: Node = {};
      for (const [k, v] of Object.entries(out)) {
        if (k === 'enum' || k === 'enumDescriptions') continue;
        rebuilt[k] = v;
        if (k === 'x-registry') {
          rebuilt.enum = entries.map((e) => e.name);
          rebuilt.enumDescriptions = entries.map((e) => e.description);
        }
      }
      out = rebuilt;
    }
    if (out.properties) {
      out.properties = Object.fromEntries(Object.entries(out.properties as Record<string, Node>).map(([k, p]) => {
        const key = path ? `${path}.${k}` : k;
        return [k, withFirst(fill(p, key), 'title', titleOf(key, p))];
      }));
    }
    if (out.items) out.items = fill(out.items, `${path}[]`);
    if (typeof out.additionalProperties === 'object') out.additionalProperties = fill(out.additionalProperties, `${path}.*`);
    return out;
  };
  const out = fill(schema, '');
  if (out.$defs) {
    out.$defs = Object.fromEntries(Object.entries(out.$defs as Record<string, Node>).map(([k, d]) => [k, withFirst(fill(d, k), 'title', titleOf(k, d))]));
  }
  return out;
}

export const schemaText = (schema: Node): string => `${JSON.stringify(schema, null, 2)}\n`;

/** Drops what only editors and exp read (titles, annotations): the types need none of it. */
function typeSchema(node: Node): Node {
  if (Array.isArray(node)) return node.map(typeSchema);
  if (node === null || typeof node !== 'object') return node;
  const out: Node = {};
  for (const [k, v] of Object.entries(node)) {
    // ($id too: json-schema-to-typescript would name the root type after it)
    if (k === 'title' || k === '$id' || (ANNOTATIONS as readonly string[]).includes(k)) continue;
    out[k] = k === 'default' || k === 'enum' ? v : typeSchema(v as Node);
  }
  return out;
}

/** After validation every key with a default is present, so the type makes those keys required. */
function requireDefaulted(node: Node): Node {
  if (Array.isArray(node)) return node.map(requireDefaulted);
  if (node === null || typeof node !== 'object') return node;
  const out: Node = {};
  for (const [k, v] of Object.entries(node)) {
    // `default` values and `enum` lists are data, not schemas.
    out[k] = k === 'default' || k === 'enum' ? v : requireDefaulted(v as Node);
  }
  if (out.properties && typeof out.properties === 'object') {
    const withDefault = Object.entries(out.properties as Record<string, Node>).filter(([, p]) => 'default' in p).map(([k]) => k);
    out.required = [...new Set([...(out.required ?? []), ...withDefault])];
  }
  return out;
}

export async function renderTypes(schema: Node): Promise<string> {
  return compile(requireDefaulted(typeSchema(resolvedSchema(schema))) as any, 'ExperimentConfig', {
    bannerComment:
      '// Generated by scripts/gen.ts from schemas/experiment.schema.json: do not edit, run `npm run gen`.\n' +
      '// ExperimentConfig is the config after validation, with every default applied (shorthands expanded).',
    additionalProperties: false,
    format: true,
    style: { singleQuote: true, printWidth: 110 },
    cwd: `${ROOT}schemas`,
  });
}

const esc = (s: string): string => s.replace(/\|/g, '\\|').replace(/</g, '&lt;').replace(/\n/g, ' ');
const code = (v: unknown): string => '`' + JSON.stringify(v).replace(/,/g, ', ').replace(/:/g, ': ') + '`';

function typeOf(n: Node, schema: Node): string {
  if (n.$ref) return `map (${String(n.$ref).replace('#/$defs/', '')})`;
  const types: string[] = Array.isArray(n.type) ? n.type : n.type ? [n.type] : [];
  return types
    .map((t) => {
      if (t === 'array') return `list of ${n.items ? typeOf(n.items, schema) : 'values'}`;
      if (t === 'object') return n.properties ? 'map' : typeof n.additionalProperties === 'object' ? `map of ${typeOf(n.additionalProperties, schema)}` : 'map';
      return t;
    })
    .join(' or ');
}

function allowed(n: Node): string {
  const parts: string[] = [];
  if (n.enum) parts.push(n.enum.map((v: unknown) => `\`${String(v)}\``).join(', '));
  if (n['x-shorthand']) parts.push(`a map, or the shorthand ${n['x-shorthand'].map((h: Node) => `\`${String(h.value)}\``).join(', ')}`);
  else if (n.then?.enum) parts.push(n.then.enum.map((v: unknown) => `\`${String(v)}\``).join(', ') + ' or a map');
  if ('minimum' in n) parts.push(`>= ${n.minimum}`);
  if ('exclusiveMinimum' in n) parts.push(`> ${n.exclusiveMinimum}`);
  if ('maximum' in n) parts.push(`<= ${n.maximum}`);
  if ('exclusiveMaximum' in n) parts.push(`< ${n.exclusiveMaximum}`);
  if (n.pattern) parts.push(`matches \`${n.pattern}\``);
  if (n.minItems !== undefined && n.minItems === n.maxItems) parts.push(`exactly ${n.minItems} items`);
  else {
    if (n.minItems !== undefined) parts.push(`at least ${n.minItems} item${n.minItems === 1 ? '' : 's'}`);
    if (n.maxItems !== undefined) parts.push(`at most ${n.maxItems} items`);
  }
  if (n.uniqueItems) parts.push('no duplicates');
  const item = n.items && !n.items.$ref ? allowed(n.items) : '';
  if (item) parts.push(`each ${item}`);
  const value = typeof n.additionalProperties === 'object' ? allowed(n.additionalProperties) : '';
  if (value) parts.push(`each value ${value}`);
  return parts.join('; ');
}

function rows(node: Node, prefix: string, schema: Node, required: string[], out: string[]): void {
  for (const [k, p] of Object.entries((node.properties ?? {}) as Record<string, Node>)) {
    const key = prefix ? `${prefix}.${k}` : k;
    const def = 'default' in p ? code(p.default) : required.includes(k) ? '**required**' : '';
    const description = p.$ref ? schema.$defs[String(p.$ref).replace('#/$defs/', '')].description : p.description;
    out.push(`| \`${key}\` | ${esc(typeOf(p, schema))} | ${def} | ${esc(allowed(p))} | ${esc(description ?? '')} |`);
    if (p.properties) rows(p, key, schema, p.required ?? [], out);
    if (p.items?.properties) rows(p.items, `${key}[]`, schema, p.items.required ?? [], out);
  }
}

const HEADER = '| key | type | default | allowed | description |\n|---|---|---|---|---|';

/** The reference page, from the filled schema (as resolved: required keys and map shapes after loading). */
export function renderDocs(filled: Node): string {
  const schema = resolvedSchema(filled) as Node;
  const out: string[] = [
    '<!-- Generated by scripts/gen.ts from schemas/experiment.schema.json and the registries in src/: do not edit, run `npm run gen`. -->',
    '# The experiment file',
    '',
    esc(schema.description),
    '',
    '## Conventions',
    '',
    '- Start every experiment with the schema comment, so editors with the YAML language server',
    '  (VS Code\'s YAML extension, and others) show these descriptions, complete keys and flag',
    '  mistakes as you type. The path is relative to the experiment file:',
    '',
    '  ```yaml',
    '  # yaml-language-server: $schema=../schemas/experiment.schema.json',
    '  name: my-experiment',
    '  data: { format: folders, train: ../data/sample/train }',
    '  ```',
    '',
    '  (`../../schemas/experiment.schema.json` one folder deeper, e.g. in `experiments/ablations/`.)',
    '  The editor checks each file on its own against the schema, at the line:column `exp validate`',
    '  reports; what needs more than one key or file (milestones increasing, `size` <= `resize`,',
    '  level names in weights, exclusive keys, the merged `extends` chain) only `exp validate` checks.',
    '- Required: `name`, `data.format`, `data.train`; every other key has the default below.',
    '  `exp validate FILE...` reports every problem at once as `file:line:col  path  message`.',
    '- `extends: parent.yaml` (relative to the file) loads the parent first; chains may be any depth.',
    '  Maps merge key by key; lists and scalars replace. Cycles are an error. A file with `extends`',
    '  needs none of the required keys itself (the editor does not ask for them); the merged config does.',
    '- Override order, last wins: the `extends` chain (root first), the file itself, the point of a',
    '  `sweep:` block, `--sweep key=v1,v2`, `--set key=value`. `--set` values are read as YAML',
    '  (`--set train.epochs=3` is a number, `--set augment.color_jitter=false` a boolean).',
    '- Paths (`data.train`, `data.test`, `data.val.path`, `model.backbone.weights`) are relative to the',
    '  file that sets them (to the working directory when set with `--set`/`--sweep`). The resolved',
    '  config holds absolute paths; the run record keeps the file as written. A path that does not',
    '  exist is a warning for `exp validate` and an error for `exp run`.',
    '- Shorthands, rewritten before validation so defaults still apply: `color_jitter`,',
    '  `random_resized_crop`, `ema`, `hierarchical`: `true`/`false` mean `{ enabled: true/false }`;',
    '  `loss.class_balance: none` (or `false`) means `{ enabled: false }`. Writing `data.val.path`',
    '  without `fraction` sets `fraction: null`; enabling `random_resized_crop` without writing',
    '  `random_crop` sets `random_crop: false`. The schema accepts exactly these shorthands (its',
    '  `x-shorthand` lists), so an editor checks them as `exp validate` does.',
    '- Names of pluggable kinds (backbones, losses, optimizers, schedules, samplers, dataset formats) are',
    '  the names registered in the code; the last section lists them with their descriptions.',
    '',
  ];
  const required: string[] = schema.required ?? [];
  const top: string[] = [];
  const sections: Array<[string, Node]> = [];
  for (const [k, p] of Object.entries(schema.properties as Record<string, Node>)) {
    if (p.properties) sections.push([k, p]);
    else top.push(k);
  }
  out.push('## Top level', '', HEADER);
  rows({ properties: Object.fromEntries(top.map((k) => [k, schema.properties[k]])) }, '', schema, required, out);
  for (const [k, p] of sections) {
    out.push('', `## ${k}`, '', esc(p.description ?? ''), '', HEADER);
    rows({ properties: { [k]: p } }, '', schema, required, out);
  }
  for (const [k, d] of Object.entries((schema.$defs ?? {}) as Record<string, Node>)) {
    out.push('', `## ${k}`, '', esc(d.description ?? ''), '', HEADER);
    rows(d, '', schema, d.required ?? [], out);
  }
  out.push('', '## Registered names', '', 'Generated from the registries in the code: the values of each key below, with what they are.');
  const byKind = new Map<string, { keys: string[]; node: Node }>();
  const collect = (node: Node, path: string): void => {
    if (node['x-registry']) {
      const e = byKind.get(node['x-registry']) ?? { keys: [], node };
      e.keys.push(path);
      byKind.set(node['x-registry'], e);
    }
    for (const [k, p] of Object.entries((node.properties ?? {}) as Record<string, Node>)) collect(p, path ? `${path}.${k}` : k);
    if (node.items) collect(node.items, `${path}[]`);
  };
  collect(schema, '');
  for (const [k, d] of Object.entries((schema.$defs ?? {}) as Record<string, Node>)) collect(d, k);
  for (const [kind, { keys, node }] of byKind) {
    out.push('', `### ${kind}`, '', `For ${keys.map((k) => `\`${k}\``).join(', ')}.`, '', '| name | description |', '|---|---|');
    node.enum.forEach((name: string, i: number) => out.push(`| \`${name}\` | ${esc(node.enumDescriptions[i])} |`));
  }
  return out.join('\n') + '\n';
}

/** src/registry-names.gen.ts: the names of every registry, as data and as string-literal types. */
export function renderNames(registries: Map<string, Registry<unknown>>): string {
  const ident = (kind: string): string => kind.replace(/ (\w)/g, (_, c: string) => c.toUpperCase());
  const lines = [
    '// Generated by scripts/gen.ts from the registries in src/: do not edit, run `npm run gen`.',
    '// The names registered in each registry, for code that must know them without loading the',
    '// registries themselves (they import tfjs and sharp); a test keeps hand-written unions equal.',
    '',
    'export const REGISTERED = {',
    ...[...registries].map(([kind, r]) => `  ${/^\w+$/.test(kind) ? kind : `'${kind}'`}: [${r.names().map((n) => `'${n}'`).join(', ')}],`),
    '} as const;',
    '',
    ...[...registries.keys()].map((kind) => {
      const t = ident(kind);
      const type = `Registered${t.charAt(0).toUpperCase()}${t.slice(1)}Name`;
      return `export type ${type} = (typeof REGISTERED)[${`'${kind}'`}][number];`;
    }),
  ];
  return lines.join('\n') + '\n';
}

/** Every generated file and the text it should have. */
export async function renderAll(): Promise<Array<[string, string]>> {
  const registries = await loadRegistries();
  const schema = fillSchema(readSchema(), registries);
  return [
    [SCHEMA_FILE, schemaText(schema)],
    [TYPES_FILE, await renderTypes(schema)],
    [NAMES_FILE, renderNames(registries)],
    [DOCS_FILE, renderDocs(schema)],
  ];
}

async function main(): Promise<void> {
  const check = process.argv.includes('--check');
  const outputs: Array<[string, string]> = [...await renderAll(), [RUN_VALIDATORS_FILE, renderRunValidators()], ...renderParams()];
  let stale = false;
  for (const [file, text] of outputs) {
    let old = '';
    try {
      old = readFileSync(file, 'utf8');
    } catch {
      // a missing file is stale
    }
    if (old === text) continue;
    stale = true;
    if (!check) writeFileSync(file, text);
    process.stdout.write(`${check ? 'stale' : 'wrote'} ${file.slice(ROOT.length)}\n`);
  }
  if (check && stale) process.exit(1);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();

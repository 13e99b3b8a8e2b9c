// The schema is the reference documentation and the source of the types: every key documented
// with a type and (unless required) a default, defaults valid, generated files up to date (the
// registry enums included, so a name registered in src/ but not in the schema fails here).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { experimentSchema, validateConfig } from '../../src/config/index.ts';
import { resolvedSchema } from '../../src/config/schema.ts';
import { newAjv } from '../../src/config/validate.ts';
import { expandShorthands, fillImplied } from '../../src/config/normalize.ts';
import { parseYamlText } from '../../src/config/yaml.ts';
import { renderAll, DOCS_FILE, ROOT } from '../../scripts/gen.ts';

type Node = Record<string, any>;
// Keys that legitimately have no default: required ones are listed in `required`; these are optional.
const NO_DEFAULT = new Set(['description', 'extends']);

test('every key has a description, a type and a default (or is required)', () => {
  const missing: string[] = [];
  const walk = (node: Node, prefix: string): void => {
    for (const [k, p] of Object.entries((node.properties ?? {}) as Record<string, Node>)) {
      const key = prefix ? `${prefix}.${k}` : k;
      const ref = typeof p.$ref === 'string';
      if (!ref && !p.description) missing.push(`${key}: description`);
      if (!ref && !p.type) missing.push(`${key}: type`);
      if (!('default' in p) && !(node.required ?? []).includes(k) && !NO_DEFAULT.has(k)) missing.push(`${key}: default`);
      if (p.properties && p.additionalProperties !== false) missing.push(`${key}: additionalProperties`);
      walk(p, key);
      if (p.items) walk(p.items, `${key}[]`);
    }
  };
  // as loaded (the required keys of a file without `extends`)
  const schema = resolvedSchema() as Node;
  walk(schema, '');
  walk(schema.$defs.optimizer_settings, 'optimizer_settings');
  assert.deepEqual(missing, []);
});

test('the top-level optimizer keys equal the phase/cycle optimizer settings', () => {
  const schema = experimentSchema() as Node;
  const { phases, cycle, ...top } = schema.properties.optimizer.properties;
  assert.ok(phases && cycle);
  // titles are the key paths, so they differ by design
  const untitled = (props: Record<string, Node>) => Object.fromEntries(Object.entries(props).map(([k, { title: _, ...p }]) => [k, p]));
  assert.deepEqual(untitled(top), untitled(schema.$defs.optimizer_settings.properties));
});

test('defaults themselves are valid', () => {
  const r = validateConfig({ name: 'x', data: { format: 'folders', train: 't' } });
  assert.deepEqual([...r.errors, ...r.warnings], []);
});

const generated = renderAll();

test('the schema\'s registry enums and titles, types.gen.ts, registry-names.gen.ts and docs/experiment.md are up to date (npm run gen)', async () => {
  for (const [file, text] of await generated) {
    assert.equal(readFileSync(file, 'utf8'), text, `${file.slice(ROOT.length)} is stale: run npm run gen`);
  }
});

test('the reference page documents every key, the registered names and the $schema comment', async () => {
  const docs = new Map(await generated).get(DOCS_FILE)!;
  assert.match(docs, /# yaml-language-server: \$schema=\.\.\/schemas\/experiment\.schema\.json/);
  for (const key of ['data.val.fraction', 'augment.color_jitter.hue', 'optimizer.phases[].from_epoch', 'optimizer.cycle.every', 'sweep.grid']) {
    assert.ok(docs.includes(`| \`${key}\` |`), key);
  }
  assert.match(docs, /### backbone\n\nFor `model\.backbone\.name`\.\n\n\| name \| description \|\n\|---\|---\|\n\| `tiny` \| four stride-2/);
});

test('the shipped schema applies exp\'s defaults: none sits inside anyOf/oneOf/if/then/else, and ajv on it fills in what exp does', () => {
  const misplaced: string[] = [];
  const walk = (node: unknown, path: string, inside: boolean): void => {
    if (node === null || typeof node !== 'object') return;
    for (const [k, v] of Object.entries(node as Node)) {
      if (k === 'default' || k === 'enum' || k === 'x-shorthand') {
        if (k === 'default' && inside) misplaced.push(path);
        continue;
      }
      walk(v, `${path}/${k}`, inside || ['anyOf', 'oneOf', 'allOf', 'not', 'if', 'then', 'else'].includes(k));
    }
  };
  walk(experimentSchema(), '#', false);
  assert.deepEqual(misplaced, []);

  // (strictRequired off: the shipped schema's `if: { required: [extends] }` names a key of the parent)
  const shipped = newAjv({ strictRequired: false }).compile(experimentSchema());
  const root = fileURLToPath(new URL('../../', import.meta.url));
  const files = ['experiments/quickstart.yaml', 'experiments/focal-hier.yaml',
    ...['adameva', 'focal-hier', 'minimal', 'shorthand', 'chain/root'].map((f) => `test/fixtures/config/valid/${f}.yaml`)];
  for (const f of files) {
    const input = parseYamlText(readFileSync(join(root, f), 'utf8'), { file: f }).layer.value;
    expandShorthands(input);
    fillImplied(input);
    const exp = validateConfig(input).config;
    assert.ok(exp, f);
    const copy = structuredClone(input);
    assert.ok(shipped(copy), `${f}: ${JSON.stringify(shipped.errors)}`);
    assert.deepEqual(copy, exp, f);
  }
});

// The schema is the reference documentation and the source of the types: every key documented
// with a type and (unless required) a default, defaults valid, generated files up to date.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { experimentSchema, validateConfig } from '../../src/config/index.ts';
import { renderTypes, renderDocs, TYPES_FILE, DOCS_FILE } from '../../scripts/gen.ts';

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
  const schema = experimentSchema() as Node;
  walk(schema, '');
  walk(schema.$defs.optimizer_settings, 'optimizer_settings');
  assert.deepEqual(missing, []);
});

test('the top-level optimizer keys equal the phase/cycle optimizer settings', () => {
  const schema = experimentSchema() as Node;
  const { phases, cycle, ...top } = schema.properties.optimizer.properties;
  assert.ok(phases && cycle);
  assert.deepEqual(top, schema.$defs.optimizer_settings.properties);
});

test('defaults themselves are valid', () => {
  const r = validateConfig({ name: 'x', data: { format: 'folders', train: 't' } });
  assert.deepEqual([...r.errors, ...r.warnings], []);
});

test('src/config/types.gen.ts and docs/experiment.md are up to date (npm run gen)', async () => {
  assert.equal(readFileSync(TYPES_FILE, 'utf8'), await renderTypes(), 'types.gen.ts is stale: run npm run gen');
  assert.equal(readFileSync(DOCS_FILE, 'utf8'), renderDocs(), 'docs/experiment.md is stale: run npm run gen');
});

test('the reference page documents every key and the $schema comment', () => {
  const docs = renderDocs();
  assert.match(docs, /# yaml-language-server: \$schema=\.\.\/schemas\/experiment\.schema\.json/);
  for (const key of ['data.val.fraction', 'augment.color_jitter.hue', 'optimizer.phases[].from_epoch', 'optimizer.cycle.every', 'sweep.grid']) {
    assert.ok(docs.includes(`| \`${key}\` |`), key);
  }
});

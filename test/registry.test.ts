// The generic registry, and the rule that registries are the only source of names: every
// Registry in src/ is loaded by `npm run gen` (so its names reach the schema or
// registry-names.gen.ts), has a registry-driven test that iterates over it, and the schema names
// it wherever the experiment file chooses one of its entries.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Registry } from '../src/registry.ts';
import { UserError } from '../src/errors.ts';
import { experimentSchema } from '../src/config/index.ts';
import type { SchemaNode } from '../src/config/schema.ts';
import type { BackendName } from '../src/model/backend.ts';
import type { RegisteredBackendName } from '../src/registry-names.gen.ts';
import { loadRegistries } from '../scripts/gen.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));

/** The registry-driven test of each registry kind: it builds or runs every registered entry. */
const REGISTRY_TESTS: Record<string, string> = {
  backbone: 'test/model/backbones.test.ts',
  loss: 'test/model/loss-registry.test.ts',
  optimizer: 'test/model/optimizer-registry.test.ts',
  schedule: 'test/model/schedule-registry.test.ts',
  backend: 'test/model/backend-registry.test.ts',
  sampler: 'test/train/sampler-registry.test.ts',
  'dataset format': 'test/data/format-registry.test.ts',
  launcher: 'test/runs/sweep/launchers.test.ts',
};
/** Registries whose entry is not chosen in the experiment file, and where it is chosen instead. */
const NOT_IN_THE_FILE: Record<string, string> = {
  backend: 'exp run --backend (command line)',
  launcher: 'how sweeps are run (src/runs/sweep/launchers.ts)',
};

test('registry: names in registration order, a second registration of a name throws, an unknown name suggests and lists', () => {
  const r = new Registry<number>('widget');
  r.register('small', 'a small one', 1);
  r.register('large', 'a large one', 2);
  assert.deepEqual(r.names(), ['small', 'large']);
  assert.deepEqual(r.list()[1], { name: 'large', description: 'a large one', value: 2 });
  assert.throws(() => r.register('small', 'again', 3), /widget 'small' registered twice/);
  assert.throws(() => r.get('smal'), (e: unknown) => e instanceof UserError && e.message === "unknown widget 'smal'; did you mean 'small'? Available: small, large");
  assert.throws(() => r.get('huge'), (e: unknown) => e instanceof UserError && e.message === "unknown widget 'huge'. Available: small, large");
});

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? sources(p) : n.endsWith('.ts') ? [p] : [];
  });
}

test('every Registry in src/ is loaded by npm run gen and has a registry-driven test iterating over it', async () => {
  const found = new Map<string, string>(); // kind -> exported variable name
  for (const f of sources(join(ROOT, 'src'))) {
    for (const m of readFileSync(f, 'utf8').matchAll(/export const (\w+) = new Registry<.*?>\('([^']+)'\)/g)) found.set(m[2], m[1]);
  }
  const loaded = await loadRegistries();
  assert.deepEqual([...found.keys()].sort(), [...loaded.keys()].sort(), 'scripts/gen.ts loadRegistries() lists every registry in src/');
  assert.deepEqual([...found.keys()].sort(), Object.keys(REGISTRY_TESTS).sort(), 'REGISTRY_TESTS names a test for every registry');
  for (const [kind, variable] of found) {
    const text = readFileSync(join(ROOT, REGISTRY_TESTS[kind]), 'utf8');
    assert.match(text, new RegExp(`\\b${variable}\\.(list|names)\\(\\)`), `${REGISTRY_TESTS[kind]} iterates over ${variable}`);
  }
});

test('the schema names a registry wherever the experiment file picks one of its entries', async () => {
  const named = new Set<string>();
  const walk = (node: SchemaNode): void => {
    if (node['x-registry']) named.add(node['x-registry']);
    for (const child of [...Object.values(node.properties ?? {}), ...(node.items ? [node.items] : []), ...Object.values(node.$defs ?? {})]) walk(child);
  };
  walk(experimentSchema());
  const kinds = [...(await loadRegistries()).keys()];
  assert.deepEqual(kinds.filter((k) => !named.has(k) && !(k in NOT_IN_THE_FILE)), []);
  assert.deepEqual([...named].filter((k) => !kinds.includes(k)), []);
});

// Checked by the type checker (npm run typecheck), not at run time: the names BackendName
// (src/model/backend.ts, written by hand) allows are 'auto' plus exactly the registered backends.
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false;
const _backendNamesAreRegistered: Equal<BackendName, 'auto' | RegisteredBackendName> = true;

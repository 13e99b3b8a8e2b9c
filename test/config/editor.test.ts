// The editor experience, with the real yaml-language-server (the npm package VS Code's YAML
// extension and other editors run) driven over LSP: the shipped experiments are checked through
// their own `# yaml-language-server: $schema=...` line, the config fixtures through the
// `yaml.schemas` setting. Valid files show nothing; each invalid one shows what `exp validate`
// reports where a schema can know it (same line:column), and nothing exp accepts is flagged;
// hovers are headed by the key; registry-backed keys complete to the registered names.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SCHEMA_PATH, experimentSchema, loadExperiment, validateConfig } from '../../src/config/index.ts';
import type { SchemaNode } from '../../src/config/schema.ts';
import { backbones } from '../../src/model/backbones/index.ts';
import { loadRegistries } from '../../scripts/gen.ts';
import { YamlLanguageServer, type Diagnostic } from './lsp.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const FIXTURES = join(ROOT, 'test/fixtures/config');

function yamlFiles(dir: string): string[] {
  return readdirSync(dir).sort().flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? yamlFiles(p) : name.endsWith('.yaml') ? [p] : [];
  });
}
const EXPERIMENTS = yamlFiles(join(ROOT, 'experiments'));
const VALID = yamlFiles(join(FIXTURES, 'valid'));
const INVALID = yamlFiles(join(FIXTURES, 'invalid'));

// What the editor shows on each invalid fixture: exactly these, as line:col and the start of the
// message. Files starting with "syntax-": the YAML error at exp's position (the editor then also
// checks its guess of the broken document, as exp deliberately does not).
const EXPECTED: Record<string, string[]> = {
  'bad-backbone.yaml': ['4:21 Value is not accepted. Valid values: "tiny", "resnet18"'],
  'bad-enum.yaml': ['6:9 Value is not accepted. Valid values: "adam", "adamw", "sgd"'],
  'bad-name.yaml': ["1:7 Use lower-case letters, digits, '_', '.' and '-', starting with a letter or digit."],
  'class-balance.yaml': ['5:24 Value is not accepted. Valid values: "none"'],
  'cycle-empty.yaml': ['6:34 Array has too few items. Expected 1 or more.'],
  'duplicate-level.yaml': ['5:11 Array has duplicate items.'],
  'empty-levels.yaml': ['5:11 Array has too few items. Expected 1 or more.'],
  'empty.yaml': ['1:1 Missing property "name".', '1:1 Missing property "data".'],
  'extends-type.yaml': ['1:10 Incorrect type. Expected "string".'],
  'hue.yaml': ['8:10 Value is above the maximum of 0.5.'],
  'many.yaml': [
    '3:11 Value is not accepted. Valid values: "herbarium", "folders".',
    '6:11 Value is below the minimum of 1.',
    '7:15 Value is below the minimum of 1.',
    '7:26 Value is not accepted. Valid values: "logits", "probs".',
  ],
  'missing-name.yaml': ['1:1 Missing property "name".'],
  'missing-required.yaml': ['3:1 Missing property "train".'],
  'misspelt-key.yaml': ['7:3 Property colour_jitter is not allowed.'],
  'negative-lr.yaml': ['5:29 Value is below the exclusive minimum of 0.'],
  'normalize-std.yaml': ['5:44 Array has too few items. Expected 3 or more.'],
  'normalize-string.yaml': ['5:14 Value is not accepted. Valid values: "auto".'],
  'out-of-range.yaml': ['5:20 Value is above the exclusive maximum of 1.'],
  'parent-bad.yaml': ['2:1 Missing property "data".', '5:10 Value is below the minimum of 0.'],
  'root-list.yaml': ['1:1 Incorrect type. Expected "exp experiment file".'],
  'tta-zero.yaml': ['6:10 Value is below the minimum of 1.'],
  'unknown-key.yaml': ['5:1 Property banana is not allowed.'],
  'wrong-type-map.yaml': ['5:10 Incorrect type. Expected "augment (map)".'],
  'wrong-type.yaml': ['6:11 Incorrect type. Expected "integer".'],
  'syntax-bad-indent.yaml': ['7:1 All mapping items must start at the same column'],
  'syntax-duplicate-key.yaml': ['7:1 Map keys must be unique'],
  'syntax-nested-compact.yaml': ['1:7 Nested mappings are not allowed in compact mappings'],
  'syntax-tab.yaml': ['6:1 Tabs are not allowed as indentation'],
  'syntax-unclosed-flow.yaml': ['6:1 Flow sequence in block collection must be sufficiently indented and end with a ]'],
  'syntax-unclosed-quote.yaml': ['5:1 Missing closing "quote'],
};

// Invalid fixtures whose problem a schema cannot see in the file alone: exp validate reports them
// (test/config/invalid.test.ts), the editor shows nothing.
const BEYOND_THE_FILE: Record<string, string> = {
  'child-of-bad.yaml': 'the problem is in its parent, parent-bad.yaml (flagged when that file is open)',
  'cycle-a.yaml': 'an extends cycle through another file',
  'cycle-b.yaml': 'an extends cycle through another file',
  'extends-missing.yaml': 'extends names a file that does not exist',
  'missing-data-run.yaml': 'a data directory missing on disk (an error only for exp run)',
  'crops.yaml': 'semantic rule across keys: random_crop with random_resized_crop',
  'hier-weight-level.yaml': 'semantic rule: weights name only levels declared in data.levels',
  'loss-weight-level.yaml': 'semantic rule: weights name only levels declared in data.levels',
  'milestones.yaml': 'semantic rule: milestones strictly increasing',
  'phases-overlap.yaml': 'semantic rule: optimizer phases must not overlap',
  'size-resize.yaml': 'semantic rule: crop size at most the resize',
  'sweep-key.yaml': 'semantic rule: sweep grid keys name config keys',
  'val-fraction-path.yaml': 'semantic rule: data.val fraction and path are exclusive',
};

const ls = new YamlLanguageServer({ schemas: { [SCHEMA_PATH]: ['**/test/fixtures/config/**/*.yaml'] } });
before(() => ls.start(ROOT));
after(() => ls.stop());

const at = (d: Diagnostic): string => `${d.range.start.line + 1}:${d.range.start.character + 1}`;
const show = (ds: Diagnostic[]): string[] => ds.map((d) => `${at(d)} ${d.message}`);

/** exp validate's errors located in the file itself, as "line:col". */
function expErrorsIn(file: string): Set<string> {
  const r = loadExperiment(relative(FIXTURES, file), { cwd: FIXTURES, exists: () => true });
  const self = relative(FIXTURES, file);
  return new Set(r.problems.filter((p) => p.severity !== 'warning' && p.file === self).map((p) => `${p.line}:${p.col}`));
}

test('every shipped experiment starts with the $schema line, pointing at schemas/experiment.schema.json', () => {
  assert.ok(EXPERIMENTS.length >= 3);
  for (const f of EXPERIMENTS) {
    const m = /^# yaml-language-server: \$schema=(\S+)\n/.exec(readFileSync(f, 'utf8'));
    assert.ok(m, `${relative(ROOT, f)}: no $schema line first`);
    assert.equal(resolve(dirname(f), m[1]), SCHEMA_PATH, relative(ROOT, f));
  }
});

for (const f of [...EXPERIMENTS, ...VALID]) {
  test(`editor: no diagnostics on ${relative(ROOT, f)}`, async () => {
    assert.deepEqual(show(await ls.diagnose(f)), []);
  });
}

test('every invalid fixture has its expected editor diagnostics or a reason it has none', () => {
  for (const f of INVALID) {
    const name = relative(join(FIXTURES, 'invalid'), f);
    assert.ok((name in EXPECTED) !== (name in BEYOND_THE_FILE), `${name}: in exactly one of EXPECTED and BEYOND_THE_FILE`);
  }
});

for (const f of INVALID) {
  const name = relative(join(FIXTURES, 'invalid'), f);
  test(`editor: ${name} shows ${name in EXPECTED ? EXPECTED[name].length : 0} diagnostic(s), where exp validate reports an error`, async () => {
    const got = show(await ls.diagnose(f));
    const want = EXPECTED[name] ?? [];
    const exp = expErrorsIn(f);
    if (name.startsWith('syntax-')) {
      assert.ok(got.some((g) => g.startsWith(want[0])), `${name}: ${JSON.stringify(got)} lacks ${want[0]}`);
      assert.ok(exp.has(want[0].split(' ')[0]), `exp reports the YAML error at ${want[0].split(' ')[0]} too`);
      return;
    }
    assert.equal(got.length, want.length, `${name}: ${JSON.stringify(got)}`);
    for (const w of want) assert.ok(got.some((g) => g.startsWith(w)), `${name}: ${JSON.stringify(got)} lacks ${w}`);
    // The editor flags nothing that exp accepts: each diagnostic is on a line of one of exp's
    // errors (a list's problem may be reported at the list by one, at its item by the other).
    const lines = new Set([...exp].map((e) => e.split(':')[0]));
    for (const g of got) assert.ok(lines.has(g.split(':')[0]), `${name}: editor says ${g}; exp's errors are at ${[...exp].join(', ')}`);
  });
}

// Documents typed in the editor (not on disk), under the fixtures folder so the schema applies.
const typed = (name: string): string => join(FIXTURES, 'valid', `(typed) ${name}.yaml`);

test('editor: every documented shorthand and a file with only extends and overrides show nothing', async () => {
  const file = (classBalance: string): string => [
    'name: s', 'data: { format: folders, train: t }', 'loss:', `  class_balance: ${classBalance}`, 'train:', '  ema: true',
    'augment:', '  color_jitter: true', '  random_resized_crop: true', 'decode:', '  hierarchical: true', '',
  ].join('\n');
  for (const classBalance of ['none', 'false', 'true', '{ beta: 0.5 }']) {
    assert.deepEqual(show(await ls.diagnose(typed('shorthands'), file(classBalance))), [], `class_balance: ${classBalance}`);
  }
  assert.deepEqual(show(await ls.diagnose(typed('child'), 'extends: base.yaml\ndata: { limit: 10 }\ntrain: { epochs: 3 }\n')), []);
  // a value that is no shorthand is flagged by both
  assert.deepEqual(show(await ls.diagnose(typed('child'), 'extends: base.yaml\naugment: { color_jitter: yes }\n')), ['2:26 Incorrect type. Expected one of object, boolean.']);
  assert.match(validateConfig({ name: 's', data: { format: 'folders', train: 't' }, augment: { color_jitter: 'yes' } }).errors[0].message, /must be a map \(or the shorthand true or false\), not 'yes'/);
});

test('editor: the shorthands the schema accepts are exactly those exp expands', async () => {
  // every non-map value a shorthand-able map might be given, tried one by one in both
  const candidates: unknown[] = [true, false, 'none', 'off', 'true', 'auto', 0, 1, null, [], 'enabled'];
  const walk = (node: SchemaNode, path: string[]): Array<[string[], unknown[]]> => Object.entries(node.properties ?? {}).flatMap(([k, child]) => [
    ...(child['x-shorthand'] ? [[[...path, k], child['x-shorthand'].map((s) => s.value)] as [string[], unknown[]]] : []),
    ...walk(child, [...path, k]),
  ]);
  const found = walk(experimentSchema(), []);
  assert.deepEqual(found.map(([p]) => p.join('.')).sort(), ['augment.color_jitter', 'augment.random_resized_crop', 'decode.hierarchical', 'loss.class_balance', 'train.ema']);
  for (const [[section, key], values] of found) {
    // one document per candidate, all open at once (the server waits a moment before validating)
    const diagnostics = await Promise.all(candidates.map((v, i) => ls.diagnose(typed(`candidate ${i}`),
      `name: s\ndata: { format: folders, train: t }\n${section}:\n  ${key}: ${JSON.stringify(v)}\n`)));
    candidates.forEach((v, i) => {
      const editor = diagnostics[i].length === 0;
      const exp = validateConfig({ name: 's', data: { format: 'folders', train: 't' }, [section]: { [key]: v } }).errors.length === 0;
      assert.equal(editor, values.includes(v), `editor on ${section}.${key}: ${JSON.stringify(v)}`);
      assert.equal(exp, editor, `exp on ${section}.${key}: ${JSON.stringify(v)}`);
    });
  }
});

const opened = new Set<string>();
/** The hover on the first non-comment line where `needle` starts a key (or, for a value, appears). */
async function hoverAt(file: string, needle: string, asKey = true): Promise<string> {
  const lines = readFileSync(file, 'utf8').split('\n');
  const line = lines.findIndex((l) => !l.trimStart().startsWith('#') && (asKey ? l.trimStart().startsWith(needle) : l.includes(needle)));
  assert.ok(line >= 0, needle);
  if (!opened.has(file)) await ls.diagnose(file); // opens it
  opened.add(file);
  const h = await ls.hover(file, { line, character: lines[line].indexOf(needle) + 1 }); // inside the word, as a mouse is
  assert.ok(h, `no hover on ${needle}`);
  return typeof h.contents === 'string' ? h.contents : h.contents.value;
}
const unescape = (md: string): string => md.replace(/\\(.)/g, '$1');

test('editor: hovers are headed by the key path and type, then its description; values show their registry description', async () => {
  const quickstart = join(ROOT, 'experiments/quickstart.yaml');
  const levels = unescape(await hoverAt(quickstart, 'levels:'));
  assert.match(levels, /^#### data\.levels \(list of string\)\n\nNames of the hierarchy levels, finest first/);
  const backbone = unescape(await hoverAt(quickstart, 'tiny', false));
  assert.match(backbone, /^#### model\.backbone\.name \(string\)\n/);
  for (const { name, description } of backbones.list()) assert.ok(backbone.includes(`* \`${name}\`: ${description}`), name);
  // no key of the shipped experiments is headed by the file's title any more
  for (const f of EXPERIMENTS) {
    const keys = readFileSync(f, 'utf8').split('\n').map((l) => /^\s*([a-z_]+):/.exec(l)?.[1]).filter((k): k is string => !!k);
    for (const k of new Set(keys)) {
      const h = unescape(await hoverAt(f, `${k}:`));
      assert.match(h, new RegExp(`^#### (\\S+\\.)?${k} \\(`), `${relative(ROOT, f)} ${k}: ${h.split('\n')[0]}`);
    }
  }
});

test('editor: every registry-backed key completes to exactly the registered names', async () => {
  const registries = await loadRegistries();
  const keys: Array<[string[], string]> = [];
  const walk = (node: SchemaNode, path: string[]): void => {
    for (const [k, child] of Object.entries(node.properties ?? {})) {
      if (child['x-registry']) keys.push([[...path, k], child['x-registry']]);
      walk(child, [...path, k]);
    }
  };
  walk(experimentSchema(), []);
  assert.ok(keys.some(([p]) => p.join('.') === 'model.backbone.name'));
  for (const [path, kind] of keys) {
    const lines = path.map((k, i) => `${'  '.repeat(i)}${k}:`);
    lines[lines.length - 1] += ' ';
    const file = typed('completion');
    await ls.diagnose(file, `${lines.join('\n')}\n`);
    const items = await ls.complete(file, { line: path.length - 1, character: lines[lines.length - 1].length });
    assert.deepEqual(items.map((i) => i.label).sort(), registries.get(kind)!.names().sort(), path.join('.'));
  }
});

// docs/ARCHITECTURE.md's "may import" table is the rule for which folder of src/ depends on which;
// this test reads the table and every import in src/ (static, dynamic and re-exports), so the
// document and the code cannot drift apart. It also holds the single-importer rules: only
// src/model/ touches tfjs (and only model/tf.ts imports its values), only src/plan/listr.ts
// imports listr2, only src/runs/git.ts imports simple-git. And one file-name case: kebab-case.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import { dirname, join, normalize, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const SRC = join(ROOT, 'src');
/** Importable from every folder (the table's Rules say so): shared leaves with no domain logic. */
const EVERYONE_MAY_IMPORT = ['util', 'errors.ts', 'registry.ts', 'registry-names.gen.ts'];

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return sources(p);
    return /\.(ts|mjs)$/.test(name) ? [p] : [];
  });
}

/** Module specifiers of import/export-from statements and import() calls (comments stripped). */
export function specifiers(text: string): { spec: string; typeOnly: boolean }[] {
  const code = text.replace(/\/\*[^]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
  const out: { spec: string; typeOnly: boolean }[] = [];
  for (const m of code.matchAll(/\b(import|export)\s+(type\s+)?(?:[^'";]*?\s+from\s+)?['"]([^'"]+)['"]/g)) {
    out.push({ spec: m[3], typeOnly: !!m[2] });
  }
  for (const m of code.matchAll(/\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g)) out.push({ spec: m[1], typeOnly: false });
  return out;
}

/** src/<area>/... -> area (a folder, or a file at the top of src/). */
const areaOf = (file: string) => relative(SRC, file).split('/')[0];

/** folder -> the folders it may import, from the table in docs/ARCHITECTURE.md. */
function mayImport(): Map<string, Set<string> | 'everything'> {
  const doc = readFileSync(join(ROOT, 'docs', 'ARCHITECTURE.md'), 'utf8');
  const table = new Map<string, Set<string> | 'everything'>();
  for (const line of doc.split('\n')) {
    const m = line.match(/^\| `src\/([a-z]+)\/` \|.*\| ([^|]*) \|$/);
    if (!m) continue;
    const cell = m[2].trim();
    table.set(m[1], cell === 'everything' ? 'everything'
      : new Set(cell === 'nothing' ? [] : cell.replace(/\([^)]*\)/g, '').split(',').map((s) => s.trim()).filter(Boolean)));
  }
  return table;
}

test('every import between folders of src/ is one docs/ARCHITECTURE.md allows', () => {
  const table = mayImport();
  const folders = readdirSync(SRC).filter((n) => statSync(join(SRC, n)).isDirectory());
  assert.deepEqual(folders.filter((f) => !table.has(f)), [], 'every folder of src/ has a row in the table');
  const wrong: string[] = [];
  for (const file of sources(SRC)) {
    const from = areaOf(file);
    const allowed = table.get(from);
    for (const { spec } of specifiers(readFileSync(file, 'utf8'))) {
      if (!spec.startsWith('.')) continue;
      const target = normalize(join(dirname(file), spec));
      if (!target.startsWith(SRC)) continue;
      const to = areaOf(target);
      if (to === from || EVERYONE_MAY_IMPORT.includes(to) || allowed === 'everything') continue;
      if (!allowed?.has(to.replace(/\.ts$/, ''))) wrong.push(`${relative(ROOT, file)} imports ${spec} (${from} -> ${to})`);
    }
  }
  assert.deepEqual(wrong, [], 'add the folder to the row in docs/ARCHITECTURE.md if the dependency is right, or move the code');
});

test('tfjs only inside src/model/ (values only through model/tf.ts), listr2 only in plan/listr.ts, simple-git only in runs/git.ts', () => {
  const wrong: string[] = [];
  for (const file of sources(SRC)) {
    const rel = relative(SRC, file);
    for (const { spec, typeOnly } of specifiers(readFileSync(file, 'utf8'))) {
      if (spec.startsWith('@tensorflow/')) {
        if (!rel.startsWith('model/')) wrong.push(`${rel}: ${spec} outside src/model/`);
        else if (spec === '@tensorflow/tfjs' && !typeOnly && rel !== 'model/tf.ts') wrong.push(`${rel}: imports tfjs values (use src/model/tf.ts)`);
      }
      if (spec === 'listr2' && rel !== 'plan/listr.ts') wrong.push(`${rel}: listr2`);
      if (spec === 'simple-git' && rel !== 'runs/git.ts') wrong.push(`${rel}: simple-git`);
    }
  }
  assert.deepEqual(wrong, []);
});

/** kebab-case words, dot-separated parts (`mobilenet-v2.weights.ts`, `types.gen.ts`). */
const KEBAB_FILE = /^[a-z0-9]+(-[a-z0-9]+)*(\.[a-z0-9]+(-[a-z0-9]+)*)*$/;

test('every TypeScript and JavaScript file in src/, test/, bench/, scripts/ and bin/ has a kebab-case name', () => {
  const all = (dir: string): string[] => readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return e.name === 'node_modules' || e.name.startsWith('.') ? [] : all(p);
    return /\.(ts|mts|cts|js|mjs|cjs)$/.test(e.name) ? [p] : [];
  });
  const files = ['src', 'test', 'bench', 'scripts', 'bin'].flatMap((d) => all(join(ROOT, d)));
  assert.ok(files.length > 100);
  const wrong = files.filter((f) => !KEBAB_FILE.test(f.slice(f.lastIndexOf('/') + 1))).map((f) => relative(ROOT, f));
  assert.deepEqual(wrong, [], 'rename with git mv to kebab-case (Python files keep snake_case) and fix the imports');
  assert.ok(!KEBAB_FILE.test('mobilenet_v2.ts') && !KEBAB_FILE.test('trainProfile.ts') && KEBAB_FILE.test('mobilenet-v2.weights.ts'));
});

test('the import scanner sees static, type-only, re-exported and dynamic imports, not commented ones', () => {
  const found = specifiers([
    "import { a } from './a.ts';",
    "import type { B } from '../b.ts';",
    "export { c } from './c.ts';",
    "export * from './d.ts';",
    "const e = await import('./e.ts');",
    "import './f.ts';",
    "// import { g } from './g.ts';",
    "/* import('./h.ts') */",
  ].join('\n'));
  assert.deepEqual(found.map((f) => f.spec).sort(), ['../b.ts', './a.ts', './c.ts', './d.ts', './e.ts', './f.ts']);
  assert.equal(found.find((f) => f.spec === '../b.ts')?.typeOnly, true);
});

test('compiling a plan (exp plan, exp run --dry-run) loads none of tfjs, sharp, simple-git, listr2 or the npy readers', () => {
  const dir = mkdtempSync(join(tmpdir(), 'exp-arch-'));
  try {
    const log = join(dir, 'resolved.txt');
    // a module hook that notes every URL the child resolves (ESM; the packages' own CommonJS
    // requires never pass here, but the import of each package from exp's code does)
    const hook = `import { appendFileSync } from 'node:fs';
export async function resolve(s, c, next) { const r = await next(s, c); appendFileSync(${JSON.stringify(log)}, r.url + '\\n'); return r; }`;
    const child = `import { register } from 'node:module';
register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(hook)}));
const { compile } = await import(${JSON.stringify(join(SRC, 'stages/kinds.ts'))});
const { loadExperiment, assertValid } = await import(${JSON.stringify(join(SRC, 'config/index.ts'))});
const plan = compile(assertValid(loadExperiment(${JSON.stringify(join(ROOT, 'experiments/quickstart.yaml'))}, { sets: [] })));
console.log(plan.stages.map((s) => s.id).join(' '));`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', child], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /train/); // it did compile a real plan
    const urls = readFileSync(log, 'utf8');
    assert.match(urls, /node_modules\/yaml\//); // the hook saw package imports
    for (const heavy of ['@tensorflow/', 'node_modules/sharp/', 'node_modules/simple-git/', 'node_modules/listr2/', 'src/eval/npy.ts', 'src/model/']) {
      assert.ok(!urls.includes(heavy), `${heavy} was loaded while compiling a plan:\n${urls.split('\n').filter((u) => u.includes(heavy)).slice(0, 3).join('\n')}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

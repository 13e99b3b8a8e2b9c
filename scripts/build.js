#!/usr/bin/env node
// Compiles src/**/*.ts to dist/**/*.js (same tree, so every path a module computes from
// import.meta.url, such as ../../schemas/ or build/Release, points at the same place) with
// esbuild, and copies src's other modules (the replica worker's .mjs bootstrap). npm runs it after
// installing (the postinstall script); `npm run build` reruns it. bin/exp.js runs dist/ while it is
// newer than every file of src/, and the sources through tsx otherwise, so a stale build is never
// used. Types are not checked here (npm run typecheck does that).
// esbuild comes with tsx (a dependency); each file is its own entry point with every relative
// import left external and renamed .ts -> .js, so nothing is bundled and the tree stays as it is.
import { cpSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'src');
const require = createRequire(createRequire(import.meta.url).resolve('tsx/package.json'));
const esbuild = await import(require.resolve('esbuild'));

function files(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    return e.isDirectory() ? files(p) : [p];
  });
}

const all = files(src);
const entryPoints = all.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'));
// Build beside, then swap: a process running dist/ never sees a half-written tree.
const out = join(root, `dist.tmp-${process.pid}`);
rmSync(out, { recursive: true, force: true });
try {
  await esbuild.build({
    entryPoints,
    outdir: out,
    outbase: src,
    bundle: true, // only to run the resolver below: every import is external
    packages: 'external',
    platform: 'node',
    format: 'esm',
    target: 'node20',
    logLevel: 'warning',
    plugins: [{
      name: 'relative-ts-to-js',
      setup(b) {
        b.onResolve({ filter: /^\.\.?\// }, (a) => ({ path: a.path.replace(/\.ts$/, '.js'), external: true }));
      },
    }],
  });
  for (const f of all.filter((f) => f.endsWith('.mjs') || f.endsWith('.js'))) {
    mkdirSync(dirname(join(out, relative(src, f))), { recursive: true });
    cpSync(f, join(out, relative(src, f)));
  }
  // Written last: bin/exp.js compares the sources' times with this file's.
  writeFileSync(join(out, 'BUILD'), `compiled from src/ by scripts/build.js: ${entryPoints.length} modules\n`);
  rmSync(join(root, 'dist'), { recursive: true, force: true });
  renameSync(out, join(root, 'dist'));
} catch (err) {
  rmSync(out, { recursive: true, force: true });
  // A failed build leaves no dist/, and bin/exp.js runs the sources: slower, never wrong. So an
  // install still succeeds; `npm run build` fails.
  console.error(`exp: compiling src/ failed (${err.message.split('\n')[0]}); exp will run its TypeScript sources through tsx`);
  process.exit(process.env.npm_lifecycle_event === 'postinstall' ? 0 : 1);
}
console.log(`exp: compiled ${entryPoints.length} modules to ${join(root, 'dist')}`);

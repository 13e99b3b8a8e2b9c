#!/usr/bin/env node
// Entry point: runs the compiled CLI (dist/, built from src/ by scripts/build.js at install) when
// it is newer than every source file, else the TypeScript sources through tsx (compiling them at
// start-up costs about 0.3 s): a checkout edited since its build, a worktree that was never built
// (exp reproduce), or EXP_SOURCES=1 (the test runner sets it). All error handling lives in
// src/cli/main.ts; this is the only place that may end the process early.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

// Image decoding runs on libuv's thread pool (sharp); its default of 4 threads caps parallel
// decodes on larger machines. It must be sized before the pool first starts.
process.env.UV_THREADPOOL_SIZE ??= String(Math.max(4, availableParallelism()));

/** Whether `dir` or anything under it (a deletion touches its folder) changed after `time`. */
function changedSince(dir, time) {
  if (statSync(dir).mtimeMs > time) return true;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory() ? changedSince(p, time) : statSync(p).mtimeMs > time) return true;
  }
  return false;
}

/** dist/ is current when nothing in src/ changed since dist/BUILD was written. */
function builtIsCurrent() {
  if (process.env.EXP_SOURCES === '1') return false;
  const root = fileURLToPath(new URL('..', import.meta.url));
  let built;
  try {
    built = statSync(join(root, 'dist', 'BUILD')).mtimeMs;
  } catch {
    return false;
  }
  if (!existsSync(join(root, 'src'))) return true; // an installation without sources
  return !changedSince(join(root, 'src'), built);
}

let main;
if (builtIsCurrent()) {
  ({ main } = await import('../dist/cli/main.js'));
} else {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('../src/cli/main.ts'));
}
process.exitCode = await main(process.argv.slice(2));

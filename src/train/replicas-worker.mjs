// Bootstrap of a training replica's worker thread (see replicas.ts). In the compiled tree (dist/,
// what bin/exp.js runs once built) the worker module beside this file is JavaScript; in the sources
// it is TypeScript, and workers do not inherit the tsx loader that bin/exp.js registers in the
// main thread, so register it here first.
import { existsSync } from 'node:fs';

const compiled = new URL('./replicas-worker.js', import.meta.url);
if (existsSync(compiled)) {
  await import(compiled.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('./replicas-worker.ts');
}

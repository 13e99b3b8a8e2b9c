// Bootstrap of exp's worker threads (training replicas, the image loader), started by worker.ts's
// startWorker with the worker module's path under src/ as its one argument. In the compiled tree
// (dist/, what bin/exp.js runs once built) the module is JavaScript; in the sources it is
// TypeScript, and workers do not inherit the tsx loader that bin/exp.js registers in the main
// thread, so register it here first.
import { existsSync } from 'node:fs';

const name = process.argv[process.argv.length - 1];
const compiled = new URL(`../${name}.js`, import.meta.url);
if (existsSync(compiled)) {
  await import(compiled.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(new URL(`../${name}.ts`, import.meta.url).href);
}

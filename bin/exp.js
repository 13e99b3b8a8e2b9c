#!/usr/bin/env node
// Entry point: registers tsx so the TypeScript sources run without a build step,
// then hands argv to the CLI. All error handling lives in src/cli/main.ts.
import { availableParallelism } from 'node:os';
import { register } from 'tsx/esm/api';

// Image decoding runs on libuv's thread pool (sharp); its default of 4 threads caps parallel
// decodes on larger machines. It must be sized before the pool first starts.
process.env.UV_THREADPOOL_SIZE ??= String(Math.max(4, availableParallelism()));
register();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));

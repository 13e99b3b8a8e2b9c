#!/usr/bin/env node
// Entry point: registers tsx so the TypeScript sources run without a build step,
// then hands argv to the CLI. All error handling lives in src/cli/main.ts.
import { register } from 'tsx/esm/api';
register();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));

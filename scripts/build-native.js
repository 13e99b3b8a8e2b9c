#!/usr/bin/env node
// Install-time builder of the optional oneDNN addon (npm's "install" script; `npm rebuild` reruns
// it). When oneDNN's headers and library are on this machine it runs node-gyp on native/ against
// the local Node headers and puts the addon at build/Release/exp_native.node, where the backend
// selection looks for it. Otherwise, or when the build fails, it prints one line and exits 0:
// the install succeeds and training runs on the wasm backend. It never downloads anything.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, renameSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const nativeDir = join(root, 'native');
const target = join(root, 'build', 'Release', 'exp_native.node');
const howTo = 'For the faster native backend: apt-get install libdnnl-dev && npm rebuild';

function skip(why) {
  console.log(`exp: native kernels skipped (${why}); training uses wasm. ${howTo}`);
  process.exit(0);
}

if (process.env.EXP_SKIP_NATIVE) skip('EXP_SKIP_NATIVE is set');

// oneDNN: the header and the unversioned library that libdnnl-dev installs
const includeDirs = ['/usr/include', '/usr/local/include', ...(process.env.CPATH ?? '').split(':').filter(Boolean)];
const libDirs = ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib',
  '/usr/local/lib', ...(process.env.LIBRARY_PATH ?? '').split(':').filter(Boolean)];
const header = includeDirs.some((d) => existsSync(join(d, 'oneapi', 'dnnl', 'dnnl.hpp')));
const lib = libDirs.some((d) => existsSync(join(d, 'libdnnl.so')));
if (!header || !lib) skip(`oneDNN ${header ? 'library libdnnl.so' : 'headers oneapi/dnnl/dnnl.hpp'} not found`);

// Node's own headers, so node-gyp does not try to download them
const nodeDir = [process.env.npm_config_nodedir, resolve(process.execPath, '..', '..')]
  .find((d) => d && existsSync(join(d, 'include', 'node', 'node_api.h')));
if (!nodeDir) skip(`Node headers (include/node/node_api.h) not found beside ${process.execPath}`);

// node-gyp: the copy npm ships with (works offline), else one installed in the project
function findNodeGyp() {
  const candidates = [];
  if (process.env.npm_execpath) candidates.push(join(dirname(process.env.npm_execpath), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  candidates.push(join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  try {
    candidates.push(createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js'));
  } catch { /* not a project dependency */ }
  return candidates.find((c) => existsSync(c));
}
const nodeGyp = findNodeGyp();
if (!nodeGyp) skip('node-gyp not found (it ships with npm)');

const r = spawnSync(process.execPath, [nodeGyp, 'rebuild', `--nodedir=${nodeDir}`, '--loglevel=error'],
  { cwd: nativeDir, encoding: 'utf8', env: { ...process.env, npm_config_offline: 'true' } });
const built = join(nativeDir, 'build', 'Release', 'exp_native.node');
if (r.status !== 0 || !existsSync(built)) {
  const lines = `${r.stderr ?? ''}${r.stdout ?? ''}${r.error ? r.error.message : ''}`.split('\n');
  const first = lines.find((l) => /error/i.test(l)) ?? lines.find((l) => l.trim()) ?? 'unknown error';
  skip(`node-gyp build failed: ${first.trim().slice(0, 200)}`);
}
mkdirSync(dirname(target), { recursive: true });
// copy then rename: a process that has the old addon loaded keeps its (unchanged) file
copyFileSync(built, `${target}.tmp`);
renameSync(`${target}.tmp`, target);
console.log(`exp: built native kernels (oneDNN) at ${target}`);

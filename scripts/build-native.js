#!/usr/bin/env node
// Install-time builder of exp's two optional addons (npm's "install" script; `npm rebuild` reruns
// it). Each is built with node-gyp against the local Node headers when its system library is on this
// machine, and put under build/Release/, where exp looks for it:
//  - exp_native.node (native/): oneDNN kernels for the `native` training backend (libdnnl-dev);
//  - exp_jpeg.node (native/jpeg/): the JPEG fast path of the image pipeline (libjpeg-turbo's headers,
//    libjpeg62-turbo-dev on Debian).
// An addon whose library is missing, or whose build fails, is skipped with one line: the install
// succeeds, and exp uses wasm / sharp instead. Nothing is ever downloaded.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, renameSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const includeDirs = ['/usr/include', '/usr/local/include', ...(process.env.CPATH ?? '').split(':').filter(Boolean)];
const libDirs = ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib',
  '/usr/local/lib', ...(process.env.LIBRARY_PATH ?? '').split(':').filter(Boolean)];
const hasHeader = (rel) => includeDirs.some((d) => existsSync(join(d, rel)));
const hasLib = (file) => libDirs.some((d) => existsSync(join(d, file)));

const addons = [
  {
    name: 'exp_native',
    what: 'native kernels (oneDNN)',
    dir: join(root, 'native'),
    fallback: 'training uses wasm',
    howTo: 'For the faster native backend: apt-get install libdnnl-dev && npm rebuild',
    missing: () => (!hasHeader('oneapi/dnnl/dnnl.hpp') ? 'oneDNN headers oneapi/dnnl/dnnl.hpp not found'
      : !hasLib('libdnnl.so') ? 'oneDNN library libdnnl.so not found' : null),
  },
  {
    name: 'exp_jpeg',
    what: 'JPEG fast path (libjpeg-turbo)',
    dir: join(root, 'native', 'jpeg'),
    fallback: 'images decode with sharp',
    howTo: 'For faster JPEG decoding: apt-get install libjpeg62-turbo-dev && npm rebuild',
    missing: () => (!hasHeader('jpeglib.h') ? 'libjpeg-turbo headers jpeglib.h not found'
      : !hasLib('libjpeg.so') ? 'library libjpeg.so not found' : null),
  },
];

// Node's own headers, so node-gyp does not try to download them
const nodeDir = [process.env.npm_config_nodedir, resolve(process.execPath, '..', '..')]
  .find((d) => d && existsSync(join(d, 'include', 'node', 'node_api.h')));

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

/** Build one addon; returns the line to print. */
function build(a) {
  const skip = (why) => `exp: ${a.what} skipped (${why}); ${a.fallback}. ${a.howTo}`;
  if (process.env.EXP_SKIP_NATIVE) return skip('EXP_SKIP_NATIVE is set');
  const missing = a.missing();
  if (missing) return skip(missing);
  if (!nodeDir) return skip(`Node headers (include/node/node_api.h) not found beside ${process.execPath}`);
  if (!nodeGyp) return skip('node-gyp not found (it ships with npm)');
  const r = spawnSync(process.execPath, [nodeGyp, 'rebuild', `--nodedir=${nodeDir}`, '--loglevel=error'],
    { cwd: a.dir, encoding: 'utf8', env: { ...process.env, npm_config_offline: 'true' } });
  const built = join(a.dir, 'build', 'Release', `${a.name}.node`);
  if (r.status !== 0 || !existsSync(built)) {
    const lines = `${r.stderr ?? ''}${r.stdout ?? ''}${r.error ? r.error.message : ''}`.split('\n');
    const first = lines.find((l) => /error/i.test(l)) ?? lines.find((l) => l.trim()) ?? 'unknown error';
    return skip(`node-gyp build failed: ${first.trim().slice(0, 200)}`);
  }
  const target = join(root, 'build', 'Release', `${a.name}.node`);
  mkdirSync(dirname(target), { recursive: true });
  // copy then rename: a process that has the old addon loaded keeps its (unchanged) file
  copyFileSync(built, `${target}.tmp`);
  renameSync(`${target}.tmp`, target);
  return `exp: built ${a.what} at ${target}`;
}

const only = process.argv[2]; // `node scripts/build-native.js exp_jpeg` builds one
for (const a of addons) if (!only || a.name === only) console.log(build(a));

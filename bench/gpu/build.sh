#!/usr/bin/env bash
# Prepares bench/gpu/.carry/ (git-ignored), everything run.sh needs on a GPU machine that has no
# Node.js and no network: check.ts bundled by esbuild (exp, tfjs, tfjs-backend-webgpu in one
# file), the few files the bundle reads at run time (Dawn's dawn.node for linux-x64, the wasm
# backend's .wasm files, package.json files for versions), this machine's Node binary, and the
# Vulkan loader as Debian packages (the device machine may lack libvulkan.so.1). Large files are
# xz-compressed: the device tool carries 64 MiB in all. Needs the network here (apt-get download).
#   bench/gpu/build.sh            everything (compressing Node takes minutes)
#   bench/gpu/build.sh --no-node  leave Node out (run.sh then uses the node on the PATH)
set -euo pipefail
cd "$(dirname "$0")/../.."
C=bench/gpu/.carry
with_node=1
[ "${1:-}" = "--no-node" ] && with_node=0

mkdir -p "$C"
rm -rf "$C/node_modules" "$C/check.mjs"
# ESM output: bundled CommonJS (tfjs' node builds, the emscripten glue of the wasm backend) wants
# require, __filename and __dirname
banner="import { createRequire as __cr } from 'node:module'; import { fileURLToPath as __fu } from 'node:url'; \
import { dirname as __dn } from 'node:path'; const require = __cr(import.meta.url); \
const __filename = __fu(import.meta.url); const __dirname = __dn(__filename);"
# webgpu stays outside: its index.js loads dawn.node beside itself
node_modules/.bin/esbuild bench/gpu/check.ts --bundle --platform=node --format=esm --target=node20 \
  --outfile="$C/check.mjs" --external:webgpu --external:sharp --minify --legal-comments=none \
  --banner:js="$banner" --log-level=error

nm="$C/node_modules"
mkdir -p "$nm/webgpu/dist/linux-x64" "$nm/@tensorflow/tfjs-backend-wasm/dist" "$nm/@tensorflow/tfjs-backend-webgpu"
cp node_modules/webgpu/package.json node_modules/webgpu/index.js "$nm/webgpu/"
xz -T0 -6 -c node_modules/webgpu/dist/linux-x64/dawn.node > "$nm/webgpu/dist/linux-x64/dawn.node.xz"
cp node_modules/@tensorflow/tfjs-backend-wasm/package.json "$nm/@tensorflow/tfjs-backend-wasm/"
cp node_modules/@tensorflow/tfjs-backend-wasm/dist/*.wasm "$nm/@tensorflow/tfjs-backend-wasm/dist/"
cp node_modules/@tensorflow/tfjs-backend-webgpu/package.json "$nm/@tensorflow/tfjs-backend-webgpu/"

if [ "$with_node" = 1 ]; then
  node_bin=$(command -v node)
  if [ ! -f "$C/node.xz" ] || [ "$(cat "$C/node.version" 2>/dev/null)" != "$("$node_bin" --version)" ]; then
    xz -T0 -6 -c "$node_bin" > "$C/node.xz"
    "$node_bin" --version > "$C/node.version"
  fi
else
  rm -f "$C/node.xz" "$C/node.version"
fi

# the Vulkan loader and GL dispatch libraries, unpacked over / by run.sh (the device README's list)
mkdir -p "$C/gl" /tmp/exp-apt-amd64/partial
o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/exp-apt-amd64'
if ! ls "$C"/gl/libvulkan1_*.deb >/dev/null 2>&1; then
  # shellcheck disable=SC2086
  apt-get $o update -qq
  # shellcheck disable=SC2086
  (cd "$C/gl" && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
fi

du -sh "$C"
size=$(du -sb "$C" | cut -f1)
tree=$(git ls-files -z | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1)
echo "carry $((size / 1048576)) MiB + tracked tree $((tree / 1048576)) MiB (the device tool takes 64 MiB in all)"
[ $((size + tree)) -lt $((60 * 1048576)) ] || { echo "too large for one device call" >&2; exit 1; }

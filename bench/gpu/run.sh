#!/usr/bin/env bash
# The GPU check, for one call of the device tool (bench/gpu/README.md): with bench/gpu/.carry
# carried (bench/gpu/build.sh makes it), in the repository root,
#   bash bench/gpu/run.sh
# (a) probes the WebGPU adapter Dawn finds through Vulkan, (b) runs the webgpu parity check
# (every backbone, one training step, against wasm), (c) times se_resnext50_32x4d and resnet50
# training at 224 px, batch 32 and 64, in exp's loop on webgpu, with a profile of the slowest
# kernels, and (d) times the same in PyTorch on the same GPU (fp32, tf32, AMP + channels_last).
# Writes $OUT/gpu-check.json (one object: every part's result or error) and $OUT/log.txt.
# Each part has a time budget, so one that hangs cannot take the others with it: at most about
# 8 minutes in all (typically less), inside a 10-minute command.
# EXP_GPU_CHECK_PARTS=probe,parity,time,torch (the default: all): a rerun of some parts only.
# EXP_GPU_CHECK_DRY=1: a dry run without a GPU, on the software adapter (Mesa's llvmpipe) with
# tiny sizes and PyTorch on the CPU; tested that way where this was written.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-$PWD/bench/gpu/out}
mkdir -p "$OUT"
C=bench/gpu/.carry
T=$(mktemp -d /tmp/exp-gpu-check.XXXXXX)
DRY=${EXP_GPU_CHECK_DRY:-0}
PARTS=",${EXP_GPU_CHECK_PARTS:-probe,parity,time,torch},"
want() { [[ $PARTS == *",$1,"* ]]; }
exec > >(tee "$OUT/log.txt") 2>&1
log() { echo "[gpu-check $(date +%T)] $*"; }
[ -f "$C/check.mjs" ] || { log "no $C/check.mjs: run bench/gpu/build.sh first and carry $C"; exit 2; }

if [ "$DRY" = 1 ]; then
  BACKEND=webgpu-software
  PARITY=(--backbones tiny,resnet18)
  TIMES=("tiny 2 32" "resnet50 2 32")
  TIME_ARGS=(--steps 3 --warmup 1 --budget 20)
  TORCH=(--device cpu --models resnet50 --size 32 --batches 2 --steps 1 --warmup 1)
  BUDGET=(60 400 200 120)
else
  BACKEND=webgpu
  PARITY=()
  TIMES=("se_resnext50_32x4d 32 224" "se_resnext50_32x4d 64 224" "resnet50 32 224" "resnet50 64 224")
  TIME_ARGS=(--steps 12 --warmup 3 --budget 20)
  TORCH=(--device cuda --size 224 --batches 32,64 --steps 10 --warmup 3 --budget 4)
  BUDGET=(30 180 40 90) # probe, parity, each timing, pytorch: seconds
fi

# the Vulkan loader, where the machine has none (unpacked over /, as the device README says;
# never in a dry run, which must not change the machine it runs on)
if [ "$DRY" != 1 ] && ! ldconfig -p | grep -q 'libvulkan.so.1 '; then
  for f in "$C"/gl/*.deb; do [ -f "$f" ] && dpkg -x "$f" /; done
  ldconfig
fi
if [ -z "${VK_DRIVER_FILES:-}" ] && [ -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ]; then
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
fi
ldconfig -p | grep -q 'libvulkan.so.1 ' && log "Vulkan loader: $(ldconfig -p | grep 'libvulkan.so.1 ' | head -1 | sed 's/.*=> //')"

# Node: the machine's if it is 20 or newer, else (or with EXP_GPU_CHECK_CARRIED_NODE=1) the carried one
NODE=$(command -v node || true)
if [ "${EXP_GPU_CHECK_CARRIED_NODE:-0}" = 1 ] || [ -z "$NODE" ] \
  || ! "$NODE" -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)'; then
  [ -f "$C/node.xz" ] || { log "no Node 20+ here and none carried ($C/node.xz)"; exit 2; }
  xz -dc "$C/node.xz" > "$T/node" && chmod +x "$T/node"
  NODE=$T/node
fi
log "node $("$NODE" --version) ($NODE)"
# the bundle and what it reads, unpacked under /tmp (the carried folder stays as it was carried)
cp -r "$C/check.mjs" "$C/node_modules" "$T/"
dawn=$T/node_modules/webgpu/dist/linux-x64/dawn.node
xz -dc "$dawn.xz" > "$dawn" && rm "$dawn.xz"

PY=${PYTHON:-python3}
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader > "$T/nvidia-smi.txt" 2>&1

part() { # name budget args...: runs check.mjs, keeps its JSON (or the failure) in $T/<name>.json
  local name=$1 budget=$2; shift 2
  log "$name (at most ${budget}s)"
  timeout --kill-after=5 "$budget" "$NODE" "$T/check.mjs" "$@" --backend "$BACKEND" --out "$T/$name.json" > "$T/$name.stdout"
  local rc=$?
  [ -s "$T/$name.json" ] || echo "{\"error\": \"exit code $rc$([ $rc = 124 ] && echo ': over its time budget')\"}" > "$T/$name.json"
  log "$name: exit $rc"
}

want probe && part probe "${BUDGET[0]}" probe
want parity && part parity "${BUDGET[1]}" parity "${PARITY[@]}"
if want time; then
  i=0
  for t in "${TIMES[@]}"; do
    read -r bb batch size <<< "$t"
    part "time$i" "${BUDGET[2]}" time --backbone "$bb" --batch "$batch" --size "$size" "${TIME_ARGS[@]}"
    i=$((i + 1))
  done
fi
if want torch; then
  log "pytorch (at most ${BUDGET[3]}s)"
  timeout --kill-after=5 "${BUDGET[3]}" "$PY" bench/gpu/torch_bench.py "${TORCH[@]}" --out "$T/torch.json" > /dev/null
  log "pytorch: exit $?"
  [ -s "$T/torch.json" ] || echo '{"error": "no result (see log.txt)"}' > "$T/torch.json"
fi

# one file: every part, and the ratio webgpu / PyTorch fp32 for each configuration
"$NODE" -e '
const fs = require("fs"), T = process.argv[1];
const read = (f) => { if (!fs.existsSync(`${T}/${f}`)) return null; try { return JSON.parse(fs.readFileSync(`${T}/${f}`, "utf8")); } catch (e) { return { error: String(e) }; } };
const times = fs.readdirSync(T).filter((f) => /^time\d+\.json$/.test(f)).sort().map(read);
const torch = read("torch.json") || {};
const ratio = times.map((w) => {
  const peer = (p) => (torch.runs || []).find((r) => r.model === w.backbone && r.batch === w.batch && r.precision === p && r.images_per_s);
  const f = peer("fp32"), a = peer("amp");
  return { backbone: w.backbone, batch: w.batch, webgpu_images_per_s: w.images_per_s ?? null,
    pytorch_fp32_images_per_s: f ? f.images_per_s : null, pytorch_amp_images_per_s: a ? a.images_per_s : null,
    webgpu_over_fp32: f && w.images_per_s ? w.images_per_s / f.images_per_s : null };
});
const smi = fs.existsSync(`${T}/nvidia-smi.txt`) ? fs.readFileSync(`${T}/nvidia-smi.txt`, "utf8").trim() : null;
const out = { written: new Date().toISOString(), dry_run: process.argv[2] === "1", parts: process.argv[4], nvidia_smi: smi,
  probe: read("probe.json"), parity: read("parity.json"), webgpu: times, pytorch: torch, summary: ratio };
fs.writeFileSync(process.argv[3], JSON.stringify(out, null, 1) + "\n");
for (const r of ratio) console.log(JSON.stringify(r));
' "$T" "$DRY" "$OUT/gpu-check.json" "$PARTS"
log "wrote $OUT/gpu-check.json"
rm -rf "$T"

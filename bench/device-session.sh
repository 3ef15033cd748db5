#!/usr/bin/env bash
# Everything issues 5 and 6 still need from the GPU machine (H100, 16 cores), in as few device calls
# as possible. Here, once:
#   npm ci && npm run build                      # npm ci drops the on-demand ORT peers: .device stays < 64 MiB
#   (the workplace's device preparation, not in this repository: node, Vulkan loader, slim node_modules, setup.sh -> .device/)
#   bash bench/gpu/bundle.sh                     # .device/gpu/{check,attention,probe-subgroup-matrix,transfers}.mjs, webgpu.tar.xz
#   node tools/device/bundle-bench.mjs bench/threads.ts bench/gpu/end-to-end.ts bench/cpu-scaling.ts
# Then two device calls (each under the 10-minute limit), carry [".device", "dist", "build"]:
#   . .device/setup.sh && bash bench/device-session.sh gpu    # WebGPU check, versus + FlexAttention, end to end
#   . .device/setup.sh && bash bench/device-session.sh cpu    # thread scaling 1..16, FMA ceiling
# Results land in $OUT (the device tool's output folder).
set -uo pipefail
out=${OUT:-/tmp/out}
mkdir -p "$out"
step() { echo "== $*"; local t0=$SECONDS; "$@"; echo "== exit $? after $((SECONDS - t0)) s"; }
case "${1:-}" in
  gpu)
    nvidia-smi > "$out/nvidia-smi.txt" 2>&1
    [[ -d node_modules/webgpu ]] || xz -dc .device/gpu/webgpu.tar.xz | tar -xf -
    step timeout 60 node .device/gpu/probe-subgroup-matrix.mjs "$out/subgroup-matrix-probe.json"
    step timeout 150 node .device/gpu/check.mjs "$out/check.json"
    # ours and FlexAttention side by side in one session: the ratio is what counts
    step timeout 150 node .device/gpu/attention.mjs "$out/webgpu-versus.json" --versus --backward
    step timeout 200 python3 bench/gpu/flex_attention.py "$out/flex-attention.json"
    step timeout 90 node .device/bench/end-to-end.mjs "$out/end-to-end.json" --backward
    ;;
  cpu)
    lscpu > "$out/lscpu.txt" 2>&1
    step bash -c 'timeout 60 node .device/bench/cpu-scaling.mjs --threads 1,2,4,8,16 | tee "$0"' "$out/cpu-scaling.txt"
    step timeout 420 node .device/bench/threads.mjs --threads 1,2,4,8,16 --no-web --no-ops --no-check --rounds 9 --wait-quiet 5 --out "$out/cpu-threads.json"
    ;;
  *) echo "usage: bench/device-session.sh gpu|cpu" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# Bundles bench/gpu/{check,attention,mma,probe-subgroup-matrix,transfers,call-overhead,select-kernels,loop-calls,decode-calls}.ts for the GPU machine into .device/gpu/ (ignored), with a
# slim copy of the `webgpu` package (Dawn, linux-x64 only: the shared node_modules tarball is over
# the device tool's 64 MiB). Run here, after the workplace's device preparation
# (not in this repository) has made .device/.
set -euo pipefail
root=$(git rev-parse --show-toplevel); cd "$root"
mkdir -p .device/gpu
for f in check attention mma probe-subgroup-matrix transfers call-overhead select-kernels loop-calls decode-calls; do
  node_modules/.bin/esbuild "bench/gpu/$f.ts" --bundle --platform=node --format=esm --target=node20 \
    --external:webgpu --outfile=".device/gpu/$f.mjs" --log-level=warning
done
if [[ ! -f .device/gpu/webgpu.tar.xz ]]; then
  tar -cf - --exclude='node_modules/webgpu/dist/darwin-*' --exclude='node_modules/webgpu/dist/win32-*' \
    --exclude='node_modules/webgpu/dist/linux-arm64' node_modules/webgpu | xz -T2 -6 > .device/gpu/webgpu.tar.xz
fi
ls -la .device/gpu

#!/usr/bin/env bash
# Packs what onnxruntime-node needs on linux x64, and onnx-proto with its runtime dependencies, for the
# GPU machine (no internet, no npm): .device/ort.tar.xz, paths relative to the project root, so that
# `xz -dc .device/ort.tar.xz | tar -xf -` there (after .device/setup.sh, which replaces node_modules)
# adds them to node_modules. Only linux/x64's native library travels (the package holds every
# platform's: 288 MB), and neither protobufjs's cli nor any TypeScript sources or source maps.
#   bash tools/device/pack-ort.sh        # run in the project root, with the ORT peers installed
set -euo pipefail
nm=node_modules
for p in onnxruntime-node onnxruntime-common onnx-proto protobufjs long; do
  [[ -f $nm/$p/package.json ]] || { echo "pack-ort: $nm/$p is missing (ONNXRUNTIME_NODE_INSTALL=skip npm install --no-save onnxruntime-node@1.30.0 onnx-proto@8.0.1)" >&2; exit 1; }
done
mkdir -p .device
list=$(mktemp)
{
  echo $nm/onnxruntime-node/package.json
  find -L $nm/onnxruntime-node/dist -name '*.js'
  find -L $nm/onnxruntime-node/bin/napi-v*/linux/x64 -type f
  echo $nm/onnxruntime-common/package.json
  find -L $nm/onnxruntime-common/dist -name '*.js' -o -name '*.mjs' -o -name package.json
  find -L $nm/onnx-proto/package.json $nm/onnx-proto/dist -name '*.js' -o -name package.json
  find -L $nm/protobufjs -path $nm/protobufjs/cli -prune -o -path $nm/protobufjs/dist -prune -o -type f \( -name '*.js' -o -name '*.json' \) -print
  find -L $nm/long $nm/@protobufjs -type f \( -name '*.js' -o -name package.json \)
} | sort -u > "$list"
tar -chf - -T "$list" | xz -9e -T0 > .device/ort.tar.xz
rm -f "$list"
echo "pack-ort: .device/ort.tar.xz $(du -b .device/ort.tar.xz | cut -f1) bytes ($(( $(du -b .device/ort.tar.xz | cut -f1) / 1048576 )) MiB); unpacked $(xz -dc .device/ort.tar.xz | wc -c) bytes"

#!/usr/bin/env bash
# Builds the bench-only kernel modules (bench/kernels/*.ts) with the library's compiler options
# (asconfig.json, extended by bench/kernels/asconfig.json) into build/, beside the library's.
set -euo pipefail
cd "$(dirname "$0")"
for t in simd relaxed; do ../../node_modules/.bin/asc --config asconfig.json --target "$t"; done

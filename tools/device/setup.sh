#!/usr/bin/env bash
# setup.sh DIR [final]: install what DIR carries (wheels, onnxruntime-gpu parts, provider chunks).
set -euo pipefail
src=$1
mkdir -p /tmp/site /tmp/chunks
if compgen -G "$src/*.whl" >/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$src"/*.whl
fi
if [ -f "$src/ort_rest.tar.xz" ]; then
  mkdir -p /tmp/ortgpu && tar -C /tmp/ortgpu -xJf "$src/ort_rest.tar.xz"
fi
for p in "$src"/cuda_ep.part*; do [ -f "$p" ] && cp "$p" /tmp/chunks/; done
if [ "${2:-}" = final ]; then
  cat /tmp/chunks/cuda_ep.part* | xz -d -T0 > /tmp/ortgpu/onnxruntime/capi/libonnxruntime_providers_cuda.so
  ls -la /tmp/ortgpu/onnxruntime/capi/
fi
ls /tmp/chunks

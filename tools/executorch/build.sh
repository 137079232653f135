#!/usr/bin/env bash
# Build run_pte against the executorch pip wheel's headers and shared libraries (no CMake, no source checkout).
# Usage: tools/executorch/build.sh [OUT] (default: data/run_pte); PYTHON picks the environment.
set -euo pipefail
PYTHON=${PYTHON:-python}
OUT=${1:-data/run_pte}
ET=$("$PYTHON" -c "import importlib.util; print(list(importlib.util.find_spec('executorch').submodule_search_locations)[0])")
mkdir -p "$(dirname "$OUT")"
# --no-as-needed: the XNNPACK delegate and the optimized kernels register themselves when their library loads
g++ -std=c++17 -O2 -D_GLIBCXX_USE_CXX11_ABI=1 -DC10_USING_CUSTOM_GENERATED_MACROS \
  -I "$ET/include" -I "$ET/include/executorch/runtime/core/portable_type/c10" \
  "$(dirname "$0")/run_pte.cpp" -o "$OUT" \
  -L "$ET/lib" -Wl,--no-as-needed -lexecutorch -lexecutorch_backend_xnnpack -lexecutorch_kernels_optimized \
  -lexecutorch_threadpool -Wl,--as-needed -Wl,-rpath,"$ET/lib"
echo "$OUT"

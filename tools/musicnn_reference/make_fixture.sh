#!/usr/bin/env bash
# Make tests/fixtures/musicnn_reference.npz: musicnn's own TensorFlow code on real shared clips.
#
# TensorFlow runs once, here, in a throwaway venv (default /tmp/musicnn-tf-venv; TF_VENV=... to
# move it); it is never a dependency of the project. TF 2.15 is the last release whose
# tf.compat.v1.layers still builds musicnn's TF1 graphs (Keras 3 removed them).
# Run from the repository root after `make install`; needs ../shared/gtzan/clips and PyPI.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PY=${PY:-$ROOT/.venv/bin/python}
TF_VENV=${TF_VENV:-/tmp/musicnn-tf-venv}
TF_PIN=${TF_PIN:-tensorflow-cpu==2.15.1}
CLIPS=${CLIPS:-$ROOT/../shared/gtzan/clips}
OUT=${OUT:-$ROOT/tests/fixtures/musicnn_reference.npz}
WORK=$(mktemp -d /tmp/musicnn-fixture.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
export PYTHONPATH=$ROOT

if [ ! -x "$TF_VENV/bin/python" ]; then
  python3 -m venv "$TF_VENV"
  "$TF_VENV/bin/pip" install -q "$TF_PIN"
fi

# the wheel (never installed): the cached copy that import-pretrained uses, else pip download
WHEEL=$("$PY" -c "from audioconcept.models.pretrained import find_wheel; print(find_wheel())")
SHA=$("$PY" -c "from audioconcept.utils import sha256_file; print(sha256_file('$WHEEL'))")
mkdir -p "$WORK/wheel" && (cd "$WORK/wheel" && "$PY" -m zipfile -e "$WHEEL" .)

"$PY" "$ROOT/tools/musicnn_reference/make_fixture.py" mel --clips "$CLIPS" --out "$WORK/inputs.npz"
"$TF_VENV/bin/python" "$ROOT/tools/musicnn_reference/make_fixture.py" tf \
  --wheel-dir "$WORK/wheel" --inputs "$WORK/inputs.npz" --out "$WORK/tf.npz"
"$PY" "$ROOT/tools/musicnn_reference/make_fixture.py" pack \
  --inputs "$WORK/inputs.npz" --tf "$WORK/tf.npz" --wheel-sha256 "$SHA" --out "$OUT"

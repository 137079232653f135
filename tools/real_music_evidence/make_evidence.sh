#!/usr/bin/env bash
# Evidence behind two front-end decisions of the musicnn bundles (reports/real_music/preprocessing.md):
#   1. resampler: soxr HQ (the runtime's) against resampy kaiser_best (what musicnn's training audio went
#      through, via librosa 0.7);
#   2. window framing: each window framed like a slice of the whole song's mel (the runtime's) against each
#      window's own center=True mel.
# resampy runs once, here, in a throwaway venv (default /tmp/resampy-venv); it is never a dependency.
# Run from the repository root after `make install` and `audioconcept import-pretrained musicnn`.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PY=${PY:-$ROOT/.venv/bin/python}
VENV=${RESAMPY_VENV:-/tmp/resampy-venv}
CLIPS=${CLIPS:-$ROOT/../shared/gtzan/clips}
OUT=${OUT:-$ROOT/reports/real_music}
WORK=$(mktemp -d /tmp/real-music-evidence.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
export PYTHONPATH=$ROOT

if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "resampy==0.4.3" soundfile
fi
"$VENV/bin/python" "$ROOT/tools/real_music_evidence/evidence.py" resample --clips "$CLIPS" --out "$WORK/resampy.npz"
"$PY" "$ROOT/tools/real_music_evidence/evidence.py" compare --clips "$CLIPS" --resampled "$WORK/resampy.npz" \
  --backbone "$ROOT/models/checkpoints/pretrained/MSD_MTT_musicnn" --out "$OUT"

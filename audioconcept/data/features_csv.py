"""The GTZAN `features_30_sec.csv` table (Kaggle format): 57 librosa features per track."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audioconcept.errors import DataSpecError

FEATURE_NAMES: tuple[str, ...] = (
    "chroma_stft_mean",
    "chroma_stft_var",
    "rms_mean",
    "rms_var",
    "spectral_centroid_mean",
    "spectral_centroid_var",
    "spectral_bandwidth_mean",
    "spectral_bandwidth_var",
    "rolloff_mean",
    "rolloff_var",
    "zero_crossing_rate_mean",
    "zero_crossing_rate_var",
    "harmony_mean",
    "harmony_var",
    "perceptr_mean",
    "perceptr_var",
    "tempo",
    *(f"mfcc{i}_{s}" for i in range(1, 21) for s in ("mean", "var")),
)
assert len(FEATURE_NAMES) == 57


@dataclass(frozen=True)
class FeatureTable:
    X: np.ndarray  # (n, 57) float64, columns in FEATURE_NAMES order
    labels: np.ndarray  # (n,) str
    filenames: tuple[str, ...]
    lengths: np.ndarray  # sample counts (not a model feature: it describes the file, not the music)


def read_features_csv(path: str | Path) -> FeatureTable:
    path = Path(path)
    if not path.exists():
        raise DataSpecError(f"{path}: no such file")
    text = path.read_text(encoding="utf-8-sig")
    if not text.strip():
        raise DataSpecError(f"{path}: empty file")
    first = text.splitlines()[0]
    delim = ";" if first.count(";") > first.count(",") else ","
    rows = list(csv.DictReader(io.StringIO(text), delimiter=delim))
    if not rows:
        raise DataSpecError(f"{path}: no rows")
    header = set(rows[0].keys())
    need = {"filename", "label", *FEATURE_NAMES}
    if not need <= header:
        missing = sorted(need - header)
        raise DataSpecError(f"{path}: missing columns {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
    try:
        X = np.array([[float(r[c]) for c in FEATURE_NAMES] for r in rows], dtype=np.float64)
    except ValueError as e:
        raise DataSpecError(f"{path}: non-numeric feature value ({e})") from None
    if not np.isfinite(X).all():
        raise DataSpecError(f"{path}: NaN or Inf feature values")
    lengths = np.array([float(r.get("length") or 0) for r in rows])
    return FeatureTable(X, np.array([r["label"] for r in rows]), tuple(r["filename"] for r in rows), lengths)

"""Concepts derived from librosa descriptors of any dataset, so real-GTZAN users get concept
sets without making them by hand: fast vs slow tempo, percussive vs harmonic, bright vs dark.

Each concept is the top (or bottom) quantile of one descriptor over the dataset's tracks; the
random sets are drawn from the same tracks. The folder layout is the one `concepts learn` reads.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audioconcept.data.features_csv import FEATURE_NAMES
from audioconcept.utils import atomic_dir, atomic_write_json

log = logging.getLogger(__name__)


def _col(name: str) -> int:
    return FEATURE_NAMES.index(name)


def descriptors(X: np.ndarray) -> dict[str, np.ndarray]:
    """Per-track descriptors from the 57 GTZAN features."""
    perc = X[:, _col("perceptr_var")]
    harm = X[:, _col("harmony_var")]
    return {
        "tempo": X[:, _col("tempo")],
        "percussive_ratio": perc / (perc + harm + 1e-12),
        "brightness": X[:, _col("spectral_centroid_mean")],
    }


# concept -> (descriptor, "high" | "low")
DERIVED = {
    "fast": ("tempo", "high"),
    "slow": ("tempo", "low"),
    "percussive": ("percussive_ratio", "high"),
    "harmonic": ("percussive_ratio", "low"),
    "bright": ("brightness", "high"),
    "dark": ("brightness", "low"),
}


@dataclass(frozen=True)
class DerivedConfig:
    data: str
    out: Path
    quantile: float = 0.25
    random_sets: int = 10
    clips_per_random: int = 12
    seed: int = 0


def _link(src: Path, dst: Path) -> None:
    try:
        os.symlink(src.resolve(), dst)
    except OSError:
        shutil.copy2(src, dst)


def derive_concepts(cfg: DerivedConfig) -> dict:
    from audioconcept.data.spec import load_tracks, parse_data_spec
    from audioconcept.models.features import batch_features

    tracks = load_tracks(parse_data_spec(cfg.data)).split("all")
    paths = [t.path for t in tracks]
    X = batch_features(paths)
    desc = descriptors(X)
    rng = np.random.default_rng(cfg.seed)
    summary: dict = {"data": cfg.data, "quantile": cfg.quantile, "concepts": {}}
    with atomic_dir(cfg.out, marker="derived_concepts.json") as tmp:
        for name, (d, side) in DERIVED.items():
            v = desc[d]
            cut = np.quantile(v, 1 - cfg.quantile if side == "high" else cfg.quantile)
            idx = np.flatnonzero(v >= cut if side == "high" else v <= cut)
            (tmp / name).mkdir()
            for i in idx:
                _link(paths[i], tmp / name / f"{i:05d}_{paths[i].name}")
            summary["concepts"][name] = {"descriptor": d, "side": side, "threshold": float(cut), "clips": len(idx)}
        n = min(cfg.clips_per_random, len(paths))
        for k in range(cfg.random_sets):
            (tmp / f"random_{k}").mkdir()
            for i in rng.choice(len(paths), n, replace=False):
                _link(paths[i], tmp / f"random_{k}" / f"{i:05d}_{paths[i].name}")
        atomic_write_json(tmp / "derived_concepts.json", summary)
    return summary

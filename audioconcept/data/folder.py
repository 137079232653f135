"""Folder datasets: one subfolder per label, with a seeded stratified split."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from audioconcept.data.tracks import AUDIO_SUFFIXES, Track, TrackList, drop_unreadable
from audioconcept.errors import DataSpecError


def stratified_split(n: int, seed: int, fractions: tuple[float, float] = (0.7, 0.15)) -> list[str]:
    """Split assignments for `n` items of one label; every split gets one item when n >= 3."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    n_train = max(1, int(round(n * fractions[0]))) if n >= 1 else 0
    n_valid = max(1 if n >= 3 else 0, int(round(n * fractions[1])))
    n_train = min(n_train, n - n_valid - (1 if n >= 3 else 0))
    out = ["test"] * n
    for rank, i in enumerate(order):
        out[i] = "train" if rank < n_train else "valid" if rank < n_train + n_valid else "test"
    return out


def load_folder(root: str | Path, seed: int = 0, name: str = "folder", check_readable: bool = True) -> TrackList:
    root = Path(root)
    if not root.is_dir():
        raise DataSpecError(f"{root}: not a folder")
    label_dirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not label_dirs:
        raise DataSpecError(f"{root}: expected one subfolder per label")
    labels = tuple(d.name for d in label_dirs)
    tracks: list[Track] = []
    for li, d in enumerate(label_dirs):
        files = sorted(p for p in d.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES)
        for p, split in zip(files, stratified_split(len(files), seed + li), strict=True):
            tracks.append(Track(p, d.name, split))
    if not tracks:
        raise DataSpecError(f"{root}: no audio files in the label folders")
    skipped: list[tuple[str, str]] = []
    if check_readable:
        tracks, skipped = drop_unreadable(tracks)
    return TrackList(name, labels, tracks, skipped)


def load_synth(root: str | Path, seed: int = 0, check_readable: bool = True) -> TrackList:
    """A synthetic set written by `audioconcept data synth` (GTZAN layout plus ground truth)."""
    root = Path(root)
    genres = root / "genres"
    if not genres.is_dir():
        raise DataSpecError(f"{root}: not a synthetic dataset (no genres/ folder); run `audioconcept data synth`")
    return load_folder(genres, seed=seed, name="synth", check_readable=check_readable)


def load_ground_truth(root: str | Path) -> dict[str, dict]:
    """path (relative to genres/) -> clip entry of ground_truth.json."""
    p = Path(root) / "ground_truth.json"
    if not p.exists():
        raise DataSpecError(f"{root}: no ground_truth.json")
    data = json.loads(p.read_text())
    return {c["path"]: c for c in data["clips"]}

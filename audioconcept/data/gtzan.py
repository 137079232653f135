"""GTZAN: `genres/<genre>/<genre>.000NN.wav` with the fault-filtered split lists."""

from __future__ import annotations

import logging
from importlib import resources
from pathlib import Path

from audioconcept import GTZAN_GENRES
from audioconcept.data.tracks import SPLITS, Track, TrackList, drop_unreadable
from audioconcept.errors import DataSpecError

log = logging.getLogger(__name__)

SPLIT_FILES = {"train": "train_filtered.txt", "valid": "valid_filtered.txt", "test": "test_filtered.txt"}


def split_list(split: str) -> list[str]:
    """The fault-filtered split (Kereliuk, Sturm & Larsen), shipped as package data."""
    text = resources.files("audioconcept.data").joinpath("splits", SPLIT_FILES[split]).read_text()
    return [line.strip() for line in text.splitlines() if line.strip()]


def find_genres_dir(root: Path) -> Path:
    """Accept `root/genres`, Kaggle's `root/genres_original`, or a root that is the genres folder."""
    root = Path(root)
    for cand in (root / "genres", root / "genres_original", root / "Data" / "genres_original", root):
        if cand.is_dir() and any((cand / g).is_dir() for g in GTZAN_GENRES):
            return cand
    raise DataSpecError(f"{root}: no GTZAN layout found (expected genres/<genre>/<genre>.000NN.wav)")


def load_gtzan(root: str | Path, check_readable: bool = True) -> TrackList:
    genres_dir = find_genres_dir(Path(root))
    tracks, missing = [], []
    for split in SPLITS:
        for rel in split_list(split):
            p = genres_dir / rel
            if p.exists():
                tracks.append(Track(p, rel.split("/")[0], split))
            else:
                missing.append(rel)
    if not tracks:
        raise DataSpecError(f"{genres_dir}: none of the files in the GTZAN split lists exist")
    if missing:
        log.warning("%d file(s) of the GTZAN split lists are missing under %s", len(missing), genres_dir)
    skipped: list[tuple[str, str]] = []
    if check_readable:
        tracks, skipped = drop_unreadable(tracks)
    return TrackList("gtzan", GTZAN_GENRES, tracks, skipped, missing)

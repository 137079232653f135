"""Concept sets on disk: `<root>/<concept>/*.wav` and `<root>/random_<k>/*.wav`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from audioconcept.data.tracks import AUDIO_SUFFIXES
from audioconcept.errors import DataSpecError


@dataclass(frozen=True)
class ConceptSets:
    concepts: dict[str, list[Path]]
    randoms: dict[str, list[Path]]  # random_0 ... random_{K-1}


def read_concept_sets(root: str | Path, min_clips: int = 3) -> ConceptSets:
    root = Path(root)
    if not root.is_dir():
        raise DataSpecError(f"{root}: no concept folder (make one with `audioconcept data concepts`)")
    concepts: dict[str, list[Path]] = {}
    randoms: dict[str, list[Path]] = {}
    for d in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = sorted(f for f in d.iterdir() if f.suffix.lower() in AUDIO_SUFFIXES)
        if len(files) < min_clips:
            continue
        (randoms if d.name.startswith("random_") else concepts)[d.name] = files
    if not concepts:
        raise DataSpecError(f"{root}: no concept folders with at least {min_clips} clips")
    if len(randoms) < 3:
        raise DataSpecError(f"{root}: need at least 3 random_<k> folders (found {len(randoms)})")
    return ConceptSets(concepts, dict(sorted(randoms.items(), key=lambda kv: int(kv[0].split("_")[1]))))

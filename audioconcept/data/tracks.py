"""Track lists: what every dataset loader returns (torch-free)."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from audioconcept.errors import AudioError

log = logging.getLogger(__name__)

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif", ".au", ".opus")
SPLITS = ("train", "valid", "test")


@dataclass(frozen=True)
class Track:
    path: Path
    label: str
    split: str


@dataclass
class TrackList:
    """Tracks of one dataset with its label set; `skipped` lists files that could not be read."""

    name: str
    labels: tuple[str, ...]
    tracks: list[Track]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    def split(self, name: str) -> list[Track]:
        if name not in SPLITS and name != "all":
            raise ValueError(f"unknown split {name!r}; choose from {', '.join(SPLITS)} or all")
        return list(self.tracks) if name == "all" else [t for t in self.tracks if t.split == name]

    def summary(self) -> dict:
        counts = {s: dict(sorted(Counter(t.label for t in self.split(s)).items())) for s in SPLITS}
        return {
            "dataset": self.name,
            "labels": list(self.labels),
            "tracks": {s: sum(c.values()) for s, c in counts.items()},
            "per_label": counts,
            "skipped_unreadable": [{"path": p, "reason": r} for p, r in self.skipped],
            "missing_from_split_lists": len(self.missing),
        }


def readable(path: Path) -> str | None:
    """None if `path` decodes as audio with at least one frame, else the reason."""
    from audioconcept.data.audio import audio_info, load_audio

    try:
        info = audio_info(path)
        if info.frames == 0:
            return "zero-length audio"
        load_audio(path, duration=0.05)  # touch the data, not only the header
    except AudioError as e:
        return str(e)
    return None


def drop_unreadable(tracks: list[Track]) -> tuple[list[Track], list[tuple[str, str]]]:
    good, bad = [], []
    for t in tracks:
        why = readable(t.path)
        if why is None:
            good.append(t)
        else:
            bad.append((str(t.path), why))
    if bad:
        log.warning("skipping %d unreadable file(s): %s", len(bad), "; ".join(b[1] for b in bad[:3]))
    return good, bad

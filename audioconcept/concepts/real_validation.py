"""Concepts against real recordings whose content is known: ../shared/instruments (validation only, never
training), and the 50 shared GTZAN clips (what is certainly absent from them: no sitar, nothing Indian).

The labels and what each label means in concepts; the figures on them are computed by `concepts.validated`
(per concept: ROC-AUC over the recordings, found and falsely present at its threshold) and by
`concepts.real_music_report` (what the runtime calls present on each recording).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

# LABELS.tsv label -> the concepts that must be present on it
LABEL_CONCEPTS: dict[str, tuple[str, ...]] = {
    "piano": ("piano",),
    "violin": ("violin",),
    "cello": ("cello",),
    "strings": ("strings",),
    "orchestra": ("strings",),
    "flute": ("flute",),
    "oboe": ("woodwind",),
    "woodwind": ("woodwind",),
    "saxophone": ("saxophone",),
    "trumpet": ("trumpet",),
    "brass": ("brass",),
    "organ": ("organ",),
    "female voice": ("female voice",),
    "male voice": ("male voice",),
    "voice": ("vocals",),
    "drums": ("drums",),
    "percussion": ("drums",),
    "indian": ("indian",),
}
# the solo that decides "is the labelled instrument present?" for each instrument the issue names
SOLO_CHECKS: dict[str, tuple[str, str]] = {
    "piano": ("piano.wav", "piano"),
    "violin": ("violin-B3.wav", "violin"),
    "cello": ("cello-phrase.wav", "cello"),
    "flute": ("flute-A4.wav", "flute"),
    "oboe (woodwind)": ("oboe-A4.wav", "woodwind"),
    "saxophone": ("sax-phrase.wav", "saxophone"),
    "trumpet": ("trumpet-A4.wav", "trumpet"),
    "organ": ("organ-C3.wav", "organ"),
    "female voice (singing)": ("singing-female.wav", "female voice"),
    "female voice (soprano)": ("soprano-E4.wav", "female voice"),
    "male voice (singing)": ("vignesh.wav", "male voice"),
    "orchestra (strings)": ("orchestra.wav", "strings"),
    "frame drum (drums)": ("bendir.wav", "drums"),
}
NO_MUSIC = ("rain.wav", "ocean.wav")
# labels of a recording that is a voice and nothing else the labels know of (sung or spoken; carnatic.wav, "voice"
# alone, may carry an unlabelled accompaniment and is not one)
VOICE_LABELS = ("female voice", "male voice", "speech")
ABSENT_FROM_GTZAN = ("sitar", "indian")


@dataclass(frozen=True)
class Recording:
    name: str
    labels: tuple[str, ...]
    what: str


def read_labels(folder: Path) -> list[Recording]:
    with open(Path(folder) / "LABELS.tsv", newline="") as f:
        return [
            Recording(r["file"], tuple(x.strip() for x in r["labels"].split(";") if x.strip()), r["what you hear"])
            for r in csv.DictReader(f, delimiter="\t")
        ]


def truth_of(rec: Recording) -> set[str]:
    return {c for lab in rec.labels for c in LABEL_CONCEPTS.get(lab, ())}


def is_voice_recording(rec: Recording) -> bool:
    """A solo voice: no instrument sounds in it, so an instrument detector present on it is wrong."""
    return any(lab in VOICE_LABELS for lab in rec.labels)

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
# sound sources by family: a label or concept of a family (its own name when in none)
SOURCE_FAMILIES: dict[str, tuple[str, ...]] = {
    "strings": ("strings", "violin", "cello", "orchestra"),
    "woodwind": ("woodwind", "flute", "oboe", "saxophone"),
    "brass": ("brass", "trumpet"),
    "guitar": ("guitar", "acoustic guitar", "electric guitar", "distorted guitar"),
    "voice": ("voice", "female voice", "male voice", "vocals", "choir", "speech"),
    "drums": ("drums", "percussion"),
}
# what no orchestral excerpt holds (its other instruments, percussion included, are left open)
ORCHESTRA_LACKS = ("synth", "guitar", "acoustic guitar", "electric guitar", "distorted guitar", "saxophone", "sitar")
# concepts of the instrument and voice categories that name no sound source
NOT_SOURCES = ("acoustic", "solo", "instrumental")


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


def family(name: str) -> str:
    """The family of a sound-source concept or a label (itself when it belongs to none)."""
    return next((f for f, members in SOURCE_FAMILIES.items() if name in members), name)


def known_absent(rec: Recording, concept: str) -> bool:
    """True when `rec` certainly does not hold the sound source `concept`.

    A recording holds what its labels name and nothing else (a solo, a voice, a non-music sound), except an
    orchestra (only what no orchestra plays is known absent: ORCHESTRA_LACKS) and a voice labelled "voice" alone,
    without a gendered voice (carnatic.wav: it may carry an unlabelled accompaniment). A concept of the labels' own
    family (violin on a cello, choir on a singer) is a confusion the figures report, never a known absence."""
    if "orchestra" in rec.labels:
        return concept in ORCHESTRA_LACKS
    if "voice" in rec.labels and not is_voice_recording(rec):
        return False
    return family(concept) not in {family(lab) for lab in rec.labels}

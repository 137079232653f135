"""Concepts against real recordings whose content is known: ../shared/instruments (validation only, never
training), and the 50 shared GTZAN clips (what is certainly absent from them: no sitar, nothing Indian).

A recording's concept strength is its strongest window, as `audioconcept-run` reports a song's. A concept's
figures on the solos: ROC-AUC over the recordings (positives: those labelled with it), and, at the concept's
threshold, which labelled recordings have it present and which others do too.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audioconcept.concepts.embed import WindowOutputs, file_outputs
from audioconcept.concepts.probes import roc_auc

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


def collect(model, folder: Path, names: list[str] | None = None) -> dict[str, WindowOutputs]:
    names = names if names is not None else [r.name for r in read_labels(folder)]
    return {n: file_outputs(model, Path(folder) / n) for n in names}


def song_strengths(outputs: dict[str, WindowOutputs], strength_fn) -> dict[str, np.ndarray]:
    """recording -> (n_concepts,) strongest window of strength_fn(tags, embedding) -> (n_windows, n_concepts)."""
    return {n: np.max(strength_fn(o.tags, o.embedding), axis=0) for n, o in outputs.items()}


def concept_figures(
    recordings: list[Recording], strengths: dict[str, np.ndarray], names: list[str], thresholds: list[float]
) -> dict[str, dict]:
    """Per concept that some recording is labelled with: AUC over the recordings and presence at the threshold."""
    out = {}
    for k, name in enumerate(names):
        truth = np.array([name in truth_of(r) for r in recordings])
        if not truth.any():
            continue
        s = np.array([strengths[r.name][k] for r in recordings])
        present = s >= thresholds[k]
        out[name] = {
            "auc": _r(roc_auc(s, truth)),
            "positives": [r.name for r, t in zip(recordings, truth, strict=True) if t],
            "found": [r.name for r, t, p in zip(recordings, truth, present, strict=True) if t and p],
            "false_present": [r.name for r, t, p in zip(recordings, truth, present, strict=True) if p and not t],
            "n": len(recordings),
        }
    return out


def solo_checks(strengths: dict[str, np.ndarray], names: list[str], thresholds: list[float], may_be_present) -> list:
    rows = []
    for label, (file, concept) in SOLO_CHECKS.items():
        if file not in strengths:
            continue
        if concept not in names:
            rows.append(
                {
                    "instrument": label,
                    "file": file,
                    "concept": concept,
                    "present": False,
                    "strength": None,
                    "note": "no such concept in the bundle",
                }
            )
            continue
        k = names.index(concept)
        s = float(strengths[file][k])
        rows.append(
            {
                "instrument": label,
                "file": file,
                "concept": concept,
                "strength": round(s, 4),
                "threshold": round(float(thresholds[k]), 4),
                "present": bool(s >= thresholds[k] and may_be_present(k)),
            }
        )
    return rows


def present_on(strengths: dict[str, np.ndarray], names: list[str], thresholds: list[float], may_be_present) -> dict:
    """recording -> the concepts present on it."""
    return {
        n: [c for k, c in enumerate(names) if s[k] >= thresholds[k] and may_be_present(k)] for n, s in strengths.items()
    }


def _r(x):
    return None if x is None else round(float(x), 4)

"""A multi-section demo song whose concepts change over time (reggae -> metal -> jazz -> disco)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from audioconcept import SAMPLE_RATE
from audioconcept.data.audio import write_audio
from audioconcept.data.synth.instruments import render_numpy
from audioconcept.data.synth.score import compose, sample_spec
from audioconcept.utils import atomic_write_json

SECTIONS = (
    ("reggae", ("offbeat_skank",)),
    ("metal", ("distorted_guitar", "drums")),
    ("jazz", ("swing", "walking_bass", "piano")),
    ("disco", ("four_on_the_floor", "strings")),
)


def make_demo_song(out: Path, seconds_per_section: float = 30.0, seed: int = 7) -> Path:
    rng = np.random.default_rng(seed)
    parts, truth, t = [], [], 0.0
    for genre, force in SECTIONS:
        spec = sample_spec(genre, rng, seconds_per_section, force_on=force)
        score = compose(spec)
        parts.append(render_numpy(score))
        for c, spans in score.truth.items():
            truth += [{"concept": c, "start": round(t + s, 2), "end": round(t + e, 2)} for s, e in spans]
        t += seconds_per_section
    audio = np.concatenate(parts)
    write_audio(out, audio / max(1e-9, np.abs(audio).max()) * 0.9, SAMPLE_RATE, subtype="PCM_16")
    atomic_write_json(out.with_suffix(".truth.json"), {"sections": [g for g, _ in SECTIONS], "concepts": truth})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=Path("data/demo_song.wav"))
    ap.add_argument("--seconds-per-section", type=float, default=30.0)
    a = ap.parse_args()
    p = make_demo_song(a.out, a.seconds_per_section)
    print(json.dumps({"song": str(p), "truth": str(p.with_suffix(".truth.json"))}))


if __name__ == "__main__":
    main()

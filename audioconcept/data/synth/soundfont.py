"""Play the same score through a General MIDI soundfont (pretty_midi + pyfluidsynth)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from audioconcept import SAMPLE_RATE
from audioconcept.data.synth.score import Score
from audioconcept.errors import MissingExtra

# instrument -> (GM program, is_drum)
GM_PROGRAMS = {
    "bass": 33,
    "piano": 0,
    "strings": 48,
    "dist_guitar": 30,
    "skank": 27,
    "organ": 16,
    "clean_guitar": 25,
    "lead": 73,
    "pluck": 81,
}
DRUMS = {"kick", "snare", "rim", "hat_closed", "hat_open", "ride", "clap", "crash"}


def soundfont_available() -> tuple[bool, str]:
    try:
        import fluidsynth  # noqa: F401
        import pretty_midi  # noqa: F401
    except Exception as e:  # ImportError, or OSError when libfluidsynth is missing
        return False, f"soundfont renderer unavailable: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    return True, ""


def default_soundfont() -> Path:
    import pretty_midi

    return Path(pretty_midi.__file__).parent / "TimGM6mb.sf2"


def render_soundfont(score: Score, sr: int = SAMPLE_RATE, sf2_path: str | None = None) -> np.ndarray:
    ok, why = soundfont_available()
    if not ok:
        raise MissingExtra("pyfluidsynth", "soundfont", why)
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(initial_tempo=score.spec.tempo)
    tracks: dict[str, pretty_midi.Instrument] = {}
    for note in score.notes:
        inst = tracks.get(note.instrument)
        if inst is None:
            is_drum = note.instrument in DRUMS
            inst = pretty_midi.Instrument(
                program=0 if is_drum else GM_PROGRAMS[note.instrument], is_drum=is_drum, name=note.instrument
            )
            tracks[note.instrument] = inst
            pm.instruments.append(inst)
        inst.notes.append(
            pretty_midi.Note(
                velocity=int(np.clip(note.velocity * 110, 1, 127)),
                pitch=int(note.pitch),
                start=float(note.start),
                end=float(note.start + max(note.dur, 0.05)),
            )
        )
    audio = pm.fluidsynth(fs=sr, sf2_path=str(sf2_path or default_soundfont()))
    n = int(round(score.spec.seconds * sr))
    audio = np.pad(audio, (0, max(0, n - audio.size)))[:n].astype(np.float32)
    peak = float(np.abs(audio).max()) or 1.0
    return audio * (0.9 / peak)

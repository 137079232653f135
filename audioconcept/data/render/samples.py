"""A sampled source for the concept audio: real instrument recordings, one note per file, played by
pitch-shifting the nearest recorded note of each instrument.

The recordings are nbrosowsky's tonejs-instruments, as the npm packages `tonejs-instrument-<name>-mp3` pinned in
tools/samples/package-lock.json (`make concept-samples` installs them; MIT). They are other instruments, players
and rooms than the General MIDI soundfonts', so a probe trained on both learns the instrument rather than a
soundfont's recording of it. They are used for training and calibration renders only: the held-out renders stay on
the held-out soundfont, and ../shared/instruments stays a validation set.

A stem whose program has no recording here (drums, synths, choirs ...) is played by a fallback soundfont."""

from __future__ import annotations

import logging
import re
from functools import cache
from pathlib import Path

import numpy as np

from audioconcept.data.render.fluid import StemRenderer

log = logging.getLogger(__name__)

SAMPLED_SOURCE = "tonejs_samples"  # the renders' soundfont_id
PACKAGE = "tonejs-instrument-{}-mp3"
SAMPLES_DIR = Path(__file__).resolve().parents[3] / "tools" / "samples" / "node_modules"
# GM program -> the recorded instrument that plays it. Programs between concepts (viola, electric pianos,
# string sections ...) are left to the fallback soundfont, so the truth of gm.concepts_of stays exact.
PROGRAM_INSTRUMENT: dict[int, str] = {
    0: "piano",
    1: "piano",
    13: "xylophone",
    16: "organ",
    17: "organ",
    18: "organ",
    19: "organ",
    20: "harmonium",
    24: "guitar-nylon",
    25: "guitar-acoustic",
    26: "guitar-electric",
    27: "guitar-electric",
    29: "guitar-electric",  # overdriven and distorted: the clean recording through DISTORTION below
    30: "guitar-electric",
    32: "contrabass",  # acoustic (upright) bass
    33: "bass-electric",
    34: "bass-electric",
    40: "violin",
    42: "cello",
    46: "harp",
    56: "trumpet",
    57: "trombone",
    58: "tuba",
    60: "french-horn",
    64: "saxophone",
    65: "saxophone",
    66: "saxophone",
    67: "saxophone",
    70: "bassoon",
    71: "clarinet",
    73: "flute",
}
# the GM distorted guitars are recordings through an amplifier: the clean recording, driven hard
DISTORTION = {29: 20.0, 30: 30.0}  # program -> drive in dB
STRUCK = ("piano", "xylophone", "guitar-nylon", "guitar-acoustic", "guitar-electric", "bass-electric", "harp")
RELEASE_S = {True: 0.12, False: 0.18}  # fade after a note-off: struck or plucked, sustained
MAX_SHIFT = 5  # semitones a recording is shifted at most; further notes move by octaves towards the recordings
_NAME = re.compile(r"^([A-G])(s?)(\d)\.mp3$")
_PITCH_CLASS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}


def pitch_of(file_name: str) -> int | None:
    """'As4.mp3' -> 70 (MIDI); None for a name that is no note."""
    m = _NAME.match(file_name)
    if not m:
        return None
    letter, sharp, octave = m.groups()
    return 12 * (int(octave) + 1) + _PITCH_CLASS[letter] + (1 if sharp else 0)


def instrument_dir(instrument: str, root: Path = SAMPLES_DIR) -> Path:
    return root / PACKAGE.format(instrument)


def samples_available(root: Path = SAMPLES_DIR) -> tuple[bool, str]:
    missing = sorted({i for i in PROGRAM_INSTRUMENT.values() if not instrument_dir(i, root).is_dir()})
    if missing:
        names = ", ".join(missing)
        return False, f"{len(missing)} sample packages missing under {root} (make concept-samples): {names}"
    return True, ""


@cache
def _recordings(instrument: str, sr: int, root: Path = SAMPLES_DIR) -> dict[int, np.ndarray]:
    """MIDI pitch -> the recorded note, mono float32 at `sr`, from its onset (leading silence cut)."""
    import soundfile as sf
    import soxr

    out = {}
    for f in sorted(instrument_dir(instrument, root).glob("*.mp3")):
        pitch = pitch_of(f.name)
        if pitch is None:
            continue
        y, file_sr = sf.read(f, dtype="float32", always_2d=True)
        y = y.mean(axis=1)
        if file_sr != sr:
            y = soxr.resample(y, file_sr, sr).astype(np.float32)
        peak = float(np.abs(y).max())
        if peak <= 0:
            continue
        onset = int(np.argmax(np.abs(y) > 0.05 * peak))
        out[pitch] = y[max(0, onset - int(0.005 * sr)) :] / peak
    if not out:
        raise FileNotFoundError(f"no recorded notes in {instrument_dir(instrument, root)} (make concept-samples)")
    return out


def _reachable(pitch: int, recorded: np.ndarray) -> int:
    """`pitch` moved by octaves until a recording lies within MAX_SHIFT semitones (as near as possible)."""
    lo, hi = int(recorded.min()) - MAX_SHIFT, int(recorded.max()) + MAX_SHIFT
    while pitch < lo:
        pitch += 12
    while pitch > hi:
        pitch -= 12
    return pitch


class SampleRenderer:
    """Plays note lists with the recorded notes (the StemRenderer interface); other programs through `fallback`."""

    def __init__(self, fallback: StemRenderer, root: Path = SAMPLES_DIR) -> None:
        ok, why = samples_available(root)
        if not ok:
            raise FileNotFoundError(why)
        self.fallback, self.root, self.sr = fallback, root, fallback.sr
        self._shifted: dict[tuple[str, int], np.ndarray] = {}

    @staticmethod
    def plays(program: int, is_drum: bool) -> bool:
        return not is_drum and int(program) in PROGRAM_INSTRUMENT

    def render_stems(self, stems: list[tuple[np.ndarray, int, bool]], n_samples: int) -> list[np.ndarray]:
        out: list[np.ndarray | None] = [None] * len(stems)
        others = [i for i, (_, prog, drum) in enumerate(stems) if not self.plays(prog, drum)]
        if others:
            for i, audio in zip(others, self.fallback.render_stems([stems[i] for i in others], n_samples), strict=True):
                out[i] = audio
        for i, (notes, prog, drum) in enumerate(stems):
            if self.plays(prog, drum):
                out[i] = self._render(np.asarray(notes).reshape(-1, 4), int(prog), n_samples)
        return [np.asarray(a, dtype=np.float32) for a in out]

    def _note(self, instrument: str, pitch: int, recorded: np.ndarray) -> np.ndarray:
        """The recording nearest `pitch` among the `recorded` pitches, shifted to it (cached per instrument and
        pitch)."""
        key = (instrument, pitch)
        if key not in self._shifted:
            import soxr

            rec = _recordings(instrument, self.sr, self.root)
            near = int(recorded[np.argmin(np.abs(recorded - pitch))])
            ratio = 2.0 ** ((pitch - near) / 12.0)
            y = rec[near]
            # played faster by `ratio`: the same samples read as if recorded at sr * ratio
            self._shifted[key] = y if ratio == 1.0 else soxr.resample(y, self.sr * ratio, self.sr).astype(np.float32)
        return self._shifted[key]

    def _render(self, notes: np.ndarray, program: int, n: int) -> np.ndarray:
        instrument = PROGRAM_INSTRUMENT[program]
        recorded = np.array(sorted(_recordings(instrument, self.sr, self.root)))
        release = int(RELEASE_S[instrument in STRUCK] * self.sr)
        fade = np.linspace(1.0, 0.0, release, dtype=np.float32) ** 2
        y = np.zeros(n, np.float32)
        for start, end, pitch, vel in notes:
            on = int(round(start * self.sr))
            if on >= n:
                continue
            note = self._note(instrument, _reachable(int(pitch), recorded), recorded)
            held = max(1, int(round((end - start) * self.sr)))
            seg = note[: held + release].copy()
            if seg.size > held:  # the note-off: a short release, as a player damps or stops the note
                tail = seg[held:]
                tail *= fade[: tail.size]
            seg *= (float(np.clip(vel, 1, 127)) / 127.0) ** 1.6
            stop = min(n, on + seg.size)
            y[on:stop] += seg[: stop - on]
        if program in DISTORTION:
            from audioconcept.data.render import effects

            peak = float(np.abs(y).max())
            if peak > 0:
                drive = [("distortion", {"drive_db": DISTORTION[program], "tone_hz": 5000.0})]
                y = effects.apply(y / peak * 0.3, self.sr, drive)
        return y

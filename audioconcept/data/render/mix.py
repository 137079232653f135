"""Play an arrangement: stems through the soundfont, their effects and gains, the mix, its master effects and
loudness, and a real background under it when the arrangement asks for one."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from audioconcept.data.render import effects
from audioconcept.data.render.arrange import Arrangement
from audioconcept.data.render.fluid import StemRenderer


@dataclass
class Rendered:
    mix: np.ndarray  # float32 mono at sr: what is stored
    stems: list[np.ndarray]  # each stem after its effects and gain, before the master chain, at the mix's scale
    background: np.ndarray | None  # the background as mixed in (at the mix's scale)
    sr: int
    master_gain_db: float


def load_background(path: str, sr: int, seconds: float, offset_s: float) -> np.ndarray:
    """`seconds` of a recording from `offset_s` (wrapped round its length), mono at `sr`."""
    from audioconcept.data.audio import load_audio

    y = load_audio(path, sr=sr)
    n = int(round(seconds * sr))
    start = int(offset_s * sr) % max(1, y.size)
    reps = int(np.ceil((start + n) / max(1, y.size)))
    return np.tile(y, reps)[start : start + n].astype(np.float32)


def render(arr: Arrangement, renderer: StemRenderer) -> Rendered:
    sr = renderer.sr
    n = int(round(arr.seconds * sr))
    raw = renderer.render_stems([(s.notes, s.program, s.is_drum) for s in arr.stems], n)
    stems = []
    for stem, audio in zip(arr.stems, raw, strict=True):
        peak = float(np.abs(audio).max())
        audio = audio / peak * 0.3 if peak > 0 else audio  # a common scale before effects, so drive means the same
        audio = effects.apply(audio, sr, stem.effects)
        rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))
        audio = audio * (0.1 / rms if rms > 0 else 1.0) * 10 ** (stem.gain_db / 20)
        stems.append(audio.astype(np.float32))
    music = np.sum(stems, axis=0).astype(np.float32)
    music = effects.apply(music, sr, arr.master)
    background = None
    if arr.background is not None:
        bg = load_background(arr.background["path"], sr, arr.seconds, arr.background["offset_s"])
        lm, lb = effects.integrated_lufs(music, sr), effects.integrated_lufs(bg, sr)
        if np.isfinite(lm) and np.isfinite(lb):
            background = (bg * 10 ** ((lm + arr.background["gain_db"] - lb) / 20)).astype(np.float32)
            music = music + background
    mix, gain_db = effects.to_loudness(music, sr, arr.target_lufs)
    g = 10 ** (gain_db / 20)
    # the stems as they sit in the stored mix (before the master chain): for per-window levels
    stems = [(s * g).astype(np.float32) for s in stems]
    if background is not None:
        background = (background * g).astype(np.float32)
    return Rendered(mix, stems, background, sr, gain_db)

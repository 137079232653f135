"""Concepts whose truth is a formula, measured on one window of audio: loudness (integrated LUFS), brightness
(spectral centroid), percussive share (the project's HPSS) and tempo (the project's estimator).

The thresholds turn a value into a state: 1 present, 0 absent, -1 uncertain in the band between them. A window
under the audibility floor (`AUDIBLE_FLOOR_LUFS`: silence, dither, a faint hiss or hum) has no timbre, tempo or
mode to measure: only its loudness states are kept, and the rest is absent."""

from __future__ import annotations

import numpy as np

from audioconcept.models.dsp.filterbanks import chroma_filterbank, fft_frequencies, mel_spectrogram, power_to_db
from audioconcept.models.dsp.hpss import hpss_audio
from audioconcept.models.dsp.stft import N_FFT, stft
from audioconcept.models.dsp.tempo import onset_strength, tempo

# state -> (value column, present at, absent at): present at or beyond the first, absent at or beyond the second
THRESHOLDS: dict[str, tuple[str, float, float]] = {
    "fast": ("tempo_bpm", 140.0, 115.0),
    "slow": ("tempo_bpm", 90.0, 105.0),
    "loud": ("loudness_lufs", -14.0, -20.0),
    "quiet": ("loudness_lufs", -28.0, -22.0),
    "bright": ("centroid_hz", 2000.0, 1400.0),
    "dark": ("centroid_hz", 1000.0, 1400.0),
    "percussive": ("percussive_share", 0.2, 0.1),
    "harmonic": ("percussive_share", 0.05, 0.12),
}
MEASURED_CONCEPTS = tuple(THRESHOLDS) + ("minor", "major")
# under this integrated loudness a window is near silence: a spectral centroid or a percussive share of the noise
# floor is a number, not a timbre (the formulas called digital silence and a -80 dBFS hiss bright and percussive,
# and the probes trained on that truth said so of the silent start of a song). Quiet music sits at -45 LUFS and up.
AUDIBLE_FLOOR_LUFS = -50.0
LEVEL_CONCEPTS = ("loud", "quiet")  # what a window under the floor still has


def spectral_centroid(y: np.ndarray, sr: int) -> float:
    """Mean over non-silent frames of the magnitude-weighted mean frequency (models.features' definition)."""
    mag = np.abs(stft(np.asarray(y, dtype=np.float32)))
    total = mag.sum(axis=1)
    ok = total > np.finfo(np.float32).tiny
    if not ok.any():
        return 0.0
    centroid = (mag[ok] @ fft_frequencies(sr, N_FFT)) / total[ok]
    return float(centroid.mean())


def percussive_share(y: np.ndarray) -> float:
    """Energy of the percussive part over the energy of both after harmonic-percussive separation."""
    y = np.asarray(y, dtype=np.float32)
    spec = stft(y)
    harmonic, percussive = hpss_audio(y, spec, np.abs(spec))
    eh, ep = (
        float(np.sum(np.square(harmonic, dtype=np.float64))),
        float(np.sum(np.square(percussive, dtype=np.float64))),
    )
    return ep / (eh + ep) if eh + ep > 0 else 0.0


def estimated_tempo(y: np.ndarray, sr: int) -> float:
    power = np.abs(stft(np.asarray(y, dtype=np.float32))) ** 2
    return tempo(onset_strength(power_to_db(mel_spectrogram(power, sr, N_FFT))), sr)


def chroma_mode(y: np.ndarray, sr: int) -> tuple[str, float]:
    """("major" | "minor", margin): the quality of the triad (root, third, fifth) that best fits the window's
    chroma energy, and how much better it fits than the best triad of the other quality (0..1).

    A chord-quality measure: on three seconds, key profiles (Krumhansl-Schmuckler) mistake a C major triad with
    its harmonics for E minor, triad templates do not. The exact mode of the piece is the score's (`minor`)."""
    power = np.abs(stft(np.asarray(y, dtype=np.float32))) ** 2
    chroma = np.einsum("tf,cf->c", power, chroma_filterbank(sr, N_FFT)).astype(np.float64)
    if chroma.max() <= 0:
        return "major", 0.0
    chroma /= chroma.max()
    best = {}
    for quality, third in (("major", 4), ("minor", 3)):
        best[quality] = max(chroma[r] + chroma[(r + third) % 12] + chroma[(r + 7) % 12] for r in range(12)) / 3
    mode = max(best, key=best.get)
    return mode, float(abs(best["major"] - best["minor"]))


def loudness_lufs(y: np.ndarray, sr: int) -> float:
    """ITU-R BS.1770 integrated loudness (pyloudnorm); -70 for silence (the standard's absolute gate)."""
    from audioconcept.data.render.effects import integrated_lufs

    v = integrated_lufs(y, sr)
    return v if np.isfinite(v) else -70.0


def measure(y: np.ndarray, sr: int) -> dict[str, float]:
    """The measured values of one window."""
    return {
        "tempo_est_bpm": round(estimated_tempo(y, sr), 2),
        "loudness_lufs": round(loudness_lufs(y, sr), 2),
        "centroid_hz": round(spectral_centroid(y, sr), 1),
        "percussive_share": round(percussive_share(y), 4),
        "chroma_mode": (mode := chroma_mode(y, sr))[0],
        "chroma_mode_r": round(mode[1], 3),
    }


def inaudible(values: dict[str, float]) -> bool:
    """True when the window's measured loudness is under the audibility floor."""
    lufs = values.get("loudness_lufs")
    return lufs is not None and float(lufs) < AUDIBLE_FLOOR_LUFS


def states(values: dict[str, float]) -> dict[str, int]:
    """The thresholded states of the values present in `values` (tempo_bpm, loudness_lufs, ...); under the
    audibility floor every measured concept but loudness is absent (major and minor too, whatever the score says)."""
    from audioconcept.data.render.truth import ABSENT, state

    out = {c: state(values[col], hi, lo) for c, (col, hi, lo) in THRESHOLDS.items() if col in values}
    if inaudible(values):
        out.update({c: ABSENT for c in MEASURED_CONCEPTS if c not in LEVEL_CONCEPTS})
    return out

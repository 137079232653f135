"""Harmonic-percussive source separation (librosa.effects.hpss defaults): median filters 31 bins
wide along time (harmonic) and along frequency (percussive) of the magnitude spectrogram, soft
masks with power 2; the harmonic spectrum is inverted back to audio and the percussive audio is
the rest."""

from __future__ import annotations

import numpy as np

from audioconcept.models.dsp.median import median_filter
from audioconcept.models.dsp.stft import istft

KERNEL = 31


def harmonic_mask(harm: np.ndarray, perc: np.ndarray) -> np.ndarray:
    """librosa.util.softmask(harm, perc, power=2, split_zeros=True), computed in place in `harm`
    (`perc` is overwritten too): bins silent in both get 0.5. The percussive mask is one minus this."""
    z = np.maximum(harm, perc)
    silent = z < np.finfo(z.dtype).tiny
    z[silent] = 1
    harm /= z
    harm **= 2
    perc /= z
    perc **= 2
    del z
    perc += harm
    perc[silent] = 1
    harm /= perc
    harm[silent] = 0.5
    return harm


def hpss_mask(mag: np.ndarray, kernel: int = KERNEL) -> np.ndarray:
    """Harmonic soft mask of a (frames, bins) magnitude spectrogram."""
    harm = median_filter(mag, kernel, axis=0)  # along time
    perc = median_filter(mag, kernel, axis=1)  # along frequency
    return harmonic_mask(harm, perc)


def hpss_audio(y: np.ndarray, spec: np.ndarray, mag: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(harmonic, percussive) float32 audio from `y` and its centred spectrum.

    The two masks sum to one and the STFT inverts exactly, so the percussive part is
    `y - harmonic`: one inverse STFT instead of two (librosa inverts both; the results agree
    to float32 rounding)."""
    harmonic = istft(spec, y.size, mask=hpss_mask(mag))
    return harmonic, y - harmonic

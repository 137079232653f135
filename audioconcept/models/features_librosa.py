"""The reference: the 57 GTZAN features computed with librosa, as the Kaggle table's script calls it.

Only the tests and the benchmark import this (it needs the `train` extra); everything else uses
`audioconcept.models.features`, the numpy implementation that these calls define.
"""

from __future__ import annotations

import numpy as np

from audioconcept import SAMPLE_RATE
from audioconcept.data.features_csv import FEATURE_NAMES
from audioconcept.errors import MissingExtra


def _librosa():
    try:
        import librosa
    except ImportError:
        raise MissingExtra("librosa", "train", "the librosa reference features") from None
    return librosa


def extract_features_librosa(y: np.ndarray, sr: int = SAMPLE_RATE) -> np.ndarray:
    """(57,) float64 in FEATURE_NAMES order, with librosa's default arguments."""
    from audioconcept.models.jit_lock import first_jit_use

    with first_jit_use():  # parallel processes must not compile numba's cache at once (see jit_lock)
        return _extract_features_librosa(y, sr)


def _extract_features_librosa(y: np.ndarray, sr: int) -> np.ndarray:
    librosa = _librosa()
    y = np.asarray(y, dtype=np.float32)
    if y.size < 2048:
        y = np.pad(y, (0, 2048 - y.size))
    chroma = librosa.feature.chroma_stft(y=y, sr=sr)
    rms = librosa.feature.rms(y=y)
    centroid = librosa.feature.spectral_centroid(y=y, sr=sr)
    bandwidth = librosa.feature.spectral_bandwidth(y=y, sr=sr)
    rolloff = librosa.feature.spectral_rolloff(y=y, sr=sr)
    zcr = librosa.feature.zero_crossing_rate(y)
    harmonic, percussive = librosa.effects.hpss(y)
    tempo = float(np.atleast_1d(librosa.feature.tempo(y=y, sr=sr))[0])
    mfcc = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=20)
    feats: list[float] = []
    for a in (chroma, rms, centroid, bandwidth, rolloff, zcr, harmonic, percussive):
        feats += [float(np.mean(a)), float(np.var(a))]
    feats.append(tempo)
    for row in mfcc:
        feats += [float(np.mean(row)), float(np.var(row))]
    out = np.asarray(feats, dtype=np.float64)
    assert out.shape == (len(FEATURE_NAMES),)
    return out

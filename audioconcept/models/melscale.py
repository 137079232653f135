"""Mel filterbanks in numpy (torch-free, librosa-free): the HTK scale without normalisation, as
torchaudio builds it by default, and the Slaney scale with Slaney (area) normalisation, as
librosa builds it by default. The torch front end and the runtime's numpy front end share them.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

MEL_SCALES = ("htk", "slaney")
NORMS = (None, "slaney")

# Slaney's Auditory Toolbox: linear below 1 kHz (3 bands per 200 Hz), logarithmic above
_F_SP = 200.0 / 3
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOGSTEP = np.log(6.4) / 27.0


def hz_to_mel(f, scale: str = "htk") -> np.ndarray:
    f = np.asarray(f, dtype=np.float64)
    if scale == "htk":
        return 2595.0 * np.log10(1.0 + f / 700.0)
    mel = f / _F_SP
    log_part = _MIN_LOG_MEL + np.log(np.maximum(f, _MIN_LOG_HZ) / _MIN_LOG_HZ) / _LOGSTEP
    return np.where(f >= _MIN_LOG_HZ, log_part, mel)


def mel_to_hz(m, scale: str = "htk") -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    if scale == "htk":
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    hz = _F_SP * m
    log_part = _MIN_LOG_HZ * np.exp(_LOGSTEP * (np.maximum(m, _MIN_LOG_MEL) - _MIN_LOG_MEL))
    return np.where(m >= _MIN_LOG_MEL, log_part, hz)


def check_mel_options(mel_scale: str, norm: str | None) -> None:
    if mel_scale not in MEL_SCALES:
        raise ValueError(f"mel_scale must be one of {MEL_SCALES}, not {mel_scale!r}")
    if norm not in NORMS:
        raise ValueError(f"mel norm must be one of {NORMS}, not {norm!r}")


@lru_cache(maxsize=8)
def mel_filterbank(
    sample_rate: int,
    n_fft: int,
    n_mels: int,
    f_min: float,
    f_max: float,
    mel_scale: str = "htk",
    norm: str | None = None,
) -> np.ndarray:
    """(n_freqs, n_mels) float32 triangular filters.

    ("htk", None) = torchaudio's melscale_fbanks default; ("slaney", "slaney") = librosa's
    filters.mel default (each triangle scaled by 2 / its width in Hz, so that bands of any width
    carry about the same energy)."""
    check_mel_options(mel_scale, norm)
    n_freqs = n_fft // 2 + 1
    if mel_scale == "htk":  # torchaudio's frequency grid, kept bit for bit
        all_freqs = np.linspace(0, sample_rate // 2, n_freqs)
    else:  # librosa's: the rfft bin centres
        all_freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    m_pts = np.linspace(hz_to_mel(f_min, mel_scale), hz_to_mel(f_max, mel_scale), n_mels + 2)
    f_pts = mel_to_hz(m_pts, mel_scale)
    f_diff = f_pts[1:] - f_pts[:-1]
    slopes = f_pts[None, :] - all_freqs[:, None]
    down = -slopes[:, :-2] / f_diff[:-1]
    up = slopes[:, 2:] / f_diff[1:]
    fb = np.maximum(0.0, np.minimum(down, up))
    if norm == "slaney":
        fb = fb * (2.0 / (f_pts[2 : n_mels + 2] - f_pts[:n_mels]))[None, :]
    return np.ascontiguousarray(fb, dtype=np.float32)

"""Centred short-time Fourier transform and its inverse, as librosa 0.11 computes them.

Periodic Hann window, frames centred on `t * hop` with zero padding, FFT in float64 and the
spectrum kept as complex64 (librosa's dtype for float32 audio). Spectrograms are (frames, bins).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

N_FFT = 2048
HOP = 512
_BLOCK = 256  # frames per FFT call: bounds the float64 scratch memory to a few MB


@lru_cache(maxsize=8)
def hann(n: int) -> np.ndarray:
    """Periodic Hann window, float64 (scipy.signal.get_window('hann', n), read-only)."""
    fac = np.linspace(-np.pi, np.pi, n + 1)
    w = (0.5 + 0.5 * np.cos(fac))[:n]
    w.flags.writeable = False
    return w


def n_frames(n_samples: int, hop: int = HOP) -> int:
    return 1 + n_samples // hop


def centred_frames(y: np.ndarray, n_fft: int = N_FFT, hop: int = HOP, mode: str = "constant") -> np.ndarray:
    """(frames, n_fft) read-only view of `y` padded by n_fft // 2 on each side."""
    yp = np.pad(y, n_fft // 2, mode=mode)
    return sliding_window_view(yp, n_fft)[::hop][: n_frames(y.size, hop)]


def stft(y: np.ndarray, n_fft: int = N_FFT, hop: int = HOP) -> np.ndarray:
    """(frames, 1 + n_fft // 2) complex64 spectrum of float32 audio."""
    frames = centred_frames(y, n_fft, hop)
    w = hann(n_fft)
    out = np.empty((frames.shape[0], n_fft // 2 + 1), np.complex64)
    for a in range(0, frames.shape[0], _BLOCK):
        out[a : a + _BLOCK] = np.fft.rfft(frames[a : a + _BLOCK] * w, axis=-1)
    return out


def _overlap_add(frames: np.ndarray, hop: int, out: np.ndarray, start: int) -> None:
    """Add (k, n_fft) frames, hop apart, into `out` from sample `start` (n_fft a multiple of hop)."""
    k, n = frames.shape
    q = n // hop
    quarters = frames.reshape(k, q, hop)
    blocks = out[start : start + (k + q - 1) * hop].reshape(k + q - 1, hop)
    for i in range(q):
        blocks[i : i + k] += quarters[:, i]


@lru_cache(maxsize=8)
def _window_sumsquare(n: int, n_fft: int, hop: int) -> np.ndarray:
    out = np.zeros(n_fft + hop * (n - 1))
    _overlap_add(np.broadcast_to(hann(n_fft) ** 2, (n, n_fft)), hop, out, 0)
    out = out.astype(np.float32)
    out.flags.writeable = False
    return out


def istft(
    spec: np.ndarray, length: int, mask: np.ndarray | None = None, n_fft: int = N_FFT, hop: int = HOP
) -> np.ndarray:
    """float32 audio of `length` samples from a centred (frames, bins) spectrum (librosa.istft),
    multiplied by `mask` first when one is given (block by block: no masked copy of the spectrum).

    Like librosa, the windowed frames are summed in float32."""
    if n_fft % hop:
        raise ValueError("n_fft must be a multiple of hop")
    n = min(spec.shape[0], -(-(length + 2 * (n_fft // 2)) // hop))
    w = hann(n_fft).astype(np.float32)
    acc = np.zeros(n_fft + hop * (n - 1), np.float32)
    for a in range(0, n, _BLOCK):
        b = min(a + _BLOCK, n)
        block = spec[a:b] if mask is None else spec[a:b] * mask[a:b]
        frames = np.fft.irfft(block, n=n_fft, axis=-1)
        frames *= w
        _overlap_add(frames, hop, acc, a * hop)
    start = n_fft // 2
    m = min(length, acc.size - start)
    y = np.zeros(length, np.float32)
    y[:m] = acc[start : start + m]
    norm = np.zeros(length, np.float32)
    norm[:m] = _window_sumsquare(n, n_fft, hop)[start : start + m]
    ok = norm > np.finfo(np.float32).tiny
    y[ok] /= norm[ok]
    return y

"""Global tempo (librosa.feature.tempo defaults): onset strength from the dB mel spectrogram,
8 s autocorrelation tempogram averaged over the clip, log-normal prior around 120 BPM, at most 320 BPM."""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from audioconcept.models.dsp.stft import HOP, N_FFT, hann


def onset_strength(mel_db: np.ndarray, n_fft: int = N_FFT, hop: int = HOP) -> np.ndarray:
    """(frames,) float32 spectral flux of a (frames, n_mels) dB mel spectrogram, centred like librosa."""
    bands_first = np.ascontiguousarray(mel_db.T)
    flux = np.maximum(0.0, bands_first[:, 1:] - bands_first[:, :-1])
    env = np.mean(flux, axis=0)  # librosa's order of summation: band by band
    return np.pad(env, (1 + n_fft // (2 * hop), 0))[: mel_db.shape[0]]


def _next_fast_len(n: int) -> int:
    """Smallest 2**a 3**b 5**c >= n (scipy.fft.next_fast_len for real input)."""
    best = None
    p5 = 1
    while p5 < 2 * n:
        p35 = p5
        while p35 < 2 * n:
            p = p35
            while p < n:
                p *= 2
            best = p if best is None else min(best, p)
            p35 *= 3
        p5 *= 5
    return best


def tempogram_mean(env: np.ndarray, win: int) -> np.ndarray:
    """(win,) mean over frames of the autocorrelation tempogram, each frame divided by its peak.

    A frame's autocorrelation peaks at lag 0, so the mean of the normalised frames is the
    inverse FFT of the mean of their power spectra, each divided by its frame's lag-0 value:
    one inverse FFT instead of one per frame."""
    n = env.size
    padded = np.pad(env, win // 2, mode="linear_ramp", end_values=0)
    frames = sliding_window_view(padded, win)[:n] * hann(win)
    size = _next_fast_len(2 * win - 1)
    spec = np.fft.rfft(frames, n=size, axis=-1)
    power = spec.real**2 + spec.imag**2
    weights = np.full(power.shape[1], 2.0)
    weights[0] = 1.0
    if size % 2 == 0:
        weights[-1] = 1.0
    lag0 = np.einsum("tf,f->t", power, weights) / size
    lag0[lag0 < np.finfo(lag0.dtype).tiny] = 1.0
    mean_power = (power / lag0[:, None]).mean(axis=0)
    return np.fft.irfft(mean_power, n=size)[:win]


def tempo(
    env: np.ndarray,
    sr: float,
    hop: int = HOP,
    start_bpm: float = 120.0,
    std_bpm: float = 1.0,
    ac_size: float = 8.0,
    max_tempo: float = 320.0,
) -> float:
    """Beats per minute from an onset strength envelope (frames `hop` apart)."""
    win = int(np.floor(int(ac_size * sr) // hop))
    tg = tempogram_mean(env, win)
    bpms = np.empty(win)
    bpms[0] = np.inf
    bpms[1:] = 60.0 * sr / (hop * np.arange(1.0, win))
    logprior = -0.5 * ((np.log2(bpms) - np.log2(start_bpm)) / std_bpm) ** 2
    logprior[: int(np.argmax(bpms < max_tempo))] = -np.inf
    return float(bpms[np.argmax(np.log1p(1e6 * tg) + logprior)])

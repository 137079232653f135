"""Frequency scales and filterbanks: mel (Slaney), chroma, DCT-II, decibels (librosa 0.11).

Products with the filterbanks avoid BLAS: a multithreaded BLAS spends more time waking and
spinning its threads than multiplying these small matrices (it doubled the CPU time of the
features on a 2-core machine), and feature extraction already runs one process per core."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from audioconcept.models.melscale import hz_to_mel, mel_to_hz


def fft_frequencies(sr: float, n_fft: int) -> np.ndarray:
    return np.fft.rfftfreq(n=n_fft, d=1.0 / sr)


@lru_cache(maxsize=4)
def mel_filterbank(sr: float, n_fft: int, n_mels: int = 128) -> np.ndarray:
    """(n_mels, 1 + n_fft // 2) float32 Slaney-normalised triangles from 0 Hz to sr / 2."""
    fftfreqs = fft_frequencies(sr, n_fft)
    mel_f = mel_to_hz(np.linspace(hz_to_mel(0.0, "slaney"), hz_to_mel(sr / 2.0, "slaney"), n_mels + 2), "slaney")
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, fftfreqs)
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper)).astype(np.float32)
    weights *= (2.0 / (mel_f[2 : n_mels + 2] - mel_f[:n_mels]))[:, None]
    weights.flags.writeable = False
    return weights


@lru_cache(maxsize=4)
def _mel_bands(sr: float, n_fft: int, n_mels: int) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], ...] | None:
    """Even and odd mel triangles do not overlap among themselves: for each parity, one weight per
    bin and the first bin of each band. None if a band is empty (then `mel_spectrogram` multiplies)."""
    fb = mel_filterbank(sr, n_fft, n_mels)
    parts = []
    for parity in (0, 1):
        bands = np.arange(parity, n_mels, 2)
        w = np.zeros(fb.shape[1], np.float32)
        starts = []
        for m in bands:
            nz = np.flatnonzero(fb[m])
            if nz.size == 0 or (starts and nz[0] <= starts[-1]) or np.any(w[nz]):
                return None
            w[nz] = fb[m, nz]
            starts.append(int(nz[0]))
        parts.append((bands, np.asarray(starts), w))
    return tuple(parts)


def mel_spectrogram(power: np.ndarray, sr: float, n_fft: int, n_mels: int = 128) -> np.ndarray:
    """(frames, n_mels) float32 mel power of a (frames, bins) power spectrogram."""
    bands = _mel_bands(sr, n_fft, n_mels)
    if bands is None:
        return np.einsum("tf,mf->tm", power, mel_filterbank(sr, n_fft, n_mels))
    out = np.empty((power.shape[0], n_mels), np.float32)
    for index, starts, w in bands:
        out[:, index] = np.add.reduceat(power * w, starts, axis=1)
    return out


def hz_to_octs(f: np.ndarray, tuning: float = 0.0, bins_per_octave: int = 12) -> np.ndarray:
    a440 = 440.0 * 2.0 ** (tuning / bins_per_octave)
    return np.log2(np.asanyarray(f) / (float(a440) / 16))


@lru_cache(maxsize=16)
def chroma_filterbank(sr: float, n_fft: int, tuning: float = 0.0, n_chroma: int = 12) -> np.ndarray:
    """(n_chroma, 1 + n_fft // 2) float32 chroma weights starting at C (librosa.filters.chroma defaults:
    Gaussian bumps, column L2 norm, octave weighting centred on octave 5, two octaves wide)."""
    frequencies = np.linspace(0, sr, n_fft, endpoint=False)[1:]
    frqbins = n_chroma * hz_to_octs(frequencies, tuning=tuning, bins_per_octave=n_chroma)
    frqbins = np.concatenate(([frqbins[0] - 1.5 * n_chroma], frqbins))
    binwidthbins = np.concatenate((np.maximum(frqbins[1:] - frqbins[:-1], 1.0), [1]))
    d = np.subtract.outer(frqbins, np.arange(0, n_chroma, dtype="d")).T
    half = np.round(float(n_chroma) / 2)
    d = np.remainder(d + half + 10 * n_chroma, n_chroma) - half
    wts = np.exp(-0.5 * (2 * d / np.tile(binwidthbins, (n_chroma, 1))) ** 2)
    length = np.sqrt(np.sum(wts**2, axis=0, keepdims=True))
    wts = wts / np.where(length < np.finfo(np.float64).tiny, 1.0, length)
    wts *= np.tile(np.exp(-0.5 * (((frqbins / n_chroma - 5.0) / 2) ** 2)), (n_chroma, 1))
    wts = np.roll(wts, -3 * (n_chroma // 12), axis=0)
    out = np.ascontiguousarray(wts[:, : int(1 + n_fft / 2)], dtype=np.float32)
    out.flags.writeable = False
    return out


@lru_cache(maxsize=4)
def dct_matrix(n_out: int, n_in: int) -> np.ndarray:
    """(n_out, n_in) float64 orthonormal DCT-II (scipy.fft.dct(type=2, norm='ortho'))."""
    n = np.arange(n_in)
    k = np.arange(n_out)[:, None]
    m = np.cos(np.pi * k * (2 * n + 1) / (2 * n_in)) * np.sqrt(2.0 / n_in)
    m[0] /= np.sqrt(2.0)
    m.flags.writeable = False
    return m


def power_to_db(s: np.ndarray, amin: float = 1e-10, top_db: float = 80.0) -> np.ndarray:
    """10 log10(power) relative to 1.0, floored at `top_db` below the peak."""
    log_spec = 10.0 * np.log10(np.maximum(amin, s))
    return np.maximum(log_spec, log_spec.max() - top_db)

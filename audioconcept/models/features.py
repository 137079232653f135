"""The 57 GTZAN features (`features_30_sec.csv` definitions) in numpy, cached and parallel.

One implementation for training and the torch-free runtime: no librosa, numba, scipy or
sklearn. It reproduces librosa 0.11's calls of the Kaggle table's extraction script
(chroma_stft with tuning estimation, rms, spectral centroid / bandwidth / rolloff,
zero-crossing rate, HPSS waveforms, tempo, 20 MFCCs; each as mean and variance) from a
single STFT; `features_librosa.extract_features_librosa` is the reference the tests compare with.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audioconcept import SAMPLE_RATE
from audioconcept.data.features_csv import FEATURE_NAMES
from audioconcept.models.dsp.filterbanks import (
    chroma_filterbank,
    dct_matrix,
    fft_frequencies,
    mel_spectrogram,
    power_to_db,
)
from audioconcept.models.dsp.hpss import hpss_audio
from audioconcept.models.dsp.stft import HOP, N_FFT, n_frames, stft
from audioconcept.models.dsp.tempo import onset_strength, tempo
from audioconcept.models.dsp.tuning import estimate_tuning

log = logging.getLogger(__name__)

EXTRACTOR_VERSION = "gtzan57-v2-numpy"
MIN_SAMPLES = N_FFT  # shorter audio is zero-padded to one frame (as before)
N_MFCC = 20
ROLL_PERCENT = 0.85
ZC_THRESHOLD = np.float32(1e-10)


class _Clock:
    """Per-step wall times in ms, when asked for."""

    def __init__(self, out: dict[str, float] | None) -> None:
        self.out, self.t = out, time.perf_counter()

    def lap(self, step: str) -> None:
        if self.out is not None:
            now = time.perf_counter()
            self.out[step] = self.out.get(step, 0.0) + (now - self.t) * 1e3
            self.t = now


def _normalise_max(x: np.ndarray) -> np.ndarray:
    """Each frame (row) divided by its largest magnitude; silent frames left as they are."""
    peak = np.max(np.abs(x), axis=1, keepdims=True).astype(np.float64)
    peak[peak < np.finfo(x.dtype).tiny] = 1.0
    return (x / peak).astype(x.dtype)


def _rms(y: np.ndarray) -> np.ndarray:
    """Root mean square of each centred 2048-sample frame (zero padded), from 512-sample block sums."""
    yp = np.pad(y.astype(np.float64), N_FFT // 2)
    t = n_frames(y.size)
    k = N_FFT // HOP
    blocks = np.square(yp[: (t + k - 1) * HOP]).reshape(-1, HOP).sum(axis=1)
    sums = sum(blocks[q : q + t] for q in range(k))
    return np.sqrt(sums / N_FFT)


def _zero_crossing_rate(y: np.ndarray) -> np.ndarray:
    """Share of sign changes in each centred frame (edge padded; |x| <= 1e-10 counts as positive)."""
    yp = np.pad(y, N_FFT // 2, mode="edge")
    negative = yp < -ZC_THRESHOLD
    counts = np.concatenate(([0], np.cumsum(negative[1:] != negative[:-1], dtype=np.int32)))
    starts = np.arange(n_frames(y.size)) * HOP
    return (counts[starts + N_FFT - 1] - counts[starts]) / N_FFT


def _spectral_shape(mag: np.ndarray, sr: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-frame spectral centroid, bandwidth (p = 2) and 85 % rolloff of a magnitude spectrogram."""
    freqs = fft_frequencies(sr, N_FFT)
    moments = np.einsum("tf,kf->tk", mag, np.stack([np.ones_like(freqs), freqs, freqs**2]))  # float64
    total = moments[:, 0]
    silent = total < np.finfo(np.float32).tiny
    total = np.where(silent, 1.0, total)
    centroid = np.where(silent, 0.0, moments[:, 1] / total)
    spread = moments[:, 2] / total - centroid**2
    bandwidth = np.where(silent, 0.0, np.sqrt(np.maximum(spread, 0.0)))
    cumulative = np.cumsum(mag, axis=1)
    reached = cumulative >= ROLL_PERCENT * cumulative[:, -1:]
    rolloff = freqs[np.argmax(reached, axis=1)]
    return centroid, bandwidth, rolloff


def extract_features(y: np.ndarray, sr: int = SAMPLE_RATE, timings: dict[str, float] | None = None) -> np.ndarray:
    """(57,) float64 in FEATURE_NAMES order, as the Kaggle GTZAN table defines them.

    `timings`, when given, receives the milliseconds spent in each step."""
    clock = _Clock(timings)
    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 1:
        raise ValueError("extract_features needs mono audio (one dimension)")
    if y.size < MIN_SAMPLES:
        y = np.pad(y, (0, MIN_SAMPLES - y.size))
    spec = stft(y)
    clock.lap("stft")
    mag = np.abs(spec)
    power = mag * mag
    clock.lap("magnitude")
    tuning = estimate_tuning(power, sr, N_FFT)
    chroma = _normalise_max(np.einsum("tf,cf->tc", power, chroma_filterbank(sr, N_FFT, tuning)))
    clock.lap("chroma")
    centroid, bandwidth, rolloff = _spectral_shape(mag, sr)
    clock.lap("spectral shape")
    rms = _rms(y)
    zcr = _zero_crossing_rate(y)
    clock.lap("rms + zcr")
    mel_db = power_to_db(mel_spectrogram(power, sr, N_FFT))
    del power
    mfcc = np.einsum("tm,km->tk", mel_db, dct_matrix(N_MFCC, mel_db.shape[1]))  # float64
    clock.lap("mfcc")
    bpm = tempo(onset_strength(mel_db), sr)
    clock.lap("tempo")
    harmonic, percussive = hpss_audio(y, spec, mag)
    del spec, mag
    clock.lap("hpss")
    feats: list[float] = []
    for a in (chroma, rms, centroid, bandwidth, rolloff, zcr, harmonic, percussive):
        feats += [float(np.mean(a, dtype=np.float64)), float(np.var(a, dtype=np.float64))]
    feats.append(bpm)
    for col in mfcc.T:
        feats += [float(np.mean(col)), float(np.var(col))]
    out = np.asarray(feats, dtype=np.float64)
    assert out.shape == (len(FEATURE_NAMES),)
    clock.lap("statistics")
    return out


@dataclass(frozen=True)
class FeatureCache:
    root: Path

    @staticmethod
    def default() -> FeatureCache:
        from audioconcept.utils import cache_root

        return FeatureCache(cache_root() / "features")

    def key(self, path: Path, duration: float | None) -> str:
        st = path.stat()
        raw = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{EXTRACTOR_VERSION}|{SAMPLE_RATE}|{duration}"
        return hashlib.sha1(raw.encode()).hexdigest()

    def get(self, key: str) -> np.ndarray | None:
        p = self.root / key[:2] / f"{key}.npy"
        if p.exists():
            try:
                return np.load(p)
            except (OSError, ValueError):
                return None
        return None

    def put(self, key: str, value: np.ndarray) -> None:
        p = self.root / key[:2] / f"{key}.npy"
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_suffix(f".{os.getpid()}.tmp.npy")
        np.save(tmp, value)
        os.replace(tmp, p)


def file_features(path: str | Path, cache: FeatureCache | None = None, duration: float | None = 30.0) -> np.ndarray:
    from audioconcept.data.audio import load_audio

    path = Path(path)
    key = cache.key(path, duration) if cache else ""
    if cache and (hit := cache.get(key)) is not None:
        return hit
    feats = extract_features(load_audio(path, duration=duration))
    if cache:
        cache.put(key, feats)
    return feats


def batch_features(
    paths: Sequence[str | Path], cache: FeatureCache | None = None, n_jobs: int = -1, duration: float | None = 30.0
) -> np.ndarray:
    """(n, 57) features for many files, spread over the cores; cached per file."""
    from joblib import Parallel, delayed
    from rich.progress import Progress

    cache = cache or FeatureCache.default()
    todo = [i for i, p in enumerate(paths) if cache.get(cache.key(Path(p), duration)) is None]
    if todo:
        with Progress(transient=True) as bar:
            task = bar.add_task(f"features for {len(todo)} file(s)", total=len(todo))
            for _ in Parallel(n_jobs=n_jobs, return_as="generator")(
                delayed(file_features)(paths[i], cache, duration) for i in todo
            ):
                bar.advance(task)
    return np.stack([file_features(p, cache, duration) for p in paths])

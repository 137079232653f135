"""The 57 GTZAN features (`features_30_sec.csv` definitions) computed with librosa, cached and parallel.

Torch-free: the runtime uses it to score SVM bundles.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audioconcept import SAMPLE_RATE
from audioconcept.data.features_csv import FEATURE_NAMES
from audioconcept.errors import MissingExtra

log = logging.getLogger(__name__)

EXTRACTOR_VERSION = "gtzan57-v1"


def _librosa():
    try:
        import librosa
    except ImportError:
        raise MissingExtra("librosa", "train", "computing the SVM's audio features") from None
    return librosa


def extract_features(y: np.ndarray, sr: int = SAMPLE_RATE) -> np.ndarray:
    """(57,) float64 in FEATURE_NAMES order, as the Kaggle GTZAN table defines them."""
    from audioconcept.models.jit_lock import first_jit_use

    with first_jit_use():  # parallel processes must not compile numba's cache at once (see jit_lock)
        return _extract_features(y, sr)


def _extract_features(y: np.ndarray, sr: int) -> np.ndarray:
    librosa = _librosa()
    y = np.asarray(y, dtype=np.float32)
    if y.size < 2048:
        y = np.pad(y, (0, 2048 - y.size))
    # the calls (and so the defaults) of the Kaggle table's extraction script
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


@dataclass(frozen=True)
class FeatureCache:
    root: Path

    @staticmethod
    def default() -> FeatureCache:
        base = os.environ.get("AUDIOCONCEPT_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "audioconcept")
        return FeatureCache(Path(base) / "features")

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


def warm_up_numba() -> None:
    """Compile librosa's numba kernels once in this process before workers start: workers that
    compile them at the same time write the same on-disk cache files and can corrupt them (a
    corrupted cache segfaults every later process)."""
    rng = np.random.default_rng(0)
    extract_features((0.1 * rng.standard_normal(SAMPLE_RATE)).astype(np.float32))


def batch_features(
    paths: Sequence[str | Path], cache: FeatureCache | None = None, n_jobs: int = -1, duration: float | None = 30.0
) -> np.ndarray:
    """(n, 57) features for many files, spread over the cores; cached per file."""
    from joblib import Parallel, delayed
    from rich.progress import Progress

    cache = cache or FeatureCache.default()
    todo = [i for i, p in enumerate(paths) if cache.get(cache.key(Path(p), duration)) is None]
    if todo:
        warm_up_numba()
        with Progress(transient=True) as bar:
            task = bar.add_task(f"features for {len(todo)} file(s)", total=len(todo))
            for _ in Parallel(n_jobs=n_jobs, return_as="generator")(
                delayed(file_features)(paths[i], cache, duration) for i in todo
            ):
                bar.advance(task)
    return np.stack([file_features(p, cache, duration) for p in paths])
